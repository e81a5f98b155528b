"""Golem's agent guest protocol, service level, with a real componentize-py agent component
(conformance/guests/agent15/1.5.0, built by build_python_fixture("agent15")): discovery,
initialize/invoke, agent ids, agent errors, promises and replay, ephemeral agents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from host.agents.model import (
    AgentConstructor,
    AgentType,
    ComponentModel,
    DataSchema,
    HttpMount,
    PathSegment,
    mount_problems,
    render_path,
)
from host.errors import InvalidInput
from host.service import HostService
from host.store.base import DONE
from host.values import STRING
from tests.fixtures.build import build_python_fixture


@pytest.fixture(scope="module")
def wasm() -> Path:
    return build_python_fixture("agent15")


@pytest.fixture
def host(tmp_path: Path, wasm: Path) -> Iterator[HostService]:
    service = HostService(tmp_path)
    service.add_component(wasm, name="counter")
    yield service
    service.close()


def result(host: HostService, agent: Any, call: str) -> Any:
    inv = host.submit(host.agent_call_from_wave(agent, call))
    return host.agent_result(host.store.get_invocation(inv.invocation_id))


def test_discovered_types_are_stored(host: HostService) -> None:
    types = {t.type_name: t for t in host.agent_types("counter")}
    assert set(types) == {"CounterAgent", "ScratchAgent"}
    mount = types["CounterAgent"].http_mount
    assert mount is not None
    assert render_path(mount.path_prefix) == "/counters/{name}"
    assert types["ScratchAgent"].mode == "ephemeral"


def test_initialize_then_invoke(host: HostService) -> None:
    agent = host.agent_id("counter", 'CounterAgent( "c1" )')
    assert agent.name == 'CounterAgent("c1")'
    assert result(host, agent, "increment(5)").json == 5
    assert result(host, agent, "increment(2)").wave == "7"
    who = result(host, agent, "whoami()").json
    assert who == 'c1 CounterAgent("c1") CounterAgent'
    functions = [i.function for i in host.store.list_invocations(agent)]
    assert functions[0] == "golem:agent/guest@1.5.0.{initialize}"
    assert all(i.state == DONE for i in host.store.list_invocations(agent))


def test_agent_error_is_the_calls_not_the_agents(host: HostService) -> None:
    agent = host.agent_id("counter", 'CounterAgent("e")')
    failed = result(host, agent, 'fail("boom")')
    assert failed.error == "boom" and not failed.caller_error
    assert result(host, agent, "increment(1)").json == 1
    assert host.agent(agent).record.status == "idle"


def test_bad_ids_and_calls_are_refused(host: HostService) -> None:
    with pytest.raises(InvalidInput, match="no agent type"):
        host.agent_id("counter", 'Nope("x")')
    with pytest.raises(InvalidInput, match="expected TYPE"):
        host.agent_id("counter", "CounterAgent")
    agent = host.agent_id("counter", 'CounterAgent("b")')
    with pytest.raises(InvalidInput, match="no method 'nope'"):
        host.agent_call_from_wave(agent, "nope()")
    with pytest.raises(InvalidInput):
        host.agent_call_from_wave(agent, 'increment("x")')
    with pytest.raises(InvalidInput):
        host.agent_call_from_json(agent, "increment", {"wrong": 1})
    assert host.agent_call_from_json(agent, "increment", {"by": 3}).params


def test_promise_suspends_and_replay_resumes(tmp_path: Path, host: HostService, wasm: Path) -> None:
    agent = host.agent_id("counter", 'CounterAgent("p")')
    assert result(host, agent, "increment(4)").json == 4
    inv = host.submit(host.agent_call_from_wave(agent, "wait_for()"))
    assert host.agent(agent).record.status == "suspended"
    (promise,) = host.list_promises(agent)
    host.close()
    again = HostService(tmp_path)  # a new process: the agent resumes by replay
    again.complete(promise.id, b"approved")
    done = again.agent_result(again.store.get_invocation(inv.invocation_id))
    assert done is not None and done.json == "approved"
    later = again.submit(again.agent_call_from_wave(agent, "increment(1)"))
    last = again.agent_result(again.store.get_invocation(later.invocation_id))
    assert last is not None and last.json == 5
    again.close()


def test_ephemeral_keeps_nothing(host: HostService) -> None:
    agent = host.agent_id("counter", "ScratchAgent()")
    first = host.submit(host.agent_call_from_wave(agent, "bump()"))
    second = host.submit(host.agent_call_from_wave(agent, "bump()"))
    # Each call ran in a fresh agent of its own: the id given plus a new phantom id.
    assert first.agent != second.agent
    for inv in (first, second):
        assert inv.agent.name.startswith("ScratchAgent()[")
        assert host.agent_result(host.store.get_invocation(inv.invocation_id)).json == 1  # type: ignore[union-attr]
    # Neither run was deleted under the other: both results stay readable.
    assert host.store.get_agent(first.agent).status == "idle"


def test_ephemeral_agent_cannot_be_updated(host: HostService, wasm: Path) -> None:
    """Golem's 400 "Ephemeral workers cannot be updated"; nothing is recorded. (The update
    goes to another version: one to the agent's own is refused before, as Golem's
    executor checks that first.)"""
    agent = host.agent_id("counter", "ScratchAgent()")
    ran = host.submit(host.agent_call_from_wave(agent, "bump()"))
    length = host.store.oplog_length(ran.agent)
    # The same code with a custom section appended: other bytes, so version 1.
    assert host.add_component_bytes(wasm.read_bytes() + b"\x00\x02\x01v", "counter").version == 1
    with pytest.raises(InvalidInput, match="Ephemeral workers cannot be updated"):
        host.update_agent(ran.agent)
    assert host.store.oplog_length(ran.agent) == length
    assert host.update_records(ran.agent) == []


def test_ephemeral_idempotency_key_finds_its_run(host: HostService) -> None:
    agent = host.agent_id("counter", "ScratchAgent()")
    once = host.submit(host.agent_call_from_wave(agent, "bump()"), "k1")
    again = host.submit(host.agent_call_from_wave(agent, "bump()"), "k1")
    assert (again.agent, again.invocation_id) == (once.agent, once.invocation_id)
    other = host.submit(host.agent_call_from_wave(agent, "bump()"), "k2")
    assert other.agent != once.agent


def test_ephemeral_agents_are_collected(host: HostService) -> None:
    durable = host.agent_id("counter", 'CounterAgent("kept")')
    result(host, durable, "increment(1)")
    agent = host.agent_id("counter", "ScratchAgent()")
    old = host.submit(host.agent_call_from_wave(agent, "bump()"))
    assert host.collect_ephemeral() == []  # still within the retention
    host.ephemeral_retention_s = 0.0
    new = host.submit(host.agent_call_from_wave(agent, "bump()"))  # collects first
    names = {a.record.agent for a in host.list_agents("counter")}
    assert old.agent not in names and new.agent in names and durable in names
    assert host.collect_ephemeral() == [new.agent]
    assert {a.record.agent for a in host.list_agents("counter")} == {durable}


def test_mount_problems_say_what_to_write() -> None:
    t = AgentType(
        type_name="WorkflowAgent",
        description="",
        source_language="python",
        constructor=AgentConstructor(
            None, "", None, DataSchema("tuple", (("name", ComponentModel(STRING)),))
        ),
        methods=(),
        http_mount=HttpMount((PathSegment("literal", "workflows"),)),
    )
    (problem,) = mount_problems(t)
    assert "/workflows/{name}" in problem


def test_fork_of_an_agent_component_agent(host: HostService) -> None:
    """A fork of an agent of an agent component is initialized already (its copied oplog
    says so: no second initialize is queued) and sees its own agent id."""
    agent = host.agent_id("counter", 'CounterAgent("f")')
    assert result(host, agent, "increment(5)").json == 5
    name = 'CounterAgent("f")[6f1c9a1e-0a52-4e8f-9d59-3f0c2b7e7a11]'
    copy = host.fork_agent(agent, name, host.store.oplog_length(agent))
    assert result(host, copy, "increment(1)").json == 6
    assert result(host, agent, "increment(0)").json == 5
    assert result(host, copy, "whoami()").json == f"f {name} CounterAgent"
    initializes = [i for i in host.store.list_invocations(copy) if "initialize" in i.function]
    assert initializes == []
