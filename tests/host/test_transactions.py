"""Golem's durability controls on a real component (tests/fixtures/wat/transactions-1.3.0)
and real SQLite files: atomic regions re-execute after a trap, set-oplog-index travels
back, persist-nothing calls are not recorded, oplog-commit makes entries durable."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from host.ids import AgentId
from host.oplog import (
    BeginAtomicRegion,
    ChangePersistenceLevel,
    EndAtomicRegion,
    HostCall,
    InvocationFinished,
    Jump,
    Retried,
)
from host.service import HostService
from host.store import open_store
from host.store.check import check_store
from tests.fixtures.build import build_fixture

RAND = "wasi:random/random@0.2.3.get-random-u64"


@pytest.fixture
def tx(host: HostService) -> HostService:
    host.add_component(build_fixture("transactions-1.3.0"), name="tx")
    return host


def _settle(host: HostService, agent: AgentId, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while (status := host.store.get_agent(agent).status) in ("retrying", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.01)
        host.run_due()
    return status


def _randoms(entries: Sequence[object]) -> list[object]:
    return [e.response for e in entries if isinstance(e, HostCall) and e.function == RAND]


def test_a_trapped_atomic_region_reexecutes_live_on_retry(tx: HostService) -> None:
    agent, _ = tx.create_agent("tx", "atomic")
    inv = tx.invoke(agent, "atomic-once()")
    # The first attempt traps inside the region. Its retry is usually still waiting out the
    # policy's delay when invoke returns; on a loaded machine it may already have run.
    assert inv.state in ("started", "done")
    assert _settle(tx, agent) == "idle"
    done = tx.store.get_invocation(inv.invocation_id)
    assert done.state == "done", done.error
    entries = tx.store.read_oplog(agent)
    assert any(isinstance(e, Retried) and e.invocation_id == inv.invocation_id for e in entries)
    first, second = _randoms(entries)  # both attempts are kept in the log
    assert first != second
    # The result is the re-executed region's read, not a replay of the first one.
    assert done.result == str(second)
    jump = next(e for e in entries if isinstance(e, Jump))
    begin = next(i for i, e in enumerate(entries, 1) if isinstance(e, BeginAtomicRegion))
    assert jump.start == begin + 1
    assert any(isinstance(e, EndAtomicRegion) and e.begin_index == begin for e in entries)
    assert check_store(tx.store) == []


def test_a_replay_after_the_region_succeeded_skips_the_first_attempt(
    tx: HostService, data_dir: Path
) -> None:
    agent, _ = tx.create_agent("tx", "replayed")
    tx.invoke(agent, "atomic-once()")
    _settle(tx, agent)
    before = tx.store.read_oplog(agent)
    tx.close()
    # A new process replays the whole log (second call) without re-running the region.
    again = HostService(data_dir)
    try:
        inv = again.invoke(agent, "jump-loop(0)")
        assert inv.state == "done", inv.error
        after = again.store.read_oplog(agent)
        assert after[: len(before)] == before
        assert _randoms(after[len(before) :]) and len(_randoms(after)) == 3
    finally:
        again.close()


def test_set_oplog_index_travels_back_and_continues_from_the_target(tx: HostService) -> None:
    agent, _ = tx.create_agent("tx", "jumper")
    inv = tx.invoke(agent, "jump-loop(12)")
    assert inv.state == "done", inv.error
    entries = tx.store.read_oplog(agent)
    jumps = [e for e in entries if isinstance(e, Jump)]
    assert len(jumps) >= 2
    assert int(inv.result or "0") >= 12
    # Kept in the log, marked: each jump deletes from just after its target to itself.
    for jump in jumps:
        assert jump.end == entries.index(jump) + 1
    assert isinstance(entries[-1], InvocationFinished)
    assert check_store(tx.store) == []


def test_persist_nothing_is_not_recorded_and_oplog_commit_is_durable(
    tx: HostService, data_dir: Path
) -> None:
    agent, _ = tx.create_agent("tx", "quiet")
    inv = tx.invoke(agent, "quiet-then-commit()")
    assert inv.state == "done", inv.error
    # Read through a separate connection: what oplog-commit committed is in the file.
    other = open_store(data_dir)
    try:
        entries = other.read_oplog(agent)
    finally:
        other.close()
    assert _randoms(entries) == []  # the read under persist-nothing was not recorded
    levels = [e.level for e in entries if isinstance(e, ChangePersistenceLevel)]
    assert levels == ["persist-nothing", "smart"]
