"""``agent-host serve --workers 2`` (issue 13 item 6): two host processes on one port and
one SQLite store, each agent run by one of them, and work arriving at the other process
reaching the owner at once through the local wake-up channel (host/store/wakeup.py).

The scanner's poll interval is 30 s here, so anything that arrives within 10 s came
through the channel, not a scan. Which process answers a connection is told by the pid
``/healthz`` returns; a keep-alive connection stays with its process.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fixtures.build import build_fixture
from tests.server_util import Api, Server, cli, json_bytes, wait_until

POLL_S = 30.0  # no scan during a test: only the channel can bring work across
PROMPT_S = 10.0  # far below POLL_S, far above the few ms the channel takes


@dataclass
class Two:
    """``serve --workers 2`` on a store, and how to read who holds an agent's lease."""

    server: Server
    cid: str
    cli_args: tuple[str, ...]  # the store URL or directory, then options the CLI needs
    owner_of: Callable[[str], int | None]  # agent name -> pid of its lease holder
    killed: set[int] = field(default_factory=set)  # pids a test killed with SIGKILL


# Both stores by parameter; under the PostgreSQL switch the SQLite one is that switch's
# SQLite run's (its data directory would be given a PostgreSQL schema), so it is left out.
@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite_only), "postgresql"])
def two(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Two]:
    store = tmp_path / "store"
    store_url: str | None = None
    global_args: tuple[str, ...] = ()
    if request.param == "postgresql":
        store_url = str(request.getfixturevalue("pg_url"))
        global_args = ("--data-dir", str(tmp_path / "data"))
    target = store_url or str(store)
    fixture = str(build_fixture("promises-1.3.0"))
    added = cli(target, *global_args, "component", "add", fixture, "--name", "promises")
    assert added.returncode == 0, added.stderr
    server = Server(
        store, poll_interval=POLL_S, processes=2, store_url=store_url, global_args=global_args
    ).start()

    def owner_of(name: str) -> int | None:
        if store_url is not None:
            import psycopg

            with psycopg.connect(store_url) as conn:
                row = conn.execute("SELECT owner FROM leases WHERE name = %s", (name,)).fetchone()
        else:
            with sqlite3.connect(f"file:{_db(store)}?mode=ro", uri=True) as db:
                row = db.execute("SELECT owner FROM leases WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(str(row[0]).split(":")[1])

    try:
        two = Two(server, added.stdout.strip(), (target, *global_args), owner_of)
        yield two
    finally:
        code = server.stop()
        output = server.output()
        assert code == 0, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
        if store_url is None:  # each process closed its channel (removed its marker)...
            markers = Path(f"{os.path.realpath(_db(store))}.wake")
            left = [
                m.name for m in markers.iterdir() if int(m.name.split("-")[0]) not in two.killed
            ]
            assert left == [], left
            # ...and released its leases (deleted its process row) as it stopped.
            with sqlite3.connect(f"file:{_db(store)}?mode=ro", uri=True) as db:
                rows = db.execute("SELECT owner FROM processes").fetchall()
            assert [r for r in rows if int(str(r[0]).split(":")[1]) not in two.killed] == []


def _connections(server: Server, cid: str) -> dict[int, Api]:
    """One keep-alive client per worker process, keyed by its pid."""
    apis: dict[int, Api] = {}
    spare: list[httpx.Client] = []
    deadline = time.monotonic() + 30
    while len(apis) < 2:
        assert time.monotonic() < deadline, f"only reached processes {list(apis)}"
        client = server.client()
        pid = int(client.get("/healthz").json()["pid"])
        if pid in apis:
            spare.append(client)  # kept open: the next connection goes elsewhere more often
        else:
            apis[pid] = Api(client, cid)
    return apis


def _db(store: Path) -> Path:
    found = list(store.glob("*.db"))
    assert found, f"no database in {store}"
    return found[0]


def test_both_processes_serve_and_each_agent_has_one_owner(two: Two) -> None:
    server, cid = two.server, two.cid
    apis = _connections(server, cid)
    assert len(set(apis)) == 2 and server.proc is not None
    assert server.proc.pid not in apis  # the parent only supervises
    for pid, api in apis.items():
        name = f"agent-of-{pid}"
        created = api.invoke_and_await(name, "create")
        assert created.status_code == 200, created.text
        # The process that received the first invocation ran it and keeps its lease.
        assert two.owner_of(name) == pid


def test_work_at_one_process_reaches_the_owner_at_once(two: Two) -> None:
    server, cid = two.server, two.cid
    (owner_pid, owner), (other_pid, other) = _connections(server, cid).items()
    created = owner.invoke_and_await("cross", "create")
    assert created.status_code == 200, created.text
    idx = int(created.json()["result"])
    assert two.owner_of("cross") == owner_pid
    waiter = Api(server.client(timeout=60), cid)
    assert int(waiter.http.get("/healthz").json()["pid"]) in (owner_pid, other_pid)
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        # An invocation sent to the other process: the owner is told and runs it.
        held = pool.submit(other.invoke_and_await, "cross", "await", [idx], timeout=50)
        owner.wait_status("cross", "Suspended", timeout=PROMPT_S)
        assert time.monotonic() - started < PROMPT_S
        # The completion also goes to the other process; the held request there hears
        # that the owner finished.
        started = time.monotonic()
        done = other.complete("cross", idx, json_bytes("hello"))
        assert done.status_code == 200 and done.json() is True, done.text
        response = held.result(timeout=PROMPT_S)
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert bytes(response.json()["result"]) == b'"hello"'
    assert elapsed < PROMPT_S, f"{elapsed:.1f} s: the scanner, not the channel, found it"
    assert two.owner_of("cross") == owner_pid  # it never moved


def test_a_killed_worker_process_is_restarted(two: Two) -> None:
    server, cid = two.server, two.cid
    apis = _connections(server, cid)
    victim = min(apis)
    two.killed.add(victim)
    os.kill(victim, signal.SIGKILL)

    def restarted() -> bool:
        return f"worker process {victim} exited (killed by SIGKILL); restarting" in server.output()

    wait_until(restarted, timeout=20, what="the parent to restart the killed process")
    # Still two processes serve: new connections reach a pid other than the survivor.
    survivor = max(apis)
    seen: set[int] = set()

    def another_process() -> bool:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            answer = client.get("/healthz")
        seen.add(int(answer.json()["pid"])) if answer.status_code == 200 else None
        return bool(seen - {survivor, victim})

    wait_until(another_process, timeout=30, interval=0.01, what="a restarted process")
    assert victim not in seen


def test_a_completion_by_the_cli_reaches_the_owning_process_at_once(two: Two) -> None:
    server, cid = two.server, two.cid
    (owner_pid, owner), _ = _connections(server, cid).items()
    created = owner.invoke_and_await("by-cli", "create")
    assert created.status_code == 200, created.text
    idx = int(created.json()["result"])
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(owner.invoke_and_await, "by-cli", "await", [idx], timeout=50)
        owner.wait_status("by-cli", "Suspended", timeout=PROMPT_S)
        started = time.monotonic()
        complete = ("promise", "complete", "promises", "by-cli", str(idx), "--text", "cli")
        done = cli(*two.cli_args, *complete)
        assert done.returncode == 0, done.stderr
        response = held.result(timeout=PROMPT_S)
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert bytes(response.json()["result"]) == b"cli"
    assert elapsed < PROMPT_S, f"{elapsed:.1f} s: the scanner, not the channel, found it"
    assert two.owner_of("by-cli") == owner_pid


@pytest.mark.sqlite_only  # a damaged SQLite file is the failing start
def test_a_start_that_fails_in_the_workers_fails_once_with_their_error(tmp_path: Path) -> None:
    import subprocess

    from tests.server_util import AGENT_HOST, free_port

    store = tmp_path / "damaged"
    store.mkdir()
    (store / "agent-host.db").write_bytes(b"not a database, " * 64)
    done = subprocess.run(
        [AGENT_HOST, "--store", str(store), "serve", "--workers", "2", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 6, done.stderr  # a StoreError's exit code, from a child
    assert "Error: cannot open the store" in done.stderr
    assert "failed to start (exit 6); stopping" in done.stderr
    assert "Traceback" not in done.stderr
    assert "restarting" not in done.stderr
