"""A plain ``agent-host serve`` (one process) across resume and SIGTERM.

- ``POST .../resume`` answers once the resumed run has ended (or come to rest), so a
  client that deletes the agent right after is not refused 409 for a run it could not see.
- SIGTERM closes the service: the process's leases and its process row are gone from the
  store, and the exit code is 0. Before, uvicorn re-raised the signal after its shutdown
  and the default action killed the process before ``service.close()`` ran.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.fixtures.build import build_fixture
from tests.fixtures.postgres import url_for
from tests.server_util import Api, Server, add_component, store_view

TICKS = 20
SPIN = 30_000_000  # ~0.1 s of busy loop after each line: the whole call takes ~2 s


def _owners(store: Path) -> tuple[list[str], list[str]]:
    """The owners of the lease rows and the process rows of the store."""
    url = url_for(store)
    if url is not None:
        import psycopg

        with psycopg.connect(url) as conn:
            leases = [str(r[0]) for r in conn.execute("SELECT owner FROM leases")]
            procs = [str(r[0]) for r in conn.execute("SELECT owner FROM processes")]
        return leases, procs
    (db,) = store.glob("*.db")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        leases = [str(r[0]) for r in conn.execute("SELECT owner FROM leases")]
        procs = [str(r[0]) for r in conn.execute("SELECT owner FROM processes")]
    return leases, procs


def _of_pid(owners: list[str], pid: int) -> list[str]:
    return [o for o in owners if o.split(":")[1] == str(pid)]


def test_sigterm_releases_the_leases_and_exits_0(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("ticker"), "ticker")
    server = Server(store).start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        api = Api(server.client(), cid)
        done = api.invoke_and_await("t1", "tick", [1, 0])
        assert done.status_code == 200, done.text
        leases, procs = _owners(store)
        # The server keeps the agent's lease after the run (issue 13): there is one to release.
        assert len(_of_pid(leases, pid)) == 1, leases
        assert len(_of_pid(procs, pid)) == 1, procs
        code = server.stop()
        assert code == 0, server.output()[-3000:]
        assert "Traceback" not in server.output(), server.output()[-3000:]
        leases, procs = _owners(store)
        assert _of_pid(leases, pid) == [] and _of_pid(procs, pid) == [], (leases, procs)
    finally:
        server.kill()


def test_delete_right_after_resume_is_not_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("ticker"), "ticker")
    server = Server(store).start()
    try:
        with server.client(timeout=60) as client:
            api = Api(client, cid)
            started = api.invoke("t1", "tick", [TICKS, SPIN])
            assert started.status_code == 202, started.text
            api.wait_status("t1", "Running", timeout=30)
            stopped = client.post(api.path("t1", "/interrupt"))
            assert stopped.status_code == 200, stopped.text
            assert api.status("t1") == "Interrupted"
            resumed = client.post(api.path("t1", "/resume"))
            assert resumed.status_code == 200, resumed.text
            # The answer came after the resumed run: the replay and the rest of the
            # invocation, run live, are over.
            assert api.status("t1") == "Idle"
            inv = started.json()["invocationId"]
            done = client.get(api.path("t1", f"/invocations/{inv}"))
            assert done.status_code == 200 and done.json()["result"] == TICKS, done.text
            deleted = client.delete(api.path("t1"))
            assert deleted.status_code == 200, deleted.text
            assert client.get(api.path("t1")).status_code == 404
        view = store_view(store)
        try:
            assert view.list_agents() == []
        finally:
            view.close()
    finally:
        server.kill()
