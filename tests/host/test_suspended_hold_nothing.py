"""A suspended agent holds nothing in the host process (issue 13): after agents ran and
suspended on a promise, the executor keeps no run lock and no instance of them, and they
still resume with the completed value."""

from __future__ import annotations

from pathlib import Path

from host.ids import PromiseId
from host.service import HostService
from tests.fixtures.build import build_fixture


def test_suspended_agents_keep_no_lock_or_instance(tmp_path: Path) -> None:
    host = HostService(tmp_path)
    try:
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        agents = []
        for i in range(20):
            agent, _ = host.create_agent("p", f"s{i}")
            inv = host.invoke(agent, "create-and-await()")
            assert inv.state == "started"
            agents.append((agent, inv.invocation_id))
        assert len(host.store.list_agents(status="suspended")) == 20
        assert len(host.executor._agent_locks) == 0
        assert not any(host.executor.is_running_here(agent) for agent, _ in agents)
        assert not host.executor._live  # suspension drops the instance

        agent, invocation_id = agents[7]
        (idx,) = host.store.get_agent(agent).waiting_promises
        host.complete_promise(PromiseId(agent, idx), b"\x01\x02")
        assert host.store.get_invocation(invocation_id).state == "done"
        assert len(host.executor._agent_locks) == 0
    finally:
        host.close()
