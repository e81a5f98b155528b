"""The scheduled-invocation table of each store (SQLite, and PostgreSQL on a server the
tests start), no wasm: a key is stored once, due rows are found by time, and the state
moves only from the states a step allows (claim, cancel, finish)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from host.ids import AgentId
from host.store import Store, open_store
from host.store.schedules import CANCELLED, ENQUEUED, FIRING, WAITING, ScheduledCall


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def test_schedules_are_stored_once_found_when_due_and_moved_atomically(store: Store) -> None:
    callee = AgentId(uuid.uuid4(), 'Counter("c")')
    caller = AgentId(uuid.uuid4(), 'Caller("a")')
    first = ScheduledCall("k1", callee, "add", ("1",), 2_000, caller)
    assert store.add_schedule(first)
    assert not store.add_schedule(ScheduledCall("k1", callee, "add", ("9",), 1, None))
    assert store.get_schedule("k1") == first  # the first one is kept
    store.add_schedule(ScheduledCall("k2", callee, "add", ("2",), 1_000, None))

    assert [s.key for s in store.due_schedules(999)] == []
    assert [s.key for s in store.due_schedules(1_500)] == ["k2"]
    assert [s.key for s in store.due_schedules(2_000)] == ["k2", "k1"]
    assert [s.key for s in store.list_schedules(caller)] == ["k1"]

    assert store.move_schedule("k2", (WAITING,), FIRING)  # claimed
    assert not store.move_schedule("k2", (WAITING,), CANCELLED)  # too late to cancel
    assert [s.state for s in store.due_schedules(1_500)] == [FIRING]  # a crash: fired again
    assert store.move_schedule("k2", (FIRING,), ENQUEUED)
    assert store.due_schedules(1_500) == []

    assert store.move_schedule("k1", (WAITING,), CANCELLED)
    assert not store.move_schedule("k1", (WAITING,), FIRING)
    assert store.due_schedules(10_000) == []
    assert store.get_schedule("missing") is None


def test_a_schedule_keeps_the_schedulers_trace_context(store: Store) -> None:
    callee = AgentId(uuid.uuid4(), 'Counter("c")')
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    traced = ScheduledCall("t1", callee, "add", ("1",), 5, None, WAITING, header, "a=1,b=2")
    assert store.add_schedule(traced)
    store.add_schedule(ScheduledCall("t2", callee, "add", ("1",), 5, None))
    assert store.get_schedule("t1") == traced
    assert [(s.traceparent, s.tracestate) for s in store.due_schedules(5)] == [
        (header, "a=1,b=2"),
        (None, None),
    ]
