"""A resume looks at its completed promise through one store read (issue 13: fewer reads
per resume), and what it is told is still the store's truth: a deletion, the agent's own
or an operator's between invocations, is seen.

The guest (promises-1.3.0) looks at a promise several times per await: get-promise,
subscribe's pollable, block, get. The session keeps the last completed record it read
for the rest of the invocation (a completion is final)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from host.ids import AgentId, PromiseId
from host.service import HostService
from tests.fixtures.build import build_fixture


def _agent(host: HostService, name: str) -> AgentId:
    record = host.add_component(build_fixture("promises-1.3.0"))
    agent, created = host.create_agent(record.id, name)
    assert created
    return agent


def _count_reads(host: HostService, monkeypatch: pytest.MonkeyPatch) -> list[PromiseId]:
    """The promises the real store's get_promise is asked for, in order, from now on."""
    asked: list[PromiseId] = []
    original: Callable[[PromiseId], Any] = host.store.get_promise

    def get_promise(promise: PromiseId) -> Any:
        asked.append(promise)
        return original(promise)

    monkeypatch.setattr(host.store, "get_promise", get_promise)
    return asked


def test_a_resume_reads_its_completed_promise_once(
    host: HostService, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = _agent(host, "resume-reads")
    inv = host.invoke(agent, "create-and-await")
    assert inv.state == "started"
    (idx,) = host.store.get_agent(agent).waiting_promises
    host.executor.forget_instance(agent)  # the resume replays, as a suspended agent's does
    asked = _count_reads(host, monkeypatch)
    assert host.complete_promise(PromiseId(agent, idx), b"\x01\x02\x03")
    done = host.store.get_invocation(inv.invocation_id)
    assert done.state == "done" and done.result == "[1, 2, 3]"
    # The completion's own check, then the resumed guest's first live look: the rest of
    # its looks (subscribe, block, get) are answered from that record. Before: 5.
    assert asked == [PromiseId(agent, idx)] * 2


def test_a_promise_deleted_between_invocations_is_not_found_by_the_next(host: HostService) -> None:
    agent = _agent(host, "own-delete")
    idx = int(host.invoke(agent, "create()").result or "")
    assert host.complete_promise(PromiseId(agent, idx), b"\x07")
    assert host.invoke(agent, f"poll({idx})").result == "some([7])"
    host.store.delete_promise(PromiseId(agent, idx))  # an operator, between invocations
    inv = host.invoke(agent, f"poll({idx})")  # the same instance, kept between them
    assert inv.state == "failed"
    assert str(idx) in str(inv.error) and "promise" in str(inv.error).lower()
