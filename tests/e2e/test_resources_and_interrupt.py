"""Exported resources and interruption through the front ends (issue 11, items 7 and 8):
the `agent-host` CLI as a separate process and a real `agent-host serve` over HTTP, with
Golem's function names for resource methods and handles in results."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from host.oplog import HostCall
from host.store.url import open_store
from tests.fixtures.build import build_fixture
from tests.server_util import Api, Server, add_component, cli, store_view, wait_until

API = "agent-host:fixtures/api"


def test_cli_resources_by_golems_names_with_handles_in_results(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("counters"), "counters")
    made = cli(store, "invoke", "counters", "c1", f'{API}.{{counter.new}}("x")')
    assert made.returncode == 0, made.stderr
    handle = f"urn:worker:{cid}/c1/0"
    assert made.stdout.strip() == f'"{handle}"'
    for call in (
        f'{API}.{{counter("c1").inc-by}}(5)',
        f'{API}.{{[method]counter.inc-by}}("{handle}", 2)',
    ):
        done = cli(store, "invoke", "counters", "c1", call)
        assert done.returncode == 0, done.stderr
    # Every invocation is a new process: the instances come back by replay.
    got = cli(store, "invoke", "counters", "c1", f'{API}.{{counter("c1").get}}')
    assert got.stdout.strip() == "5", got.stderr
    got = cli(store, "invoke", "counters", "c1", f'{API}.{{counter.get}}("{handle}")')
    assert got.stdout.strip() == "2", got.stderr
    bad = cli(store, "invoke", "counters", "c1", f'{API}.{{counter.get}}("/7")')
    assert bad.returncode != 0 and "has no counter 7" in bad.stderr
    assert "Traceback" not in bad.stderr
    shown = cli(store, "component", "show", "counters")
    assert f"{API}.{{[drop]counter}}: func(self: own<counter>)" in shown.stdout


def test_rest_resources_and_interrupting_a_running_agent(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("counters"), "counters")
    tid = add_component(store, build_fixture("ticker"), "ticker")
    server = Server(store).start()
    try:
        with server.client() as client:
            api = Api(client, cid)
            made = api.invoke_and_await("c1", f"{API}.{{[constructor]counter}}", ["x"])
            assert made.status_code == 200, made.text
            handle = made.json()["result"]
            assert handle == f"urn:worker:{cid}/c1/0"
            inc = api.invoke_and_await("c1", f"{API}.{{[method]counter.inc-by}}", [handle, 4])
            assert inc.status_code == 200, inc.text
            indexed = api.invoke_and_await("c1", f'{API}.{{counter("c1").inc-by}}', [3])
            assert indexed.status_code == 200, indexed.text
            got = api.invoke_and_await("c1", f"{API}.{{counter.get}}", [handle])
            assert got.json()["result"] == 4
            got = api.invoke_and_await("c1", f'{API}.{{counter("c1").get}}', [])
            assert got.json()["result"] == 3
            bad = api.invoke_and_await("c1", f"{API}.{{counter.get}}", [17])
            assert bad.status_code == 400, bad.text
            # The worker's metadata lists the instances it owns, in Golem's shape.
            owned = api.worker("c1")["exportedResourceInstances"]
            assert [(r["key"], r["description"]["resourceName"]) for r in owned] == [
                (0, "counter"),
                (1, "counter"),
            ]
            assert {r["description"]["resourceOwner"] for r in owned} == {API}
            assert all(r["description"]["createdAt"] for r in owned)
            dropped = api.invoke_and_await("c1", f"{API}.{{counter.drop}}", [handle])
            assert dropped.status_code == 200, dropped.text
            owned = api.worker("c1")["exportedResourceInstances"]
            assert [r["key"] for r in owned] == [1]

            ticker = Api(client, tid)
            started = ticker.invoke("t1", "tick", [50, 30_000_000])  # ~5 s of work
            assert started.status_code == 202, started.text
            ticker.wait_status("t1", "Running")
            time.sleep(0.3)
            stopped = client.post(ticker.path("t1", "/interrupt"))
            assert stopped.status_code == 200, stopped.text
            assert ticker.status("t1") == "Interrupted"
            resumed = client.post(ticker.path("t1", "/resume"))
            assert resumed.status_code == 200, resumed.text
            wait_until(lambda: ticker.status("t1") == "Idle", timeout=60)
            inv = started.json()["invocationId"]
            done = client.get(ticker.path("t1", f"/invocations/{inv}"))
            assert done.status_code == 200 and done.json()["result"] == 50, done.text
        server.stop()
        db = store_view(store)
        try:
            (agent,) = [a.agent for a in db.list_agents() if a.agent.name == "t1"]
            log = db.read_oplog(agent)
        finally:
            db.close()
        writes = [e for e in log if isinstance(e, HostCall) and "write" in e.function]
        assert len(writes) == 50  # each write made once across the interrupt and resume
    finally:
        server.kill()


# Both stores by parameter, as the server hears the CLI's request differently: on SQLite
# through the local wake-up channel, on PostgreSQL through NOTIFY.
@pytest.mark.parametrize(
    "kind", [pytest.param("sqlite", marks=pytest.mark.sqlite_only), "postgresql"]
)
def test_cli_interrupt_of_an_agent_the_server_runs(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """`agent interrupt` from the CLI stops an invocation the server runs: the request
    reaches the server (host/runtime/remote_interrupt.py), which stops it within an
    epoch tick as its own POST .../interrupt does; `agent resume` from the CLI continues
    it by replay in the CLI's process (each write made once), the server's held wait
    answering with its result."""
    store = tmp_path / "store"
    url = str(request.getfixturevalue("pg_url")) if kind == "postgresql" else None
    target: Path | str = url or store
    extra = ("--data-dir", str(tmp_path / "data")) if url else ()
    tid = add_component(target, build_fixture("ticker"), "ticker", *extra)
    server = Server(store, store_url=url, global_args=extra).start()
    try:
        with server.client() as client:
            ticker = Api(client, tid)
            started = ticker.invoke("t1", "tick", [150, 20_000_000])  # ~15 s of work
            assert started.status_code == 202, started.text
            ticker.wait_status("t1", "Running")
            stopped = cli(target, *extra, "agent", "interrupt", "ticker", "t1")
            assert stopped.returncode == 0, (stopped.stdout, stopped.stderr)
            assert "Traceback" not in stopped.stderr
            assert ticker.status("t1") == "Interrupted"
            inv = started.json()["invocationId"]
            assert ticker.worker("t1")["status"] == "Interrupted"
            resumed = cli(target, *extra, "agent", "resume", "ticker", "t1")
            assert resumed.returncode == 0, resumed.stderr
            done = client.get(ticker.path("t1", f"/invocations/{inv}"), params={"wait": 30})
            assert done.status_code == 200 and done.json()["result"] == 150, done.text
            assert ticker.status("t1") == "Idle"
        db = open_store(url) if url else store_view(store)
        try:
            (agent,) = [a.agent for a in db.list_agents() if a.agent.name == "t1"]
            log = db.read_oplog(agent)
        finally:
            db.close()
        writes = [e for e in log if isinstance(e, HostCall) and "write" in e.function]
        assert len(writes) == 150  # each write made once across the interrupt and resume
    finally:
        server.stop()
