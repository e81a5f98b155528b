"""The PostgreSQL store's own behaviour, on a real server the tests start
(tests/fixtures/postgres.py): schema versions, errors when the server goes away, leases
judged on the database's clock with fencing, LISTEN/NOTIFY wake-ups, concurrent
completions from two stores, and two host processes sharing one agent's work."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from host.errors import LeaseLost, StoreError
from host.ids import AgentId
from host.oplog import AgentCreated, HostCall, InvocationStarted, PromiseCreated, Suspended
from host.service import HostService
from host.store import open_store
from host.store.postgres import PostgresStore
from tests.fixtures.build import build_fixture


def _agent(store: PostgresStore) -> AgentId:
    agent = AgentId(uuid.uuid4(), "a")
    assert store.create_agent(agent, "hash", AgentCreated(str(agent.component_id), "hash"))
    return agent


def test_a_newer_schema_is_refused_and_reopening_migrates_nothing(pg_url: str) -> None:
    PostgresStore(pg_url).close()
    PostgresStore(pg_url).close()  # already migrated: opens as it is
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 0)")
    with pytest.raises(StoreError, match="newer"):
        PostgresStore(pg_url)


def test_hosts_opening_a_new_database_at_once_migrate_it_once(pg_url: str) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            PostgresStore(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_connection_lost_mid_use_is_a_store_error_and_the_next_call_reconnects(
    pg_url: str,
) -> None:
    store = PostgresStore(pg_url)
    try:
        agent = _agent(store)
        pid = store._conn().info.backend_pid
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreError, match="cannot be reached"):
            store.get_agent(agent)
        assert store.get_agent(agent).oplog_length == 1  # a new connection
    finally:
        store.close()


def test_leases_expire_on_the_database_clock_and_fence_the_old_owner(pg_url: str) -> None:
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        agent = _agent(first)
        assert first.acquire_lease(agent, "A", 0.5) is None
        assert second.acquire_lease(agent, "B", 0.5) == "A"
        assert first.renew_lease(agent, "A", 0.5) is True
        time.sleep(0.7)  # A stalls past its TTL (by the server's clock)
        assert second.acquire_lease(agent, "B", 30) is None
        with pytest.raises(LeaseLost):
            first.append(agent, 2, [HostCall("f", [], 1)])
        assert first.renew_lease(agent, "A", 0.5) is False
        assert first.oplog_length(agent) == 1  # the stale owner wrote nothing
        second.append(agent, 2, [HostCall("f", [], 2)])
        assert first.acquire_lease(agent, "A", 0.5) == "B"
        second.release_lease(agent, "B")
        assert first.acquire_lease(agent, "A", 0.5) is None  # released: free at once
    finally:
        first.close()
        second.close()


def test_a_completion_in_one_store_wakes_a_listener_of_another(pg_url: str) -> None:
    owner, other = PostgresStore(pg_url), PostgresStore(pg_url)
    events: list[tuple[AgentId, bool]] = []
    arrived = threading.Event()

    def on_event(agent: AgentId, work: bool) -> None:
        events.append((agent, work))
        arrived.set()

    stop = owner.listen(on_event)
    try:
        agent = _agent(owner)
        promise = owner.create_promise(agent, [PromiseCreated("c")], 2, "fn")
        assert owner.suspend(agent, [], 3, Suspended((2,), None))
        time.sleep(0.3)  # the listener is connected
        assert events == []  # the owner's own writes are not echoed back to it
        started = time.monotonic()
        assert other.complete_promise(promise, b"x")
        assert arrived.wait(5.0)
        assert time.monotonic() - started < 2.0
        assert events == [(agent, True)]
    finally:
        stop()
        owner.close()
        other.close()


def test_concurrent_completions_from_two_stores_have_one_winner(pg_url: str) -> None:
    stores = [PostgresStore(pg_url), PostgresStore(pg_url)]
    try:
        agent = _agent(stores[0])
        promises = [
            stores[0].create_promise(agent, [PromiseCreated("c")], 2 + i, "fn") for i in range(5)
        ]
        results: list[tuple[int, bool]] = []
        lock = threading.Lock()

        def complete(n: int) -> None:
            for i, promise in enumerate(promises):
                won = stores[n % 2].complete_promise(promise, f"{n}".encode())
                with lock:
                    results.append((i, won))

        threads = [threading.Thread(target=complete, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, promise in enumerate(promises):
            assert sum(won for j, won in results if j == i) == 1
            data = stores[1].get_promise(promise).data
            assert data is not None and data.decode().isdigit()
    finally:
        for store in stores:
            store.close()


WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from host.runtime.scheduler import PoolScheduler
    from host.service import HostService

    # A long scan interval: work must reach this process through NOTIFY, not a scan.
    scheduler = PoolScheduler(workers=2, poll_interval=60.0)
    host = HostService(sys.argv[1], data_dir=Path(sys.argv[2]), scheduler=scheduler)
    scheduler.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the test closes it
    scheduler.stop()
    host.close()
    """
)


@pytest.mark.slow
def test_two_host_processes_share_one_agent_without_running_anything_twice(
    pg_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    host = HostService(pg_url, data_dir=data_dir)
    workers: list[subprocess.Popen[str]] = []
    try:
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        agent, _ = host.create_agent("p", "shared")

        def enqueue(function: str) -> str:
            invocation_id = str(uuid.uuid4())
            host.store.enqueue(agent, invocation_id, function, (), None)
            return invocation_id

        # Queued by a bare store (nobody schedules them, nobody holds the agent): both
        # workers find them in their first scan and race for them.
        calls = [enqueue("create") for _ in range(8)]
        for _ in range(2):
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, pg_url, str(data_dir)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"

        def state(invocation_id: str) -> str:
            return str(host.store.get_invocation(invocation_id).state)

        def wait(predicate: object, timeout: float = 60.0) -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if predicate():  # type: ignore[operator]
                    return
                time.sleep(0.05)
            raise AssertionError(f"timed out; oplog: {host.store.read_oplog(agent)}")

        wait(lambda: all(state(i) == "done" for i in calls))
        # The worker that ran them keeps the agent's lease and hears this through NOTIFY.
        waiting = enqueue("create-and-await")
        wait(lambda: host.store.get_agent(agent).status == "suspended", timeout=10.0)
        pending = max(host.store.list_promises(agent), key=lambda p: p.id.oplog_idx)
        started = time.monotonic()
        assert host.store.complete_promise(pending.id, b"hello")
        wait(lambda: state(waiting) == "done", timeout=10.0)
        # Woken through NOTIFY (the workers scan only once a minute).
        assert time.monotonic() - started < 10.0
        starts = [e for e in host.store.read_oplog(agent) if isinstance(e, InvocationStarted)]
        ids = [e.invocation_id for e in starts]
        assert sorted(ids) == sorted([*calls, waiting])  # each started exactly once
        results = {host.store.get_invocation(i).result for i in calls}
        assert len(results) == len(calls)  # distinct promise ids: no call ran twice
    finally:
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.close()
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        host.close()


def test_the_cli_and_service_open_a_postgresql_store_with_a_data_dir(
    pg_url: str, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="data directory"):
        HostService(pg_url)
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    store.close()


def test_the_cli_runs_an_agent_on_a_postgresql_store(pg_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from host.cli import main

    runner = CliRunner()
    base = ["--store", pg_url, "--data-dir", str(tmp_path / "data")]
    added = runner.invoke(main, [*base, "component", "add", str(build_fixture("promises-1.3.0")),
                                 "--name", "p"])  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = runner.invoke(main, [*base, "--json", "component", "list"])
    assert listed.exit_code == 0 and '"p"' in listed.output
    missing = runner.invoke(main, ["--store", pg_url, "component", "list"])
    assert missing.exit_code != 0 and "data directory" in missing.output
