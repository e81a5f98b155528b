"""Recovery from a snapshot keeps the durability state the guest set through golem:api/host
before it (retry policy, idempotence mode, persistence level): the snapshot holds the
guest's memory, and the host rebuilds its own side from the entries before the snapshot,
which the replay no longer visits. The recovering WAT fixture's snapshot is 8 zero bytes,
so all the state checked here is the host's; a fresh HostService stands for a restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from host.agents.agenttypes import Snapshotting
from host.ids import AgentId
from host.oplog import AgentCreated, ChangePersistenceLevel, Entry, HostCall, Jump, Snapshot
from host.runtime import golem, pollables
from host.runtime.session import Session
from host.service import HostService
from host.values import Some
from tests.fixtures.build import build_fixture


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "store"


def _done(host: HostService, agent: AgentId, call: str) -> str | None:
    inv = host.invoke(agent, call)
    done = host.store.get_invocation(inv.invocation_id)
    assert done.state == "done", done
    return done.result


def _snapshotted(data: Path, *calls: str) -> AgentId:
    """A recovering agent that made ``calls``, each followed by a snapshot."""
    host = HostService(data)
    host.executor.default_snapshotting = Snapshotting("every-n-invocation", 1)
    try:
        host.add_component(build_fixture("recovering"), name="rec")
        agent, _ = host.create_agent("rec", "a1")
        for call in calls:
            _done(host, agent, call)
        assert isinstance(host.store.read_oplog(agent)[-1], Snapshot)
    finally:
        host.close()
    return agent


def test_a_retry_policy_set_before_the_snapshot_still_applies_after_recovery(
    data: Path,
) -> None:
    # No retries at all: Golem's default would retry a trap 3 times.
    agent = _snapshotted(data, "set-policy(0, 1000000, 1000000, 1.0)")
    host = HostService(data)
    try:
        assert _done(host, agent, "max-attempts()") == "0"
        inv = host.invoke(agent, "boom()")
        deadline = time.monotonic() + 10
        while host.store.get_agent(agent).status in ("running", "retrying"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
            host.run_due()
        record = host.store.get_agent(agent)
        assert record.status == "failed" and record.retry_count == 0
        assert host.store.get_invocation(inv.invocation_id).state == "failed"
    finally:
        host.close()


def test_the_default_policy_retries_the_same_trap(data: Path) -> None:
    """The control: without the guest's policy the same trap is retried."""
    agent = _snapshotted(data, "max-attempts()")
    host = HostService(data)
    try:
        host.invoke(agent, "boom()")
        record = host.store.get_agent(agent)
        assert record.status == "retrying" and record.retry_count == 1
    finally:
        host.close()


def test_idempotence_mode_and_persistence_level_survive_recovery(data: Path) -> None:
    agent = _snapshotted(data, "set-idempotence(false)", "set-level(1)")
    host = HostService(data)
    try:
        assert _done(host, agent, "idempotence()") == "false"
        assert _done(host, agent, "level()") == "1"
    finally:
        host.close()


def test_state_set_in_a_deleted_region_or_after_the_snapshot_is_not_restored(
    host: HostService,
) -> None:
    """The rebuild reads the log as a replay would: a Jump's deleted entries do not count,
    the last setting before the snapshot wins, and nothing after it is read."""
    policy = "golem:api/host@1.3.0.set-retry-policy"
    idem = "golem:api/host@1.1.7.set-idempotence-mode"

    def rule(attempts: int) -> dict[str, object]:
        return {"max-attempts": attempts, "min-delay": 1, "max-delay": 2, "multiplier": 1.0}

    entries: list[Entry] = [
        AgentCreated("c", "h"),
        HostCall(policy, [rule(7)], None),
        HostCall(idem, [False], None),
        HostCall(policy, [{**rule(5), "max-jitter-factor": 0.5}], None),  # 4: deleted
        ChangePersistenceLevel("persist-nothing"),  # 5: deleted
        Jump(4, 6),
        Snapshot("AAAAAAAAAAA=", ""),
        HostCall(idem, [True], None),  # after the snapshot: the replay's business
    ]
    session = Session(AgentId.from_halves(1, 2, "x"), host.store, list(entries))
    golem.restore_durable_state(session, 7)
    assert session.state["retry-policy"] == rule(7)
    assert session.idempotent is False
    assert session.persistence_level == "smart"
    entries[5] = Jump(9, 9)  # no longer covers 4 and 5
    session = Session(AgentId.from_halves(1, 2, "x"), host.store, list(entries))
    golem.restore_durable_state(session, 7)
    assert session.state["retry-policy"] == {**rule(5), "max-jitter-factor": Some(0.5)}
    assert session.persistence_level == "persist-nothing"


def test_the_monotonic_floor_before_the_snapshot_holds_after_it(host: HostService) -> None:
    """A reading the guest saw before the snapshot bounds the clock after recovery, even
    if the host's clock is behind it now (a reading from far in the future, here)."""
    far = time.time_ns() + 3600 * 10**9
    entries: list[Entry] = [
        AgentCreated("c", "h"),
        HostCall("wasi:clocks/monotonic-clock@0.2.3.now", [], far),
        Snapshot("AAAAAAAAAAA=", ""),
    ]
    session = Session(AgentId.from_halves(1, 2, "x"), host.store, entries)
    assert pollables.agent_clock(session) < far
    pollables.restore_floor(session, 3)
    assert pollables.monotonic_now(session) >= far


def test_a_snapshot_without_recorded_host_state_rebuilds_it_from_the_older_entries(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snapshots written before their entry carried the host's state (host_state None):
    recovery reads the entries before the snapshot, which the resume had elided."""
    with monkeypatch.context() as patched:  # only this; undo() would drop the store switch
        patched.setattr(golem, "durable_state", lambda session: None)
        agent = _snapshotted(data, "set-policy(0, 1000000, 1000000, 1.0)")
    snapshot = HostService(data)
    try:
        last = snapshot.store.read_oplog(agent)[-1]
        assert isinstance(last, Snapshot) and last.host_state is None
    finally:
        snapshot.close()
    host = HostService(data)
    try:
        assert _done(host, agent, "max-attempts()") == "0"
    finally:
        host.close()


def test_a_snapshot_records_the_host_state_it_restores(data: Path) -> None:
    agent = _snapshotted(data, "set-policy(0, 1000000, 1000000, 1.0)")
    host = HostService(data)
    try:
        last = host.store.read_oplog(agent)[-1]
        assert isinstance(last, Snapshot) and isinstance(last.host_state, dict)
        assert last.host_state["retry-policy"]["max-attempts"] == 0
        assert last.host_state["persistence-level"] == "smart"
    finally:
        host.close()
