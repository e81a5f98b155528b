"""Fork of the running agent (golem:api/host ``fork``, 1.1.7 and 1.3.0/1.5.0 shapes) and
fork-agent / update / revert through the service layer (issue 11, item 6).

Real components (the conformance guest ``fork``, WAT), a real SQLite store.
"""

from __future__ import annotations

import uuid

import pytest

from host import oplog
from host.ids import AgentId
from host.service import HostService
from tests.fixtures.build import build_fixture


def _agent(host: HostService, generation: str, name: str = "src") -> AgentId:
    host.add_component(build_fixture(f"fork-{generation}"), "forker")
    agent, _ = host.create_agent("forker", name)
    return agent


def _result(host: HostService, agent: AgentId, call: str) -> str | None:
    inv = host.invoke(agent, call)
    assert inv.state == "done", (inv.state, inv.error)
    return inv.result


def _created(host: HostService, agent: AgentId) -> oplog.AgentCreated:
    entry = host.store.read_oplog(agent, 1, 1)[0]
    assert isinstance(entry, oplog.AgentCreated)
    return entry


def _check_copy(host: HostService, source: AgentId, copy: AgentId) -> None:
    # The copy ran its branch to the end on its own: finished, idle, its own counter.
    assert host.agent(copy).status == "idle"
    assert _result(host, copy, "add(0)") == "1007"  # 7 before the fork, + 1000
    assert _result(host, source, "add(0)") == "107"  # 7 before the fork, + 100
    # Later calls are independent.
    assert _result(host, copy, "add(1)") == "1008"
    assert _result(host, source, "add(0)") == "107"
    # The copy's environment names the copy, not the source.
    env = dict(_created(host, copy).env)
    assert env["GOLEM_AGENT_ID"] == copy.name and env["GOLEM_WORKER_NAME"] == copy.name
    assert dict(_created(host, source).env)["GOLEM_AGENT_ID"] == source.name
    # The fork call's entry is at the same index in both logs, with its own answer.
    src_log, copy_log = host.store.read_oplog(source), host.store.read_oplog(copy)
    (at,) = [i for i, e in enumerate(src_log) if isinstance(e, oplog.HostCall)]
    src_call, copy_call = src_log[at], copy_log[at]
    assert isinstance(src_call, oplog.HostCall) and isinstance(copy_call, oplog.HostCall)
    assert src_call.function == copy_call.function
    assert src_call.response != copy_call.response
    # Before the cut the logs agree, but for the creation entry and the re-identified
    # open invocation (the copy finishes it for no caller).
    started_src, started_copy = src_log[at - 1], copy_log[at - 1]
    assert isinstance(started_src, oplog.InvocationStarted)
    assert isinstance(started_copy, oplog.InvocationStarted)
    assert started_src.function == started_copy.function == "fork-self"
    assert started_src.invocation_id != started_copy.invocation_id
    # The source's invocation record holds the source's result, not the copy's.
    (inv,) = [i for i in host.store.list_invocations(source) if i.function == "fork-self"]
    assert inv.result == '"original"'


def test_fork_self_1_1_7(host: HostService) -> None:
    source = _agent(host, "1.1.7")
    assert _result(host, source, "add(7)") == "7"
    assert _result(host, source, 'fork-self("copy")') == '"original"'
    copy = AgentId(source.component_id, "copy")
    _check_copy(host, source, copy)
    # The copy finished the forked invocation with the forked branch's result.
    (inv,) = [i for i in host.store.list_invocations(copy) if i.function == "fork-self"]
    assert inv.result == '"forked"' and inv.state == "done"


@pytest.mark.parametrize("generation", ["1.3.0", "1.5.0"])
def test_fork_self_phantom(host: HostService, generation: str) -> None:
    source = _agent(host, generation)
    assert _result(host, source, "add(7)") == "7"
    assert _result(host, source, "fork-self()") == '"original"'
    names = [a.agent.name for a in host.list_agents("forker")]
    (name,) = [n for n in names if n != "src"]
    assert name.startswith("src-")
    phantom = uuid.UUID(name.removeprefix("src-"))
    # Both branches were told the same forked-phantom-id.
    assert _result(host, source, "phantom-high()") == str(phantom.int >> 64)
    copy = AgentId(source.component_id, name)
    assert _result(host, copy, "phantom-high()") == str(phantom.int >> 64)
    _check_copy(host, source, copy)


def test_fork_self_replays_original(host: HostService) -> None:
    """A fresh replay of the source answers `original` from its log (no second copy)."""
    source = _agent(host, "1.1.7")
    _result(host, source, "add(7)")
    _result(host, source, 'fork-self("copy")')
    host.executor.forget_instance(source)
    assert _result(host, source, "add(0)") == "107"
    assert len(host.list_agents("forker")) == 2


def test_fork_self_to_a_taken_name_fails_the_invocation(host: HostService) -> None:
    source = _agent(host, "1.1.7")
    host.create_agent("forker", "taken")
    inv = host.invoke(source, 'fork-self("taken")')
    assert inv.state == "failed"
    assert "taken" in (inv.error or "") and "exists" in (inv.error or "")
