"""Update, revert and fork through the front ends (issue 11, item 6): a real
`agent-host serve` over HTTP with Golem's request bodies, and the CLI as a separate
process. Guests: the conformance guests `updater` (versions 1 and 2) and `fork`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fixtures.build import build_fixture
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
            up = client.post(
                "/v1/components",
                params={"name": "updater"},
                content=build_fixture("updater-v2-1.5.0").read_bytes(),
            )
            assert up.status_code == 201 and up.json()["componentVersion"] == 2, up.text

            # Golem 1.5's body, and Golem 1.2's spelling of the same.
            for name, body in (
                ("auto", {"mode": "automatic", "targetRevision": 2}),
                ("manual", {"mode": "Manual", "targetVersion": 2}),
            ):
                r = client.post(api.path(name, "/update"), json=body)
                assert r.status_code == 200, r.text
                assert r.json()["state"] in ("pending", "successful")

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


def test_rest_update_of_a_running_agent_is_409(tmp_path: Path) -> None:
    store = tmp_path / "store"
    tid = add_component(store, build_fixture("ticker"), "ticker")
    server = Server(store).start()
    try:
        with server.client() as client:
            api = Api(client, tid)
            started = api.invoke("t1", "tick", [50, 30_000_000])  # seconds of work
            assert started.status_code == 202, started.text
            api.wait_status("t1", "Running")
            body = {"mode": "automatic", "targetRevision": 1}
            busy = client.post(api.path("t1", "/update"), json=body)
            assert busy.status_code == 409, busy.text
            assert "running an invocation" in busy.json()["error"]["message"]
            # Nothing was recorded: the request can be made again once it is idle.
            client.post(api.path("t1", "/interrupt"))
            log = client.get(api.path("t1", "/oplog")).json()["entries"]
            assert "pending-update" not in [e.get("entry", e)["type"] for e in log]
    finally:
        server.stop()
