"""Scheduled invocations (wasm-rpc schedule-invocation / schedule-cancelable-invocation,
cancellation-token.cancel) with the real componentize-py guest tests/fixtures/py/rpc_pair
(CallerAgent schedules CounterAgent.add through agent_sdk's client) on real SQLite stores.

Covered: the schedule is stored and recorded in the caller's oplog; it survives closing
the host and opening a new one on the same store; the caller's replay in the new process
schedules nothing twice; the callee runs once the time has passed (``run_due``, the path
``agent-host worker`` takes) and not before; cancel before the time removes it, after it
is a no-op; a schedule for an unknown method fails the caller's call with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.clock import steady_ns
from host.oplog import HostCall
from host.service import HostService
from host.store import InvocationRecord
from tests.fixtures.build import build_python_fixture
from tests.server_util import wait_until

pytestmark = pytest.mark.slow  # builds (first time) and compiles an 18 MB guest

SCHEDULE = "golem:agent/host@1.5.0.[method]wasm-rpc.schedule-invocation"
CANCEL = "golem:agent/host@1.5.0.[method]cancellation-token.cancel"
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def wasm() -> Path:
    return build_python_fixture("rpc_pair")


def now_ms() -> int:
    # The host's own timer clock (host/clock.py): a wall clock that a machine's suspend or
    # a clock step does not move under a running process, unlike time.time_ns().
    return steady_ns() // 1_000_000


def call(host: HostService, name: str, text: str) -> InvocationRecord:
    return host.submit(host.agent_call_from_wave(host.agent_id("pair", name), text))


def result(host: HostService, name: str, text: str) -> object:
    inv = call(host, name, text)
    assert inv.state == "done", f"{text}: {inv.state} {inv.error}"
    outcome = host.agent_result(inv)
    assert outcome is not None and outcome.error is None, outcome
    return outcome.json


def counter_exists(host: HostService, target: str) -> bool:
    return any(r.agent.name == f'CounterAgent("{target}")' for r in host.store.list_agents())


def test_a_schedule_survives_a_restart_and_fires_once_when_due(tmp_path: Path, wasm: Path) -> None:
    store = tmp_path / "store"
    first = HostService(store)
    try:
        first.add_component(wasm, "pair")
        soon = now_ms() + 1500
        assert result(first, 'CallerAgent("s")', f'schedule_add("s1", 5, {soon})') == "scheduled"
        later = now_ms() + HOUR_MS
        assert result(first, 'CallerAgent("s")', f'schedule_add("s1", 100, {later})') == "scheduled"
        caller = first.agent_id("pair", 'CallerAgent("s")')
        rows = first.store.list_schedules(caller)
        assert [r.state for r in rows] == ["waiting", "waiting"]
        # (the guest passes seconds as a float: within a millisecond)
        assert all(abs(r.due_at_ns / 1e6 - t) < 1 for r, t in zip(rows, (soon, later), strict=True))
        assert all(r.callee.name == 'CounterAgent("s1")' for r in rows)
        recorded = [e for e in first.store.read_oplog(caller) if isinstance(e, HostCall)]
        keys = [e.response["key"] for e in recorded if e.function == SCHEDULE]
        assert keys == [r.key for r in rows]
        assert not counter_exists(first, "s1")  # nothing runs the callee before the time
    finally:
        first.close()

    second = HostService(store)  # a new process: the caller replays its oplog
    try:
        assert result(second, 'CallerAgent("s")', "cancel_scheduled") == 0
        assert len(second.store.list_schedules(caller)) == 2  # replay stored nothing more
        wait_until(lambda: now_ms() > soon + 10, timeout=10, what="the scheduled time")
        second.run_due()
        assert result(second, 'CounterAgent("s1")', "get") == 5
        assert result(second, 'CounterAgent("s1")', "calls_made") == 1
        assert [r.state for r in second.store.list_schedules(caller)] == ["enqueued", "waiting"]
        second.run_due()  # fired once: its key is its invocation's idempotency key
        assert result(second, 'CounterAgent("s1")', "calls_made") == 1
        counter = second.agent_id("pair", 'CounterAgent("s1")')
        keys = [i.idempotency_key for i in second.store.list_invocations(counter)]
        assert rows[0].key in keys and rows[1].key not in keys
    finally:
        second.close()


def test_cancel_before_the_time_removes_it_and_after_it_does_nothing(
    tmp_path: Path, wasm: Path
) -> None:
    host = HostService(tmp_path / "store")
    try:
        host.add_component(wasm, "pair")
        later = now_ms() + HOUR_MS
        assert result(host, 'CallerAgent("c")', f'schedule_cancelable_add("c1", 7, {later})') == (
            "scheduled 1"
        )
        assert result(host, 'CallerAgent("c")', "cancel_scheduled") == 1
        caller = host.agent_id("pair", 'CallerAgent("c")')
        (row,) = host.store.list_schedules(caller)
        assert row.state == "cancelled"
        # Even at its time, a cancelled call is not queued.
        assert host.fire_due_schedules(row.due_at_ns + 1) == []
        assert not counter_exists(host, "c1")

        past = now_ms() - 1000  # due at once: the next run_due queues it
        assert result(host, 'CallerAgent("c")', f'schedule_cancelable_add("c2", 3, {past})') == (
            "scheduled 1"
        )
        host.run_due()
        assert result(host, 'CounterAgent("c2")', "get") == 3
        assert result(host, 'CallerAgent("c")', "cancel_scheduled") == 1  # too late: no-op
        assert result(host, 'CounterAgent("c2")', "calls_made") == 1
        states = [r.state for r in host.store.list_schedules(caller)]
        assert states == ["cancelled", "enqueued"]
        cancels = [
            e.response
            for e in host.store.read_oplog(caller)
            if isinstance(e, HostCall) and e.function == CANCEL
        ]
        assert cancels == [{"cancelled": True}, {"cancelled": False}]
    finally:
        host.close()


def test_a_schedule_the_callee_cannot_take_fails_the_call(tmp_path: Path, wasm: Path) -> None:
    host = HostService(tmp_path / "store")
    try:
        host.add_component(wasm, "pair")
        inv = call(host, 'CallerAgent("e")', f'schedule_raw("NoSuchAgent", {now_ms()})')
        assert inv.state == "failed"
        assert "not-found" in (inv.error or "") and "NoSuchAgent" in (inv.error or "")
        assert host.store.list_schedules() == []
    finally:
        host.close()


API14 = "agent-host:rpc14/api"


def test_golem_1_4_schedule_invocation(tmp_path: Path) -> None:
    """golem:rpc/types@0.2.2: the same, by export name with wit-value parameters."""
    store = tmp_path / "store"
    first = HostService(store)
    try:
        cid = first.add_component(build_python_fixture("rpc14"), "r14").id

        def invoke(host: HostService, who: str, call: str) -> str | None:
            inv = host.invoke(host.agent_id(cid, who), f"{API14}.{call}")
            assert inv.state == "done", inv.error
            return inv.result

        past = now_ms() - 1
        invoke(first, "a", f'{{schedule-add}}("{cid}", "b", 5, {past})')
        invoke(first, "a", f'{{schedule-add-cancelled}}("{cid}", "b", 7, {past})')
        invoke(first, "a", f'{{schedule-add}}("{cid}", "b", 100, {now_ms() + HOUR_MS})')
        states = [s.state for s in first.store.list_schedules()]
        assert states == ["waiting", "cancelled", "waiting"]
        assert all(s.function == f"{API14}.{{add}}" for s in first.store.list_schedules())
    finally:
        first.close()
    second = HostService(store)
    try:
        invoke(second, "a", "{calls}()")  # agent a replays: schedules nothing again
        assert len(second.store.list_schedules()) == 3
        second.run_due()
        assert invoke(second, "b", "{calls}()") == "1"
        assert invoke(second, "b", "{add}(0)") == "5"
    finally:
        second.close()


def test_a_scheduled_call_carries_the_schedulers_trace_context(tmp_path: Path, wasm: Path) -> None:
    # As Golem's scheduled invocation carries the scheduling invocation's context: the
    # callee's invocation is in the caller's trace (and keeps its tracestate), its parent
    # the caller's current span; a caller without a request trace passes its own.
    import hashlib

    from host.tracecontext import trace_context

    host = HostService(tmp_path / "store")
    try:
        host.add_component(wasm, "pair")
        caller = host.agent_id("pair", 'CallerAgent("traced")')
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        ctx = trace_context(f"00-{trace}-00f067aa0ba902b7-01", "vendor=x")
        past = now_ms() - 1
        traced = host.submit(
            host.agent_call_from_wave(caller, f'schedule_add("tr1", 2, {past})'), None, ctx
        )
        assert traced.state == "done", traced.error
        untraced = call(host, 'CallerAgent("traced")', f'schedule_add("tr2", 3, {past})')
        assert untraced.state == "done", untraced.error
        host.run_due()
        for target, by, trace_id, state in [
            ("tr1", traced, trace, "vendor=x"),
            ("tr2", untraced, untraced.invocation_id.replace("-", ""), None),
        ]:
            counter = host.agent_id("pair", f'CounterAgent("{target}")')
            invocations = host.store.list_invocations(counter)
            (add,) = [i for i in invocations if (i.idempotency_key or "").startswith("rpc-at:")]
            root = hashlib.sha256(f"span:{by.invocation_id}".encode()).hexdigest()[:16]
            assert add.traceparent == f"00-{trace_id}-{root}-00", add
            assert add.tracestate == state
        assert result(host, 'CounterAgent("tr1")', "get") == 2
    finally:
        host.close()


def test_a_call_whose_scheduling_entry_never_committed_keeps_its_trace(
    tmp_path: Path, wasm: Path
) -> None:
    # An attempt that crashed after storing the call and before committing the entry that
    # records it leaves a schedule row whose key names no entry: the row itself holds the
    # scheduler's trace context, so the queued invocation is still in the caller's trace.
    import dataclasses

    from host.tracecontext import trace_context

    host = HostService(tmp_path / "store")
    try:
        host.add_component(wasm, "pair")
        caller = host.agent_id("pair", 'CallerAgent("lost")')
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        ctx = trace_context(f"00-{trace}-00f067aa0ba902b7-01", "vendor=y")
        later = now_ms() + 3_600_000
        done = host.submit(
            host.agent_call_from_wave(caller, f'schedule_add("tl", 5, {later})'), None, ctx
        )
        assert done.state == "done", done.error
        (stored,) = host.store.list_schedules(caller)
        assert stored.traceparent is not None and stored.traceparent.split("-")[1] == trace
        assert stored.tracestate == "vendor=y"
        # The same call under the key of an index the caller's oplog never reached, due now.
        length = len(host.store.read_oplog(caller))
        orphan = stored.key.replace(f":{stored.key.split(':')[2]}:", f":{length + 50}:", 1)
        assert orphan != stored.key
        host.cancel_scheduled(stored.key)
        host.store.add_schedule(
            dataclasses.replace(stored, key=orphan, due_at_ns=now_ms() * 1_000_000 - 1)
        )
        host.run_due()
        counter = host.agent_id("pair", 'CounterAgent("tl")')
        (add,) = [i for i in host.store.list_invocations(counter) if i.idempotency_key == orphan]
        assert (add.traceparent, add.tracestate) == (stored.traceparent, "vendor=y")
        assert result(host, 'CounterAgent("tl")', "get") == 5
    finally:
        host.close()
