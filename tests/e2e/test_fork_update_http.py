"""Update, revert and fork through the front ends (issue 11, item 6): a real
`agent-host serve` over HTTP with Golem's request bodies, and the CLI as a separate
process. Guests: the conformance guests `updater` (versions 1 and 2) and `fork`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fixtures.build import build_fixture
from tests.running_update import (
    result_of,
    start_tick,
    start_tick_then_upload,
    ticker_server,
    upload,
)
from tests.server_util import Api, Server, add_component, cli, wait_until


def test_rest_update_revert_and_fork(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("updater-1.5.0"), "updater")
    server = Server(store).start()
    try:
        with server.client() as client:
            api = Api(client, cid)
            for name, n in (("auto", 3), ("manual", 4)):
                done = api.invoke_and_await(name, "add", [n])
                assert done.status_code == 200 and done.json()["result"] == n, done.text
            assert upload(client, "updater", "updater-v2-1.5.0")["componentVersion"] == 2

            # Golem 1.5's body, and Golem 1.2's spelling of the same.
            for name, body in (
                ("auto", {"mode": "automatic", "targetRevision": 2}),
                ("manual", {"mode": "Manual", "targetVersion": 2}),
            ):
                r = client.post(api.path(name, "/update"), json=body)
                assert r.status_code == 200 and r.json() == {}, r.text  # Golem's shape

            def on_version_2(name: str) -> Callable[[], bool]:
                return lambda: bool(api.worker(name)["componentVersion"] == 2)

            for name, total in (("auto", 3), ("manual", 4)):
                wait_until(on_version_2(name), what=name)
                assert api.invoke_and_await(name, "version").json()["result"] == 2
                assert api.invoke_and_await(name, "total").json()["result"] == total
            oplog = client.get(api.path("manual", "/oplog")).json()["entries"]
            kinds = [e.get("entry", e)["type"] for e in oplog]
            assert "pending-update" in kinds and "successful-update" in kinds

            # Revert the last invocation (total), then the add: the total is 0 again.
            r = client.post(
                api.path("auto", "/revert"),
                json={"type": "RevertLastInvocations", "numberOfInvocations": 3},
            )
            assert r.status_code == 200, r.text
            assert api.invoke_and_await("auto", "total").json()["result"] == 0

            # Fork "manual" at its whole oplog: the copy has its state, then its own.
            length = len(client.get(api.path("manual", "/oplog")).json()["entries"])
            target = {"componentId": cid, "agentId": "copy"}
            r = client.post(
                api.path("manual", "/fork"),
                json={"targetAgentId": target, "oplogIndexCutoff": length},
            )
            assert r.status_code == 200, r.text
            assert api.invoke_and_await("copy", "add", [10]).json()["result"] == 14
            assert api.invoke_and_await("manual", "total").json()["result"] == 4
            env = dict(api.worker("copy")["env"])
            assert env["GOLEM_AGENT_ID"] == "copy"

            # Bad requests: 400 naming the field, 404 unknown agent, 409 taken name.
            bad: list[tuple[str, str, dict[str, Any], int, str | None]] = [
                ("auto", "/update", {"mode": "automatic"}, 400, "body.targetRevision"),
                ("auto", "/update", {"mode": "sideways", "targetRevision": 2}, 400, "body.mode"),
                ("auto", "/update", {"mode": "automatic", "targetRevision": 9}, 400, None),
                ("ghost", "/update", {"mode": "automatic", "targetRevision": 2}, 404, None),
                ("auto", "/revert", {"type": "RevertToOplogIndex"}, 400, "body.lastOplogIndex"),
                ("auto", "/revert", {"type": "Sideways", "lastOplogIndex": 2}, 400, "body.type"),
                (
                    "manual",
                    "/fork",
                    {"targetAgentId": target, "oplogIndexCutoff": 0},
                    400,
                    "body.oplogIndexCutoff",
                ),
                (
                    "manual",
                    "/fork",
                    {"targetAgentId": {**target, "agentId": "c2"}, "oplogIndexCutoff": 10_000},
                    400,
                    "body.oplogIndexCutoff",
                ),
                ("manual", "/fork", {"targetAgentId": target, "oplogIndexCutoff": 2}, 409, None),
                ("ghost", "/fork", {"targetAgentId": target, "oplogIndexCutoff": 2}, 404, None),
            ]
            for name, route, body, status, field in bad:
                r = client.post(api.path(name, route), json=body)
                assert r.status_code == status, (route, body, r.text)
                if field is not None:
                    assert json.dumps(field) in r.text, (route, body, r.text)
    finally:
        server.stop()


def test_cli_fork_and_update(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_component(store, build_fixture("updater-1.5.0"), "updater")
    assert cli(store, "invoke", "updater", "a", "add(5)").stdout.strip() == "5"
    add_component(store, build_fixture("updater-v2-1.5.0"), "updater")
    done = cli(store, "agent", "update", "updater", "a", "--version", "2", "--mode", "snapshot")
    assert done.returncode == 0, done.stderr
    assert "updated to version 2" in done.stdout
    assert cli(store, "invoke", "updater", "a", "version()").stdout.strip() == "2"
    shown = cli(store, "oplog", "updater", "a")
    assert "update to version 2 requested (snapshot-based)" in shown.stdout
    assert "updated to version 2 (snapshot-based)" in shown.stdout
    forked = cli(store, "agent", "fork", "updater", "a", "b")
    assert forked.returncode == 0, forked.stderr
    assert cli(store, "invoke", "updater", "b", "add(1)").stdout.strip() == "6"
    assert cli(store, "invoke", "updater", "a", "total()").stdout.strip() == "5"
    again = cli(store, "agent", "fork", "updater", "a", "b")
    assert again.returncode != 0 and "exists" in again.stderr
    assert "Traceback" not in again.stderr
    late = cli(store, "agent", "fork", "updater", "a", "c", "--cut-off", "999")
    assert late.returncode != 0 and "entries 1.." in late.stderr
    bad = cli(store, "agent", "update", "updater", "a", "--version", "9")
    assert bad.returncode != 0 and "no version 9" in bad.stderr


def test_rest_manual_update_of_a_running_agent_is_queued_after_its_invocation(
    tmp_path: Path,
) -> None:
    """Golem queues a manual (snapshot-based) update requested for a running worker: the
    request is answered ``{}`` at once, the invocation that runs finishes on the old
    version, then the update is applied; the worker's ``updates`` show it pending, then
    its outcome (here failed, with the reason: ticker exports no load-snapshot). An
    automatic one restarts the invocation instead (tests/e2e/test_update_running_http.py)."""
    with ticker_server(tmp_path) as (store, client, api):
        assert api.invoke_and_await("t1", "tick", [1, 0]).json()["result"] == 1
        assert upload(client, "ticker", "ticker-v2")["componentVersion"] == 2
        result_url = start_tick(api, "t1", 20)
        manual = {"mode": "manual", "targetRevision": 2}
        assert client.post(api.path("t1", "/update"), json=manual).json() == {}
        meta = api.worker("t1")
        assert meta["status"] == "Running" and meta["componentVersion"] == 1, meta
        assert [(u["type"], u["targetRevision"]) for u in meta["updates"]] == [
            ("PendingUpdate", 2)
        ], meta["updates"]
        assert meta["updates"][0]["timestamp"].endswith("+00:00")
        assert result_of(client, result_url) == 20

        def failed() -> list[dict[str, Any]] | None:
            found = api.worker("t1")["updates"]
            return found if found[-1]["type"] == "FailedUpdate" else None

        last = wait_until(failed, what="the failed update")[-1]
        assert last["targetRevision"] == 2 and "load-snapshot" in last["details"], last
        assert api.worker("t1")["componentVersion"] == 1
        kinds = [e["type"] for e in api.oplog("t1")]
        finished = [i for i, k in enumerate(kinds) if k == "invocation-finished"]
        # The invocation finished (on version 1) before the request entered the oplog.
        assert finished[-1] < kinds.index("pending-update"), kinds
        assert kinds.index("pending-update") + 1 == kinds.index("failed-update")

        # The same on an idle agent: still Golem's {} (never an error for a failed
        # update); the failure is the metadata's.
        idle = client.post(api.path("t1", "/update"), json=manual)
        assert idle.status_code == 200 and idle.json() == {}, idle.text
        wait_until(lambda: len(failed() or []) == 2, what="the second failed update")
        kinds = [u["type"] for u in api.worker("t1")["updates"]]
        assert kinds == ["FailedUpdate", "FailedUpdate"], kinds


def test_guest_update_of_a_running_agent_restarts_it_on_the_new_version(tmp_path: Path) -> None:
    """A guest's automatic update-agent of another agent that is running an invocation:
    the guest's call succeeds, the target's invocation is interrupted and restarted on
    version 2 (ticker-v3: its tick returns n + 1000), as Golem does."""
    store = tmp_path / "store"
    tid = add_component(store, build_fixture("ticker"), "ticker")
    uid = add_component(store, build_fixture("updater-1.5.0"), "updater")
    server = Server(store).start()
    try:
        with server.client() as client:
            ticker, updater = Api(client, tid), Api(client, uid)
            result_url = start_tick_then_upload(ticker, client, "t1", 150)
            halves = uuid.UUID(tid).int
            args = [halves >> 64, halves & (2**64 - 1), "t1", 2, False]
            asked = updater.invoke_and_await("u", "update-other", args)
            assert asked.status_code == 200, asked.text

            assert result_of(client, result_url) == 1150
            meta = ticker.worker("t1")
            assert meta["componentVersion"] == 2, meta
            updates = meta["updates"]
            assert [(u["type"], u["targetRevision"]) for u in updates] == [("SuccessfulUpdate", 2)]
            # The request was taken from the queue into the oplog inside the invocation.
            kinds = [e["type"] for e in ticker.oplog("t1")]
            assert kinds.index("pending-update") < kinds.index("invocation-finished"), kinds
    finally:
        server.stop()


def test_cli_update_of_an_agent_running_in_the_server_restarts_it(tmp_path: Path) -> None:
    """The CLI (another process) asks to update an agent the server is running: the
    request is queued in the store, answered at once, the server is told and restarts
    the running invocation on the new version (ticker-v3: its tick returns n + 1000)."""
    with ticker_server(tmp_path) as (store, client, api):
        # Long enough (~150 spins of 20M) to be running still when the CLI, a process
        # that takes a second or more to start, gets its request in; version 2 comes
        # once it runs on version 1 (a new agent is created on the latest version).
        result_url = start_tick_then_upload(api, client, "t1", 150)
        asked = cli(store, "agent", "update", "ticker", "t1", "--version", "2")
        assert asked.returncode == 0, asked.stderr
        assert "queued" in asked.stdout and "running an invocation" in asked.stdout
        assert result_of(client, result_url) == 1150
        assert api.worker("t1")["componentVersion"] == 2
        kinds = [e["type"] for e in api.oplog("t1")]
        assert kinds.index("pending-update") < kinds.index("invocation-finished"), kinds
        shown = cli(store, "agent", "show", "ticker", "t1")
        assert "update to version 2: SuccessfulUpdate" in shown.stdout, shown.stdout


def test_cli_agent_show_lists_updates(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_component(store, build_fixture("updater-1.5.0"), "updater")
    assert cli(store, "invoke", "updater", "a", "add(5)").stdout.strip() == "5"
    add_component(store, build_fixture("updater-v2-1.5.0"), "updater")
    assert cli(store, "agent", "update", "updater", "a", "--version", "2").returncode == 0
    shown = cli(store, "agent", "show", "updater", "a")
    assert shown.returncode == 0, shown.stderr
    assert "update to version 2: SuccessfulUpdate" in shown.stdout, shown.stdout
    data = json.loads(cli(store, "agent", "show", "updater", "a", "--json").stdout)
    assert [(u["type"], u["targetVersion"]) for u in data["updates"]] == [("SuccessfulUpdate", 2)]
