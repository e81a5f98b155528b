"""The pool scheduler runs a woken agent once: a scan that finds it due while its run
still waits in the pool's queue adds no second run (issue 13: each resume in the server
used to run the agent twice, the second run scheduled by the 0.25 s scanner); and the
resume takes no lease transaction: the server's executor kept the lease."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from host.clock import steady_ns
from host.ids import PromiseId
from host.runtime.scheduler import PoolScheduler
from host.service import HostService
from host.store import DB_FILENAME
from host.store.sqlite import SqliteStore
from tests.fixtures.build import build_fixture


class LeaseCountingStore(SqliteStore):
    """A real SQLite store counting the lease transactions it commits."""

    leases = 0

    def _commit(self, db: sqlite3.Connection, method: str) -> None:
        super()._commit(db, method)
        self.leases += sum(m in ("acquire_lease", "release_lease") for m in method.split("+"))


def _until(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_scan_does_not_run_a_woken_agent_whose_run_is_queued(tmp_path: Path) -> None:
    data = tmp_path / "store"
    store = LeaseCountingStore(data / DB_FILENAME)
    scheduler = PoolScheduler(workers=1, poll_interval=3600)  # scans only when told
    host = HostService(data, store=store, scheduler=scheduler)
    try:
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        agent, _ = host.create_agent("p", "once")
        invocation = host.invoke(agent, "create-and-await()")
        _until(lambda: store.get_agent(agent).status == "suspended")
        _until(lambda: not scheduler._scheduled)
        (idx,) = store.get_agent(agent).waiting_promises

        # The pool's one thread is busy: the completion's run waits in its queue.
        release = threading.Event()
        scheduler._pool.submit(release.wait, 30)
        runs, leases = scheduler._start_count, store.leases
        assert host.complete_promise(PromiseId(agent, idx), b"[1,2,3]")
        assert store.runnable_agents(steady_ns()) == [agent]  # what a scan finds
        scheduler.scan()
        release.set()

        _until(lambda: store.get_invocation(invocation.invocation_id).state == "done")
        _until(lambda: not scheduler._scheduled)
        assert scheduler._start_count - runs == 1
        assert store.leases == leases  # the lease was kept from the first run
        assert store.get_agent(agent).status == "idle"
    finally:
        scheduler.stop()
        host.close()


def test_a_kept_lease_leaves_the_work_to_its_holder_until_it_stops(tmp_path: Path) -> None:
    """The server keeps the lease of an agent it ran; a CLI completing that agent's
    promise does not wait for the lease (a TTL) but for the server to do the work; once
    the server stops, its leases are free at once."""
    data = tmp_path / "store"
    scheduler = PoolScheduler(workers=2, poll_interval=0.05)
    server = HostService(data, scheduler=scheduler)
    scheduler.start()
    cli = HostService(data)
    try:
        server.add_component(build_fixture("promises-1.3.0"), name="p")
        agent, _ = server.create_agent("p", "kept")
        invocation = server.invoke(agent, "create-and-await()")
        _until(lambda: server.store.get_agent(agent).status == "suspended")
        _until(lambda: not scheduler._scheduled)
        assert cli.store.acquire_lease(agent, cli.executor.owner, 300) == server.executor.owner
        (idx,) = server.store.get_agent(agent).waiting_promises

        began = time.monotonic()
        completion = cli.complete(PromiseId(agent, idx), b"[1,2,3]")
        assert completion.completed and time.monotonic() - began < 30  # not a TTL (300 s)
        assert cli.store.get_invocation(invocation.invocation_id).state == "done"
        assert cli.store.get_agent(agent).status == "idle"
        assert not cli.executor._owned and not cli.executor._leased
    finally:
        scheduler.stop()
        server.close()
    assert cli.store.acquire_lease(agent, cli.executor.owner, 300) is None  # released
    cli.close()
