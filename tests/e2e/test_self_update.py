"""An agent updating itself automatically, as Golem performs it (selfupd, item 1): the
update-agent host call interrupts the caller, which restarts, replays on the new version
and goes on live on it, so the invocation that asked finishes on the new code. Through
the CLI and REST (and the store switch: ``--store=postgresql``). Guests: the hand-written
``self-updater`` (its update-self-auto returns 1) and ``self-updater-v2`` (returns 2)."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.build import build_fixture
from tests.server_util import Api, Server, add_component, cli


def test_cli_invocation_updating_itself_finishes_on_the_new_version(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_component(store, build_fixture("self-updater"), "self")
    made = cli(store, "agent", "create", "self", "s")
    assert made.returncode == 0, made.stderr
    add_component(store, build_fixture("self-updater-v2"), "self")  # version 1
    done = cli(store, "invoke", "self", "s", "update-self-auto(1)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"  # v2's label: it went on on the new code
    shown = cli(store, "agent", "show", "self", "s", "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"SuccessfulUpdate"' in shown.stdout, shown.stdout
    log = cli(store, "oplog", "self", "s").stdout
    # The outcome is inside the invocation that asked, before it finished.
    assert log.index("updated to version 1") < log.rindex("finished"), log
    assert cli(store, "invoke", "self", "s", "version()").stdout.strip() == "2"


def test_rest_invocation_updating_itself_finishes_on_the_new_version(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("self-updater"), "self")
    server = Server(store).start()
    try:
        with server.client() as client:
            api = Api(client, cid)
            made = client.post(api.path(), json={"name": "s"})
            assert made.status_code in (200, 201), made.text
            v2 = build_fixture("self-updater-v2").read_bytes()
            up = client.post("/v1/components", params={"name": "self"}, content=v2)
            assert up.status_code == 201 and up.json()["componentVersion"] == 1, up.text
            done = api.invoke_and_await("s", "update-self-auto", [1])
            assert done.status_code == 200 and done.json()["result"] == 2, done.text
            meta = api.worker("s")
            assert meta["componentVersion"] == 1, meta
            assert [(u["type"], u["targetRevision"]) for u in meta["updates"]] == [
                ("SuccessfulUpdate", 1)
            ], meta["updates"]
            kinds = [e["type"] for e in api.oplog("s")]
            assert kinds.index("pending-update") < kinds.index("successful-update")
            assert kinds.index("successful-update") < kinds.index("invocation-finished"), kinds
    finally:
        server.stop()
