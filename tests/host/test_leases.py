"""Leases under clock skew and long invocations (issue "Nothing lost, nobody let in,
part 2", F6): a live lease is never taken over, whatever the clocks say; a guest that
runs longer than the TTL keeps its lease; a runner taken over cannot write again.

Two stores (or hosts) on one database file stand for two host processes. Their clocks
are the store's test seam (``SqliteStore(path, clock=...)``): a wall clock 400 s ahead,
and a monotonic clock the test advances instead of sleeping. Everything else is real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from host.errors import LeaseHeld, LeaseLost
from host.ids import AgentId
from host.limits import Limits
from host.oplog import AgentCreated, HostCall, InvocationFailed, InvocationStarted, Suspended
from host.service import HostService
from host.store import DB_FILENAME, SqliteStore
from host.store.base import AgentStatus
from tests.fixtures.build import build_fixture

TTL = 300.0
SKEW_NS = 400 * 10**9


class FakeClock:
    """A wall clock ``skew_ns`` ahead of this machine's, and a monotonic clock that moves
    only when the test advances it."""

    def __init__(self, skew_ns: int = 0) -> None:
        self.skew_ns = skew_ns
        self.now = 1000.0

    def time_ns(self) -> int:
        return time.time_ns() + self.skew_ns

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite"


@pytest.fixture
def first(db: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(db)
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(skew_ns=SKEW_NS)


@pytest.fixture
def second(db: Path, first: SqliteStore, clock: FakeClock) -> Iterator[SqliteStore]:
    store = SqliteStore(db, clock=clock)  # after `first`, which created the schema
    yield store
    store.close()


def _agent(store: SqliteStore) -> AgentId:
    agent = AgentId(uuid.uuid4(), "a")
    assert store.create_agent(agent, "hash", AgentCreated(str(agent.component_id), "hash"))
    return agent


def test_a_clock_400_s_ahead_does_not_take_over_a_lease_kept_renewed(
    first: SqliteStore, second: SqliteStore, clock: FakeClock
) -> None:
    agent = _agent(first)
    assert first.acquire_lease(agent, "A", TTL) is None
    # To the skewed store, A's lease expired 100 s ago by the wall clock: irrelevant.
    assert second.acquire_lease(agent, "B", TTL) == "A"
    for _ in range(5):  # 1000 s of B's time, more than three TTLs: A renews meanwhile
        clock.advance(TTL * 2 / 3)
        assert first.renew_lease(agent, "A", TTL)
        assert second.acquire_lease(agent, "B", TTL) == "A"
    # A stops renewing: B takes over once it has seen no heartbeat for a whole TTL.
    clock.advance(TTL - 1)
    assert second.acquire_lease(agent, "B", TTL) == "A"
    clock.advance(2)
    assert second.acquire_lease(agent, "B", TTL) is None
    assert first.acquire_lease(agent, "A", TTL) == "B"


def test_a_holder_with_a_longer_ttl_is_judged_by_its_own_ttl(
    first: SqliteStore, second: SqliteStore, clock: FakeClock
) -> None:
    agent = _agent(first)
    assert first.acquire_lease(agent, "A", 2 * TTL) is None
    assert second.acquire_lease(agent, "B", TTL) == "A"
    clock.advance(TTL + 1)  # B's TTL has passed, not A's
    assert second.acquire_lease(agent, "B", TTL) == "A"
    clock.advance(TTL)
    assert second.acquire_lease(agent, "B", TTL) is None


def test_a_runner_taken_over_cannot_write_again(
    first: SqliteStore, second: SqliteStore, clock: FakeClock
) -> None:
    agent = _agent(first)
    assert first.acquire_lease(agent, "A", TTL) is None
    first.append(agent, 2, [HostCall("f", [], 1)])  # A's token is current: it writes
    # A stalls (stops renewing); B, after a silent TTL, takes the agent over.
    assert second.acquire_lease(agent, "B", TTL) == "A"
    clock.advance(TTL)
    assert second.acquire_lease(agent, "B", TTL) is None
    before = first.read_oplog_raw(agent), first.get_agent(agent)
    started = InvocationStarted("inv", "f", (), None)
    writes: list[Callable[[], object]] = [
        lambda: first.append(agent, 3, [HostCall("f", [], 2)]),
        lambda: first.start_invocation(agent, [], 3, started),
        lambda: first.suspend(agent, [], 3, Suspended((), time.time_ns() + 10**12)),
        lambda: first.finish_invocation(agent, [], 3, InvocationFailed("inv", "x")),
        lambda: first.create_promise(agent, [HostCall("f", [], 2)], 3, "f"),
        lambda: first.set_status(agent, AgentStatus.FAILED, "stale"),
    ]
    for write in writes:
        with pytest.raises(LeaseLost):
            write()
    # A promise of another agent completed by A's guest: its journal is fenced too, and
    # the completion is not committed without it.
    other = _agent(second)
    assert second.acquire_lease(other, "B", TTL) is None
    promise = second.create_promise(other, [HostCall("f", [], 1)], 2, "f")
    with pytest.raises(LeaseLost):
        first.complete_promise(promise, b"x", (agent, 3, lambda _: [HostCall("g", [], 3)]))
    assert not first.get_promise(promise).completed
    assert not first.renew_lease(agent, "A", TTL)  # nor can its heartbeat revive it
    assert (first.read_oplog_raw(agent), first.get_agent(agent)) == before
    # B, the current holder, writes on.
    second.append(agent, 3, [HostCall("f", [], 2)])
    # After A lets go (its release frees nothing of B's) it may acquire anew, fenced
    # again by a fresh token once B is done.
    first.release_lease(agent, "A")
    assert first.acquire_lease(agent, "A", TTL) == "B"
    second.release_lease(agent, "B")
    assert first.acquire_lease(agent, "A", TTL) is None
    first.append(agent, 4, [HostCall("f", [], 3)])


def test_a_dead_process_on_this_machine_is_stale_at_once_and_release_frees(
    first: SqliteStore, second: SqliteStore
) -> None:
    agent = _agent(first)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert first.acquire_lease(agent, f"{socket.gethostname()}:{dead}:x", TTL) is None
    assert second.acquire_lease(agent, "B", TTL) is None  # no TTL to wait: it is dead
    alive = f"{socket.gethostname()}:{os.getpid()}:other"
    assert first.acquire_lease(agent, alive, TTL) == "B"
    second.release_lease(agent, "B")
    assert first.acquire_lease(agent, alive, TTL) is None  # released: free at once


def test_a_guest_running_longer_than_the_ttl_keeps_its_lease(tmp_path: Path) -> None:
    ttl = 0.6
    limits = Limits(deadline_s=3.0)  # spin() runs five TTLs, then hits its deadline
    host = HostService(tmp_path / "store", limits=limits, lease_ttl_s=ttl)
    other = HostService(tmp_path / "store", limits=limits, lease_ttl_s=ttl)
    try:
        host.add_component(build_fixture("hostile"), name="hostile")
        agent, _ = host.create_agent("hostile", "spinner")
        done: list[object] = []
        runner = threading.Thread(target=lambda: done.append(host.invoke(agent, "spin()")))
        runner.start()
        while not host.executor.is_running_here(agent):
            time.sleep(0.01)
        refused, deadline = 0, time.monotonic() + 2.0
        while time.monotonic() < deadline:  # over three TTLs of the other process trying
            with pytest.raises(LeaseHeld):
                other.executor.run_agent(agent)
            refused += 1
            time.sleep(0.05)
        runner.join(timeout=30)
        assert done and refused > 10
        entries = host.store.read_oplog(agent)
        starts = [e for e in entries if isinstance(e, InvocationStarted)]
        failures = [e for e in entries if isinstance(e, InvocationFailed)]
        assert len(starts) == 1 and len(failures) == 1, entries  # ran once, not twice
        assert "time limit" in failures[0].error
        assert host.store.get_agent(agent).status == "failed"
    finally:
        other.close()
        host.close()


# sqlite_only: the thief is a SqliteStore with a clock 400 s ahead (the SQLite clock seam);
# the PostgreSQL lease, judged on the server's clock, is tested in tests/host/test_postgres.py.
@pytest.mark.sqlite_only
def test_a_runner_taken_over_stops_without_recording_anything(tmp_path: Path) -> None:
    """The executor side of fencing: a runner whose lease is taken over (here between
    "nothing is ready" and its suspension) records nothing and drops the instance."""
    host = HostService(tmp_path / "store")
    clock = FakeClock()
    try:
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        agent, _ = host.create_agent("p", "waiter")
        thief = SqliteStore(host.data_dir / DB_FILENAME, clock=clock)

        def take_over(_: AgentId) -> None:
            assert thief.acquire_lease(agent, "thief", TTL) == host.executor.owner
            clock.advance(TTL)  # the runner's heartbeat (every TTL/3) has not run yet
            assert thief.acquire_lease(agent, "thief", TTL) is None

        host.executor.before_suspend = take_over
        inv = host.store.enqueue(agent, "inv-1", "create-and-await", (), None)
        with pytest.raises(LeaseLost):
            host.executor.run_agent(agent)
        entries = host.store.read_oplog(agent)
        assert not any(isinstance(e, Suspended) for e in entries), entries
        assert host.store.get_agent(agent).status == "running"  # the thief's to continue
        assert host.store.get_invocation(inv.invocation_id).state == "started"
        assert agent not in host.executor._live
        thief.release_lease(agent, "thief")
        thief.close()
    finally:
        host.close()


def test_a_read_vouches_only_for_a_live_local_holder_that_renews(tmp_path: Path) -> None:
    """Store.lease_holder (the read that spares a failing acquire_lease's write): the
    holder when it is a live process here that renewed on time, else None (then
    acquire_lease's own rules decide)."""
    path = tmp_path / "db.sqlite"
    clock = FakeClock()
    holder_store, contender = SqliteStore(path), SqliteStore(path, clock=clock)
    try:
        agent = AgentId(uuid.uuid4(), "held")
        holder_store.create_agent(agent, "h", AgentCreated(str(agent.component_id), "h"))
        me = f"{socket.gethostname()}:{os.getpid()}:aaaa1111"
        assert holder_store.acquire_lease(agent, me, TTL) is None
        assert contender.lease_holder(agent, "someone:1:else") == me
        assert contender.lease_holder(agent, me) is None  # one's own lease
        # Late to renew (over half its TTL gone): no longer vouched for by a read.
        clock.skew_ns = int(TTL / 2 * 1e9) + 10**9
        assert contender.lease_holder(agent, "someone:1:else") is None
        clock.skew_ns = 0
        # A holder elsewhere, or a dead pid here: never vouched for by a read.
        other = AgentId(uuid.uuid4(), "remote")
        holder_store.create_agent(other, "h", AgentCreated(str(other.component_id), "h"))
        assert holder_store.acquire_lease(other, "another-machine:1:bbbb", TTL) is None
        assert contender.lease_holder(other, me) is None
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        gone = AgentId(uuid.uuid4(), "gone")
        holder_store.create_agent(gone, "h", AgentCreated(str(gone.component_id), "h"))
        assert holder_store.acquire_lease(gone, f"{socket.gethostname()}:{dead}:cccc", TTL) is None
        assert contender.lease_holder(gone, me) is None
    finally:
        holder_store.close()
        contender.close()
