"""Host-wide named retry policies end to end: REST ``/v1/retry-policies`` of a real
``agent-host serve`` (its answers and error mapping: 404 unknown, 400 malformed, never a
500), the CLI ``agent-host retry-policy`` against the store and with ``--server``, and a
policy set by the CLI while the server runs deciding the trap retries of an agent the
server runs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.retry_guest import guest
from tests.server_util import AGENT_HOST, Api, Server, add_component, wait_until

ONCE = {
    "priority": 10,
    "predicate": ["prop-eq", "verb", "trap"],
    "policy": ["count-box", 1, ["immediate"]],
}


def run(store: Path, *args: str, server: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [AGENT_HOST, "--store", str(store)]
    if server is not None:
        cmd += ["--server", server]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, Server, str]]:
    store = tmp_path / "store"
    cid = add_component(store, guest(tmp_path / "guest", []), "retry-guest")
    server = Server(store).start()
    yield store, server, cid
    server.stop()


def test_rest_manages_policies_with_golems_error_mapping(
    served: tuple[Path, Server, str],
) -> None:
    _, server, _ = served
    http = server.client()
    assert http.get("/v1/retry-policies").json() == {"values": []}
    put = http.put("/v1/retry-policies/once", json=ONCE)
    assert put.status_code == 200 and put.json() == {"name": "once", **ONCE}
    low = {"name": "low", "priority": 1, "predicate": ["pred-true"], "policy": ["never"]}
    assert http.post("/v1/retry-policies", json=low).json() == low
    assert [p["name"] for p in http.get("/v1/retry-policies").json()["values"]] == ["once", "low"]
    assert http.get("/v1/retry-policies/low").json() == low
    # Replacing keeps one of the name.
    http.put("/v1/retry-policies/low", json={**low, "priority": 20})
    listed = http.get("/v1/retry-policies").json()["values"]
    assert [(p["name"], p["priority"]) for p in listed] == [("low", 20), ("once", 10)]

    bad = http.put("/v1/retry-policies/x", json={**ONCE, "policy": ["count-box", -1, ["never"]]})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "body.policy.1", bad.text
    for body in ([1, 2], {**ONCE, "predicate": ["prop-eq", "verb"]}, {**ONCE, "name": "y"}):
        answer = http.put("/v1/retry-policies/x", json=body)
        assert answer.status_code == 400, (body, answer.text)
    raw = http.put(
        "/v1/retry-policies/x", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert raw.status_code == 400, raw.text
    assert http.get("/v1/retry-policies/x").status_code == 404
    assert http.delete("/v1/retry-policies/x").status_code == 404
    deleted = http.delete("/v1/retry-policies/once")
    assert deleted.status_code == 200 and deleted.json()["name"] == "once"
    assert http.get("/v1/retry-policies/once").status_code == 404


def test_the_cli_manages_policies_on_the_store_and_through_the_server(
    served: tuple[Path, Server, str],
) -> None:
    store, server, _ = served
    made = run(
        store,
        "retry-policy",
        "set",
        "once",
        "--priority",
        "10",
        "--predicate",
        json.dumps(ONCE["predicate"]),
        "--policy",
        json.dumps(ONCE["policy"]),
    )
    assert made.returncode == 0, made.stderr
    # The server reads the store: it answers what the CLI wrote.
    assert server.client().get("/v1/retry-policies/once").json() == {"name": "once", **ONCE}
    whole = json.dumps({"priority": 2, "predicate": ["pred-false"], "policy": ["immediate"]})
    via = run(store, "retry-policy", "set", "via", "--json-policy", whole, server=server.url)
    assert via.returncode == 0, via.stderr
    for mode in (None, server.url):
        listed = run(store, "--json", "retry-policy", "list", server=mode)
        assert listed.returncode == 0, listed.stderr
        assert [p["name"] for p in json.loads(listed.stdout)] == ["once", "via"]
        shown = run(store, "retry-policy", "get", "via", server=mode)
        assert shown.returncode == 0 and shown.stdout.startswith("via  priority 2"), shown
        missing = run(store, "retry-policy", "get", "nope", server=mode)
        assert missing.returncode == 4 and "nope" in missing.stderr, missing
        bad = run(store, "retry-policy", "set", "b", "--policy", '["sometimes"]', server=mode)
        assert bad.returncode == 2 and "unknown policy node" in bad.stderr, bad
        not_json = run(store, "retry-policy", "set", "b", "--policy", "[", server=mode)
        assert not_json.returncode == 2 and "not JSON" in not_json.stderr, not_json
    removed = run(store, "retry-policy", "remove", "via", server=server.url)
    assert removed.returncode == 0 and removed.stdout.strip() == "removed via", removed
    assert run(store, "retry-policy", "remove", "via").returncode == 4
    assert json.loads(run(store, "--json", "retry-policy", "list").stdout)[0]["name"] == "once"


def test_a_policy_the_cli_sets_decides_a_trap_the_server_runs(
    served: tuple[Path, Server, str],
) -> None:
    """The agent never touches golem:api/retry; without the host-wide policy its trap
    would be retried three times (the default), with it once."""
    store, server, cid = served
    body = json.dumps(ONCE)
    assert run(store, "retry-policy", "set", "once", "--json-policy", body).returncode == 0
    api = Api(server.client(), cid)
    assert api.invoke_and_await("f", "count", timeout=30).json()["wave"] == "2"
    api.invoke("f", "boom")

    def failed() -> dict[str, Any] | None:
        meta = api.worker("f")
        return meta if meta["status"] == "Failed" else None

    meta = wait_until(failed, timeout=60, interval=0.1, what="the agent to fail")
    assert meta["retryCount"] == 1, meta
