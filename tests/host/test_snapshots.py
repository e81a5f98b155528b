"""Snapshots (save-snapshot / load-snapshot), snapshot-based update and revert, with the
snapshots-1/-2 WAT fixtures (a running total in linear memory; -2 adds twice) and real
store files. A fresh HostService on the same directory stands for a restarted host."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.agents.agenttypes import Snapshotting
from host.errors import Conflict, InvalidInput, UpdateFailed
from host.ids import AgentId
from host.oplog import FailedUpdate, Jump, PendingUpdate, Snapshot, SuccessfulUpdate
from host.service import HostService
from tests.fixtures.build import build_fixture


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "store"


def _host(data: Path, every: int | None = None) -> HostService:
    host = HostService(data)
    if every is not None:
        host.executor.default_snapshotting = Snapshotting("every-n-invocation", every)
    return host


def _result(host: HostService, agent: AgentId, call: str) -> str | None:
    inv = host.invoke(agent, call)
    done = host.store.get_invocation(inv.invocation_id)
    assert done.state == "done", done
    return done.result


def _setup(data: Path, every: int | None = None) -> tuple[HostService, AgentId]:
    host = _host(data, every)
    host.add_component(build_fixture("snapshots-1"), name="snap")
    agent, _ = host.create_agent("snap", "a1")
    return host, agent


def test_every_n_invocations_records_a_snapshot_and_recovery_starts_there(data: Path) -> None:
    host, agent = _setup(data, every=3)
    for expected in ("1", "2", "3"):
        assert _result(host, agent, "add(1)") == expected
    log = host.store.read_oplog(agent)
    assert isinstance(log[-1], Snapshot)
    # A new version whose replay of the old invocations would diverge (add counts twice):
    # recovery loads the snapshot and replays nothing before it.
    host.add_component(build_fixture("snapshots-2"), name="snap")
    host.update_agent(agent)
    host.close()
    host = _host(data)
    assert _result(host, agent, "total()") == "3"
    assert _result(host, agent, "add(1)") == "5"
    assert host.store.get_agent(agent).status == "idle"
    host.close()


def test_without_snapshots_the_same_update_fails_and_keeps_the_old_version(data: Path) -> None:
    """Golem's automatic update: the oplog is replayed on the new version; this one
    computes other results, so the update fails (recorded, with the reason) and the agent
    goes on with its old version and state."""
    host, agent = _setup(data)
    for _ in range(3):
        _result(host, agent, "add(1)")
    assert not any(isinstance(e, Snapshot) for e in host.store.read_oplog(agent))
    host.add_component(build_fixture("snapshots-2"), name="snap")
    with pytest.raises(UpdateFailed, match="automatic update failed"):
        host.update_agent(agent)
    entries = host.store.read_oplog(agent)
    assert isinstance(entries[-2], PendingUpdate) and entries[-2].mode == "automatic"
    assert isinstance(entries[-1], FailedUpdate) and "replay" in entries[-1].details
    assert host.agent(agent).component_version == 0
    host.close()
    host = _host(data)
    assert _result(host, agent, "total()") == "3"
    assert host.store.get_agent(agent).status == "idle"
    host.close()


def test_snapshot_based_update_moves_the_state_to_the_new_version(data: Path) -> None:
    host, agent = _setup(data)
    for _ in range(4):
        _result(host, agent, "add(1)")
    host.add_component(build_fixture("snapshots-2"), name="snap")
    outcome = host.update_agent(agent, mode="snapshot")
    assert outcome.target_version == 1 and outcome.state == "successful"
    last = host.store.read_oplog(agent)[-1]
    assert isinstance(last, SuccessfulUpdate) and last.target_version == 1
    assert last.payload is not None
    assert _result(host, agent, "add(1)") == "6"
    host.close()
    host = _host(data)  # replay: load-snapshot on version 1, then only the later add
    assert _result(host, agent, "total()") == "6"
    host.close()


def test_snapshot_based_update_without_the_exports_fails_and_is_recorded(data: Path) -> None:
    host = _host(data)
    host.add_component(build_fixture("durable-1.3.0"), name="d")
    agent, _ = host.create_agent("d", "a1")
    host.add_component(build_fixture("snapshots-2"), name="d")
    with pytest.raises(UpdateFailed, match="save-snapshot"):
        host.update_agent(agent, mode="snapshot")
    last = host.store.read_oplog(agent)[-1]
    assert isinstance(last, FailedUpdate) and "save-snapshot" in last.details
    assert host.agent(agent).component_version == 0
    # A version the component lacks is accepted, as Golem accepts it, and fails applied.
    with pytest.raises(UpdateFailed, match="no version 7"):
        host.update_agent(agent, version=7, mode="snapshot")
    assert host.agent(agent).component_version == 0
    with pytest.raises(InvalidInput, match="mode"):
        host.update_agent(agent, mode="sideways")
    host.close()


def test_revert_last_invocations_and_to_an_index(data: Path) -> None:
    host, agent = _setup(data)
    for _ in range(3):
        _result(host, agent, "add(10)")
    jump = host.revert_agent(agent, last_invocations=2)
    assert isinstance(host.store.read_oplog(agent)[-1], Jump)
    assert jump.start == 4  # created, started, finished | the two reverted
    assert _result(host, agent, "total()") == "10"
    host.close()
    host = _host(data)
    assert _result(host, agent, "total()") == "10"
    with pytest.raises(InvalidInput, match="inside the invocation"):
        host.revert_agent(agent, index=2)
    with pytest.raises(InvalidInput, match="last 9"):
        host.revert_agent(agent, last_invocations=9)
    host.revert_agent(agent, index=1)
    assert _result(host, agent, "total()") == "0"
    host.close()


def test_revert_past_a_snapshot_based_update_returns_to_the_old_version(data: Path) -> None:
    host, agent = _setup(data, every=1)
    _result(host, agent, "add(1)")
    host.add_component(build_fixture("snapshots-2"), name="snap")
    host.update_agent(agent, mode="snapshot")
    assert _result(host, agent, "add(1)") == "3"
    host.revert_agent(agent, last_invocations=1)  # the add on version 1; update stays
    assert host.agent(agent).component_version == 1
    assert _result(host, agent, "total()") == "1"
    # The last two alive: total() on version 1 and the first add(1): back to the start.
    host.revert_agent(agent, last_invocations=2)
    assert host.agent(agent).component_version == 0
    assert _result(host, agent, "add(1)") == "1"
    host.close()


def test_revert_refuses_an_agent_inside_an_invocation(data: Path) -> None:
    host = _host(data)
    host.add_component(build_fixture("durable-1.3.0"), name="d")
    agent, _ = host.create_agent("d", "a1")
    host.invoke(agent, "observe-and-await()")
    assert host.store.get_agent(agent).status == "suspended"
    with pytest.raises(Conflict, match="suspended"):
        host.revert_agent(agent, last_invocations=1)
    host.close()
