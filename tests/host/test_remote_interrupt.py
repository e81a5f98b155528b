"""An interrupt asked of an agent another process runs (host/runtime/remote_interrupt.py):
the request in the store, taken once by the owner, withdrawn when the owner does not
answer. A real SQLite store and a real (WAT) component; the other process is a lease
held under another owner's name. The whole path with a server: tests/e2e/
test_resources_and_interrupt.py::test_cli_interrupt_of_an_agent_the_server_runs."""

from __future__ import annotations

import pytest

from host.errors import Conflict
from host.ids import AgentId
from host.runtime import remote_interrupt
from host.service import HostService
from host.store.base import AgentStatus
from tests.fixtures.build import build_fixture

OTHER = "elsewhere:1:abc"  # an owner of no process on this machine: no wake-up reaches it


def _running_elsewhere(host: HostService) -> AgentId:
    host.add_component(build_fixture("updater-1.5.0"), "updater")
    agent, _ = host.create_agent("updater", "busy")
    assert host.store.acquire_lease(agent, OTHER, 60.0) is None
    host.store.set_status(agent, AgentStatus.RUNNING)
    return agent


def test_the_request_is_taken_once(host: HostService) -> None:
    agent = _running_elsewhere(host)
    assert host.store.request_interrupt(agent)
    assert host.store.take_interrupt_request(agent)
    assert not host.store.take_interrupt_request(agent)


def test_an_agent_not_running_is_not_asked(host: HostService) -> None:
    host.add_component(build_fixture("updater-1.5.0"), "updater")
    agent, _ = host.create_agent("updater", "idle")
    assert not host.store.request_interrupt(agent)
    assert not host.store.take_interrupt_request(agent)


def test_an_owner_that_does_not_answer_gets_the_request_withdrawn(host: HostService) -> None:
    agent = _running_elsewhere(host)
    with pytest.raises(Conflict, match="did not stop it"):
        remote_interrupt.interrupt_elsewhere(host.store, agent, OTHER, 0.3)
    assert host.store.get_agent(agent).status == AgentStatus.RUNNING
    assert not host.store.take_interrupt_request(agent)
