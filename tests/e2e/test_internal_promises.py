"""Internal promises: the promise an agent awaits another agent's method on
(golem:agent/host wasm-rpc, the rpc_pair fixture's CallerAgent awaiting a CounterAgent
that suspends) is not a promise for people.

Through the CLI (each command its own process) and a real ``agent-host serve``: listings
leave it out (``promise list``, ``GET /v1/promises``, the worker's ``/promises``, the
console's pending page) unless asked with ``--all`` / ``?all=true``, which mark it
internal; completing it from outside is refused (CLI exit 3, REST 409
``internal_promise``) with a message saying why, and changes nothing: completing the
callee's own promise is what finishes both agents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.fixtures.build import build_python_fixture
from tests.server_util import Server, add_component, cli, wait_until

pytestmark = pytest.mark.slow  # builds and compiles an 18 MB componentize-py guest

CALLER = 'CallerAgent("a")'
CALLEE = 'CounterAgent("w")'


def _json(store: Path, *args: str) -> object:
    done = cli(store, "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_rpc_promise_is_hidden_marked_and_not_completable(tmp_path: Path) -> None:
    store = tmp_path / "data"
    component = add_component(store, build_python_fixture("rpc_pair"), "pair")
    waiting = _json(store, "invoke", "pair", CALLER, 'call_wait("w")')
    assert isinstance(waiting, dict) and waiting["status"] == "suspended", waiting

    # The CLI: the caller has no promise for people; --all shows it, marked internal.
    assert _json(store, "promise", "list", "pair", CALLER) == []
    listed = _json(store, "promise", "list")
    assert isinstance(listed, list)
    assert [p["agent"].split("/", 1)[1] for p in listed] == [CALLEE], listed
    assert not any(p["internal"] for p in listed)
    shown = _json(store, "promise", "list", "pair", CALLER, "--all")
    assert isinstance(shown, list) and len(shown) == 1, shown
    hidden: dict[str, Any] = shown[0]
    assert hidden["internal"] is True and hidden["completed"] is False, hidden
    text = cli(store, "promise", "list", "--all")
    assert text.returncode == 0 and "internal (awaits another agent)" in text.stdout

    refused = cli(
        store, "promise", "complete", "pair", CALLER, str(hidden["oplog_idx"]), "--json", '"forged"'
    )
    assert refused.returncode == 3, (refused.returncode, refused.stdout, refused.stderr)
    assert "is internal" in refused.stderr and "Traceback" not in refused.stderr

    # REST, on a real server over the same store.
    server = Server(store).start()
    try:
        http = server.client()
        worker = f"/v1/components/{component}/workers"
        ids = [p["id"] for p in http.get("/v1/promises").json()["promises"]]
        assert ids and not any("CallerAgent" in i for i in ids), ids
        every = http.get("/v1/promises", params={"all": "true"}).json()["promises"]
        marked = [p for p in every if "CallerAgent" in p["id"]]
        assert [p["internal"] for p in marked] == [True], every
        assert all(not p["internal"] for p in every if "CounterAgent" in p["id"])
        caller_path = f"{worker}/{quote(CALLER, safe='')}"
        assert http.get(caller_path + "/promises").json() == {"promises": []}
        (own,) = http.get(caller_path + "/promises", params={"all": "true"}).json()["promises"]
        assert own["internal"] is True and own["promiseId"]["oplogIdx"] == hidden["oplog_idx"]

        forged = http.post(
            caller_path + "/complete", json={"oplogIdx": hidden["oplog_idx"], "data": [1]}
        )
        assert forged.status_code == 409, forged.text
        error = forged.json()["error"]
        assert error["code"] == "internal_promise" and "cannot be completed" in error["message"]
        assert http.get(caller_path).json()["status"] == "Suspended"

        # The console's pending page lists the callee's promise only.
        page = http.get("/ui").text
        assert "CounterAgent" in page and "CallerAgent" not in page

        # Completing the callee's promise finishes the callee, then the caller.
        (theirs,) = http.get(f"{worker}/{quote(CALLEE, safe='')}/promises").json()["promises"]
        done = http.post(
            f"{worker}/{quote(CALLEE, safe='')}/complete",
            json={"oplogIdx": theirs["promiseId"]["oplogIdx"], "data": list(b'"ok"')},
        )
        assert done.status_code == 200 and done.json() is True, done.text
        wait_until(lambda: http.get(caller_path).json()["status"] == "Idle", timeout=30)
        (now,) = http.get(caller_path + "/promises", params={"all": "true"}).json()["promises"]
        assert now["completed"] is True and now["internal"] is True
    finally:
        server.stop()
    assert "Traceback" not in server.output()
