"""Golem 1.4's agent guest protocol (unversioned ``golem:agent/guest``, no principal),
service level, with a real componentize-py agent component (tests/fixtures/py/agent14,
importing golem:api/host@1.3.0): discovery, initialize/invoke, 1.4 and 1.5 agent ids,
agent errors, promises and replay in a new process, ephemeral agents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from host.errors import InvalidInput
from host.service import HostService
from host.store.base import DONE
from tests.fixtures.build import build_python_fixture


@pytest.fixture(scope="module")
def wasm() -> Path:
    return build_python_fixture("agent14")


@pytest.fixture
def host(tmp_path: Path, wasm: Path) -> Iterator[HostService]:
    service = HostService(tmp_path)
    service.add_component(wasm, name="counter14")
    yield service
    service.close()


def result(host: HostService, agent: Any, call: str) -> Any:
    inv = host.submit(host.agent_call_from_wave(agent, call))
    return host.agent_result(host.store.get_invocation(inv.invocation_id))


def test_discovered_1_4_types_have_no_1_5_fields(host: HostService) -> None:
    types = {t.type_name: t for t in host.agent_types("counter14")}
    assert set(types) == {"CounterAgent", "ScratchAgent"}
    counter = types["CounterAgent"]
    assert counter.http_mount is None and counter.source_language == "" and not counter.config
    names = [m.name for m in counter.methods]
    assert names == ["increment", "wait_for", "fail", "whoami", "call_add"]
    assert all(m.http_endpoints == () for m in counter.methods)
    assert types["ScratchAgent"].mode == "ephemeral"


def test_initialize_without_principal_then_invoke(host: HostService) -> None:
    agent = host.agent_id("counter14", 'CounterAgent("c1")')
    assert result(host, agent, "increment(5)").json == 5
    invocations = host.store.list_invocations(agent)
    assert invocations[0].function == "golem:agent/guest.{initialize}"
    # two parameters: agent type and data-value, no principal
    (type_name, data_value) = invocations[0].params
    assert type_name == '"CounterAgent"' and data_value.startswith("tuple(")
    assert invocations[1].function == "golem:agent/guest.{invoke}"
    assert all(i.state == DONE for i in host.store.list_invocations(agent))
    who = result(host, agent, "whoami()").json
    assert who == 'c1 CounterAgent("c1") CounterAgent'


def test_kebab_case_1_4_id_names_the_same_agent(host: HostService) -> None:
    kebab = host.agent_id("counter14", 'counter-agent("k")')
    pascal = host.agent_id("counter14", 'CounterAgent( "k" )')
    assert kebab == pascal and kebab.name == 'CounterAgent("k")'
    assert result(host, kebab, "increment(2)").json == 2
    assert result(host, pascal, "increment(3)").json == 5
    phantom = host.agent_id("counter14", 'counter-agent("k")[9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d]')
    assert phantom.name == 'CounterAgent("k")[9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d]'
    assert result(host, phantom, "increment(1)").json == 1
    with pytest.raises(InvalidInput, match="no agent type"):
        host.agent_id("counter14", 'counter("k")')


def test_agent_error_fails_the_call_only(host: HostService) -> None:
    agent = host.agent_id("counter14", 'counter-agent("e")')
    failed = result(host, agent, 'fail("boom")')
    assert failed.error == "boom" and not failed.caller_error
    assert result(host, agent, "increment(1)").json == 1
    assert host.agent(agent).record.status == "idle"


def test_promise_suspends_and_replay_resumes(tmp_path: Path, host: HostService) -> None:
    agent = host.agent_id("counter14", 'counter-agent("p")')
    assert result(host, agent, "increment(4)").json == 4
    inv = host.submit(host.agent_call_from_wave(agent, "wait_for()"))
    assert host.agent(agent).record.status == "suspended"
    (promise,) = host.list_promises(agent)
    assert promise.id.agent == agent
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
    agent = host.agent_id("counter14", "scratch-agent()")
    first = host.submit(host.agent_call_from_wave(agent, "bump()"))
    second = host.submit(host.agent_call_from_wave(agent, "bump()"))
    assert first.agent != second.agent  # each call in a fresh agent with a phantom id
    for inv in (first, second):
        done = host.agent_result(host.store.get_invocation(inv.invocation_id))
        assert done is not None and done.json == 1
