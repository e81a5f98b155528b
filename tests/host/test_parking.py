"""Parked agents (host/runtime/parking.py): the server's pool keeps a suspended agent's
instance on its thread for a while, so the completion that wakes it continues the guest
live, without a new instance or a replay; everything durable is as for a dropped
instance, and whatever wants the agent (delete, interrupt, a full pool, a shutdown)
lets it go first. Real SQLite store, real WAT component (promises-1.3.0), real pool."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from host.ids import AgentId, PromiseId
from host.oplog import InvocationFinished, Suspended
from host.runtime.scheduler import PoolScheduler
from host.service import HostService
from host.store import open_store
from tests.fixtures.build import build_fixture

RESULT_123 = str(list(b"[1,2,3]"))  # create-and-await answers the payload's bytes


def _until(check: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[HostService, PoolScheduler]]:
    scheduler = PoolScheduler(workers=4, poll_interval=3600)  # no scans: only what we do
    host = HostService(tmp_path / "store", scheduler=scheduler)
    host.add_component(build_fixture("promises-1.3.0"), name="p")
    try:
        yield host, scheduler
    finally:
        scheduler.stop()
        host.close()


def _parked(host: HostService, name: str) -> tuple[AgentId, str, int]:
    """A new agent awaiting its promise in create-and-await, parked: (agent, invocation
    id, the promise's oplog index)."""
    agent, _ = host.create_agent("p", name)
    invocation = host.invoke(agent, "create-and-await()").invocation_id
    parking = host.executor.parking
    assert parking is not None
    _until(lambda: parking.is_parked(agent) and host.store.get_agent(agent).status == "suspended")
    (idx,) = host.store.get_agent(agent).waiting_promises
    return agent, invocation, idx


def test_a_parked_agent_goes_on_in_the_same_run(
    served: tuple[HostService, PoolScheduler],
) -> None:
    host, scheduler = served
    agent, invocation, idx = _parked(host, "a")
    # Durably suspended while parked: what a crash now would leave.
    record = host.store.get_agent(agent)
    assert record.status == "suspended"
    assert isinstance(host.store.read_oplog(agent)[-1], Suspended)
    runs = scheduler._start_count

    assert host.complete_promise(PromiseId(agent, idx), b"[1,2,3]")
    _until(lambda: host.store.get_invocation(invocation).state == "done")
    _until(lambda: not scheduler._scheduled)
    assert scheduler._start_count == runs  # no new run: the parked thread went on
    assert host.store.get_agent(agent).status == "idle"
    # The payload, as the guest read it live from the completed promise.
    assert host.store.get_invocation(invocation).result == RESULT_123
    entries = host.store.read_oplog(agent)
    kinds = [type(e).__name__ for e in entries]
    assert kinds.index("Suspended") < kinds.index("InvocationFinished")
    assert isinstance(entries[-1], InvocationFinished)


def test_a_parked_agent_replays_later_as_if_it_had_suspended(
    served: tuple[HostService, PoolScheduler], tmp_path: Path
) -> None:
    """The oplog a parked-and-continued agent leaves replays in another service (its
    suspension marker passed over), and the agent's next invocation runs on it."""
    host, scheduler = served
    agent, invocation, idx = _parked(host, "b")
    assert host.complete_promise(PromiseId(agent, idx), b"[7]")
    _until(lambda: host.store.get_invocation(invocation).state == "done")
    first = host.store.get_invocation(invocation).result
    scheduler.stop()
    host.close()

    other = HostService(tmp_path / "store")  # inline: replays on this thread
    try:
        second = other.invoke(agent, "create-and-await()").invocation_id
        assert other.store.get_agent(agent).status == "suspended"
        (idx2,) = other.store.get_agent(agent).waiting_promises
        assert other.complete_promise(PromiseId(agent, idx2), b"[7]")
        assert other.store.get_invocation(second).state == "done"
        assert other.store.get_invocation(second).result == first
        assert other.store.get_agent(agent).status == "idle"
    finally:
        other.close()


def test_a_parked_agent_gives_its_instance_up_after_the_hold(
    served: tuple[HostService, PoolScheduler],
) -> None:
    host, scheduler = served
    parking = host.executor.parking
    assert parking is not None
    parking.hold_s = 0.05
    agent, invocation, idx = _parked(host, "c")
    _until(lambda: not parking.is_parked(agent) and not scheduler._scheduled)
    assert host.store.get_agent(agent).status == "suspended"
    runs = scheduler._start_count

    assert host.complete_promise(PromiseId(agent, idx), b"[1]")
    _until(lambda: host.store.get_invocation(invocation).state == "done")
    assert scheduler._start_count == runs + 1  # resumed the usual way: a replay
    assert host.store.get_agent(agent).status == "idle"


def test_deleting_a_parked_agent_lets_it_go(served: tuple[HostService, PoolScheduler]) -> None:
    host, scheduler = served
    agent, _, _ = _parked(host, "d")
    host.delete_agent(agent)  # not AgentBusy: a parked agent is at rest
    _until(lambda: not scheduler._scheduled)
    assert host.executor.parking is not None and not host.executor.parking.is_parked(agent)
    assert agent not in {a.agent for a in host.store.list_agents()}


def test_an_interrupted_parked_agent_does_not_go_on(
    served: tuple[HostService, PoolScheduler],
) -> None:
    host, scheduler = served
    agent, invocation, idx = _parked(host, "e")
    host.interrupt(agent)
    _until(lambda: not scheduler._scheduled)
    assert host.complete_promise(PromiseId(agent, idx), b"[1]")
    time.sleep(0.1)  # nothing is to happen: give a wrong continuation the time to show
    _until(lambda: not scheduler._scheduled)
    assert host.store.get_agent(agent).status == "interrupted"
    assert host.store.get_invocation(invocation).state == "started"

    host.resume(agent)
    _until(lambda: host.store.get_invocation(invocation).state == "done")
    assert host.store.get_agent(agent).status == "idle"


def test_a_full_pool_takes_the_parked_thread(tmp_path: Path) -> None:
    """Two threads: one agent parks (one stays free); while another agent's run holds the
    free one, a third run makes the parked agent give its thread up at once."""
    scheduler = PoolScheduler(workers=2, poll_interval=3600)
    host = HostService(tmp_path / "store", scheduler=scheduler)
    try:
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        parking = host.executor.parking
        assert parking is not None
        parking.hold_s = 600.0  # only the eviction can end it within the test
        agent, invocation, idx = _parked(host, "parked")
        busy, _ = host.create_agent("p", "busy")
        idle, _ = host.create_agent("p", "idle")
        with host.executor._agent_locks.hold(busy):
            scheduler.schedule(busy)  # its run waits for the lock, on the free thread
            _until(lambda: scheduler._active == 2)
            scheduler.schedule(idle)  # no thread left: the parked agent is evicted
            _until(lambda: not parking.is_parked(agent))
        _until(lambda: not scheduler._scheduled)
        assert host.store.get_agent(agent).status == "suspended"
        assert host.complete_promise(PromiseId(agent, idx), b"[1]")
        _until(lambda: host.store.get_invocation(invocation).state == "done")
    finally:
        scheduler.stop()
        host.close()


def test_stopping_the_pool_lets_parked_agents_go(tmp_path: Path) -> None:
    scheduler = PoolScheduler(workers=4, poll_interval=3600)
    host = HostService(tmp_path / "store", scheduler=scheduler)
    try:
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        assert host.executor.parking is not None
        host.executor.parking.hold_s = 600.0
        agent, _, _ = _parked(host, "s")
        began = time.monotonic()
        scheduler.stop()  # joins the pool: returns only once the parked thread let go
        assert time.monotonic() - began < 60  # not the 600 s hold
        assert not host.executor.parking.is_parked(agent)
        assert host.store.get_agent(agent).status == "suspended"
    finally:
        host.close()


def test_a_completion_just_before_the_park_commits_goes_on_live(
    served: tuple[HostService, PoolScheduler], tmp_path: Path
) -> None:
    """Spec rule 4 while parking: the promise completes between "nothing is ready" and
    the suspension's commit (the before_suspend seam); the suspension is refused and the
    guest goes on in the same run, the result the completion's."""
    host, scheduler = served
    agent, _ = host.create_agent("p", "race")
    completed: list[bool] = []
    other = open_store(tmp_path / "store")  # another process's view

    def complete_now(who: AgentId) -> None:
        if who == agent and not completed:
            (pending,) = other.list_promises(who)
            completed.append(other.complete_promise(pending.id, b"[1,2,3]"))

    host.executor.before_suspend = complete_now
    invocation = host.invoke(agent, "create-and-await()").invocation_id
    _until(lambda: host.store.get_invocation(invocation).state == "done")
    _until(lambda: not scheduler._scheduled)
    assert completed == [True]
    assert host.store.get_invocation(invocation).result == RESULT_123
    assert not any(isinstance(e, Suspended) for e in host.store.read_oplog(agent))
    assert scheduler._start_count == 1
    other.close()


def test_a_scan_finding_a_woken_parked_agent_adds_no_second_run(
    served: tuple[HostService, PoolScheduler],
) -> None:
    """The completion wakes the parked thread; before that thread looks at the store, a
    scan finds the agent runnable (its promise completed, its status still suspended) and
    schedules it. The woken thread reads the store after both, so the scan's find is
    left to it: no second run (it took the lease and found nothing, on the way of the
    held answer)."""
    host, scheduler = served
    agent, invocation, idx = _parked(host, "scanned")
    parking = host.executor.parking
    assert parking is not None
    runs = scheduler._start_count
    # Holding the parking's lock keeps the woken thread from leaving its spot.
    with parking._cond:
        assert host.store.complete_promise(PromiseId(agent, idx), b"[1,2,3]")
        scheduler.schedule(agent)  # the completion's wake-up
        scheduler.schedule(agent, scanned=scheduler._start_count)  # the scan's find
        assert agent not in scheduler._again
    _until(lambda: host.store.get_invocation(invocation).state == "done")
    _until(lambda: not scheduler._scheduled)
    assert scheduler._start_count == runs
    assert host.store.get_invocation(invocation).result == RESULT_123


def test_park_s_0_drops_the_instance_at_suspension(tmp_path: Path) -> None:
    """``serve --park-s 0``: no parking; the completion starts a new run (instantiate and
    replay), with the same result."""
    scheduler = PoolScheduler(workers=4, poll_interval=3600, park_s=0)
    host = HostService(tmp_path / "store", scheduler=scheduler)
    try:
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        assert host.executor.parking is None
        agent, _ = host.create_agent("p", "unparked")
        invocation = host.invoke(agent, "create-and-await()").invocation_id
        _until(lambda: host.store.get_agent(agent).status == "suspended")
        _until(lambda: not scheduler._scheduled)
        runs = scheduler._start_count
        (idx,) = host.store.get_agent(agent).waiting_promises
        assert host.complete_promise(PromiseId(agent, idx), b"[1,2,3]")
        _until(lambda: host.store.get_invocation(invocation).state == "done")
        assert scheduler._start_count == runs + 1  # a run of its own: nothing was parked
        assert host.store.get_invocation(invocation).result == RESULT_123
    finally:
        scheduler.stop()
        host.close()


def test_a_parked_await_promise_goes_on_with_the_payload(tmp_path: Path) -> None:
    """The 1.1.6 generation's await-promise (a host call that waits itself, not through a
    pollable) parks too, and goes on in the same run with the completion's bytes."""
    scheduler = PoolScheduler(workers=4, poll_interval=3600)
    host = HostService(tmp_path / "store", scheduler=scheduler)
    try:
        host.add_component(build_fixture("promises-1.1.6"), name="old")
        parking = host.executor.parking
        assert parking is not None
        agent, _ = host.create_agent("old", "awaiting")
        created = host.invoke(agent, "create()").invocation_id
        _until(lambda: host.store.get_invocation(created).state == "done")
        idx = int(host.store.get_invocation(created).result or "")
        invocation = host.invoke(agent, f"await({idx})").invocation_id
        _until(
            lambda: parking.is_parked(agent) and host.store.get_agent(agent).status == "suspended"
        )
        runs = scheduler._start_count
        assert host.complete_promise(PromiseId(agent, idx), b"\x07\x08")
        _until(lambda: host.store.get_invocation(invocation).state == "done")
        _until(lambda: not scheduler._scheduled)
        assert scheduler._start_count == runs  # went on live
        assert host.store.get_invocation(invocation).result == "[7, 8]"
    finally:
        scheduler.stop()
        host.close()
