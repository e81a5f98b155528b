"""revert, fork-agent and fork called inside a persist-nothing region (issue 11, rule 5).

Golem's revert-worker/-agent, fork-worker/-agent and fork are durable remote writes: in a
PersistNothing block nothing of them is recorded, and a replay that reaches one again
fails the invocation ("Trying to replay an durable invocation in a PersistNothing
block") instead of reverting or copying a second time. Each generation that declares
them (golem:api/host 1.1.6 ``*-worker``, 1.1.7 .. 1.5.0 ``*-agent``; ``fork(new-name)``
at 1.1.6/1.1.7, ``fork()`` at 1.3.0/1.5.0), through the conformance guest
``management`` (tests/fixtures/management_guests.py), a real SQLite store.
"""

from __future__ import annotations

import pytest

from host import oplog
from host.ids import AgentId
from host.runtime import golem_workers
from host.service import HostService
from tests.fixtures.build import build_fixture

GENERATIONS = ["1.1.6", "1.1.7", "1.3.0", "1.5.0"]


def _result(host: HostService, agent: AgentId, call: str) -> str | None:
    inv = host.invoke(agent, call)
    assert inv.state == "done", (inv.state, inv.error)
    return inv.result


def _agents(host: HostService, generation: str, *names: str) -> list[AgentId]:
    host.add_component(build_fixture(f"management-{generation}"), "m")
    return [host.create_agent("m", name)[0] for name in names]


def _calls(host: HostService, agent: AgentId) -> list[str]:
    calls = [e.function for e in host.store.read_oplog(agent) if isinstance(e, oplog.HostCall)]
    return [c.rsplit(".", 1)[-1] for c in calls]  # without the interface


def _replay_fails(host: HostService, agent: AgentId) -> None:
    """A fresh instance replays the agent's whole log: the unrecorded call is reached
    again and the agent fails with Golem's message; the new call waits."""
    host.executor.forget_instance(agent)
    again = host.invoke(agent, "add(1)")
    view = host.agent(agent)
    assert view.status == "failed" and again.state == "queued", (view.status, again.state)
    assert golem_workers.PERSIST_NOTHING_REPLAY in (view.record.last_error or "")


@pytest.mark.parametrize("generation", GENERATIONS)
def test_revert_under_persist_nothing_fails_on_replay(host: HostService, generation: str) -> None:
    caller, target = _agents(host, generation, "caller", "target")
    assert _result(host, target, "add(5)") == "5"
    assert _result(host, target, "add(2)") == "7"
    _result(host, caller, 'revert-last-unpersisted("target", 1)')
    assert _calls(host, caller) == ["get-self-metadata"]  # not the revert
    assert _result(host, target, "add(10)") == "15"  # add(2) was reverted
    _replay_fails(host, caller)
    # Not reverted a second time (that would drop add(10)).
    jumps = [e for e in host.store.read_oplog(target) if isinstance(e, oplog.Jump)]
    assert len(jumps) == 1
    assert _result(host, target, "add(0)") == "15"


@pytest.mark.parametrize("generation", GENERATIONS)
def test_fork_agent_under_persist_nothing_fails_on_replay(
    host: HostService, generation: str
) -> None:
    caller, alpha = _agents(host, generation, "caller", "alpha")
    assert _result(host, alpha, "add(5)") == "5"
    cut = host.store.oplog_length(alpha)
    _result(host, caller, f'fork-to-unpersisted("alpha", "alpha-copy", {cut})')
    assert _calls(host, caller) == ["get-self-metadata"]  # not the fork
    copy = AgentId(alpha.component_id, "alpha-copy")
    assert _result(host, copy, "add(1)") == "6"
    _replay_fails(host, caller)
    assert sorted(a.agent.name for a in host.list_agents("m")) == [
        "alpha",
        "alpha-copy",
        "caller",
    ]
    assert _result(host, copy, "add(0)") == "6"  # the copy is not made again


@pytest.mark.parametrize("generation", GENERATIONS)
def test_fork_self_under_persist_nothing_fails_the_sources_replay(
    host: HostService, generation: str
) -> None:
    """The source's replay reaches its unrecorded fork and fails; the copy starts from
    the entry the fork wrote for it (answering `forked`), on every replay."""
    (source,) = _agents(host, generation, "src")
    assert _result(host, source, "add(7)") == "7"
    phantom = generation in ("1.3.0", "1.5.0")
    call = "fork-self-unpersisted()" if phantom else 'fork-as-unpersisted("copy")'
    assert _result(host, source, call) == '"original"'
    (copy,) = [a.agent for a in host.list_agents("m") if a.agent != source]
    assert _calls(host, source) == []
    assert _result(host, copy, "add(0)") == "1007"  # the forked branch
    host.executor.forget_instance(copy)
    assert _result(host, copy, "add(0)") == "1007"  # replayed: `forked` again
    _replay_fails(host, source)
    assert len(host.list_agents("m")) == 2
