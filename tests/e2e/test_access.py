"""Access control: loopback by default, a token for every state change, and per-promise
secrets (stored hashed) that authorize completing one promise without the token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.server_util import AGENT_HOST, Server, add_component, build_example, cli

# slow: compiles the componentize-py approval guest (10-50 s here)
pytestmark = pytest.mark.slow

TOKEN = "t0ken-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def worker(name: str) -> str:
    """The worker API's name of the approval example's agent: its id, URL-encoded."""
    return quote(f'WorkflowAgent("{name}")', safe="")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    store = tmp_path_factory.mktemp("access") / "store"
    cid = add_component(store, build_example("approval"), "approval")
    server = Server(store, extra_args=("--token", TOKEN)).start()
    yield server, cid
    server.stop()


def _open_request(http: httpx.Client, cid: str, name: str) -> int:
    """The approval agent's own route opens a request; the oplog index of its promise."""
    opened = http.post(f"/workflows/{name}/request", headers=AUTH)
    assert opened.status_code == 200, opened.text
    promise = str(opened.json())
    assert promise.startswith(f'{cid}/WorkflowAgent("{name}")/'), promise
    return int(promise.rsplit("/", 1)[1])


def _secret(http: httpx.Client, cid: str, name: str) -> str:
    """The open request's secret, as the agent hands it out (agent_sdk.promise_secret)."""
    got = http.post(
        "/v1/agents/invoke-agent",
        json={
            "agentTypeName": "WorkflowAgent",
            "parameters": [name],
            "methodName": "request_secret",
            "methodParameters": [],
            "mode": "await",
        },
        headers=AUTH,
    )
    assert got.status_code == 200, got.text
    (element,) = got.json()["result"]["elements"]
    assert isinstance(element["value"], str), got.text
    return element["value"]


def test_state_changes_need_the_token_reads_do_not(served: tuple[Server, str]) -> None:
    server, cid = served
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url) as http:
        for method, path in [
            ("POST", f"/v1/components/{cid}/workers"),
            ("POST", f"/v1/components/{cid}/workers/x/invoke-and-await?function=status"),
            ("POST", "/v1/agents/invoke-agent"),
            ("DELETE", f"/v1/components/{cid}/workers/x"),
            ("POST", "/v1/components?name=x"),
            ("POST", "/workflows/x/request"),
        ]:
            refused = http.request(method, path, json={"name": "x"})
            assert refused.status_code == 401, (method, path, refused.text)
            assert refused.json()["error"]["code"] == "unauthorized"
            assert refused.headers["www-authenticate"] == "Bearer"
        wrong = http.post(
            f"/v1/components/{cid}/workers",
            json={"name": "y"},
            headers={"Authorization": "Bearer nope"},
        )
        assert wrong.status_code == 401
        # Reads need the token too (--public-reads opens them; tests/e2e/test_access_guarded.py).
        assert http.get(f"/v1/components/{cid}/workers").status_code == 401
        assert http.get(f"/v1/components/{cid}/workers", headers=auth).status_code == 200
        assert http.get("/healthz").status_code == 200
        made = http.post(
            f"/v1/components/{cid}/workers",
            json={"name": 'WorkflowAgent("withtoken")'},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert made.status_code == 201


def test_completion_needs_the_token_or_the_promise_secret(served: tuple[Server, str]) -> None:
    server, cid = served
    with httpx.Client(base_url=server.url) as http:
        idx = _open_request(http, cid, "alice")
        secret = _secret(http, cid, "alice")
        body = {"oplogIdx": idx, "data": list(b'"approved"')}
        url = f"/v1/components/{cid}/workers/{worker('alice')}/complete"
        # Knowing the agent and the index is not enough.
        assert http.post(url, json=body).status_code == 401
        assert http.post(url, json=body, headers={"X-Promise-Secret": "guess"}).status_code == 401
        # Another promise's secret does not work either.
        other_idx = _open_request(http, cid, "bob")
        other = _secret(http, cid, "bob")
        assert other != secret
        assert http.post(url, json=body, headers={"X-Promise-Secret": other}).status_code == 401
        # The right secret does, as a header or in the body.
        done = http.post(url, json=body, headers={"X-Promise-Secret": secret})
        assert done.status_code == 200 and done.json() is True
        again = http.post(url, json={**body, "secret": secret})
        assert again.status_code == 200 and again.json() is False
        # So does the token, for any promise.
        bob = http.post(
            f"/v1/components/{cid}/workers/{worker('bob')}/complete",
            json={"oplogIdx": other_idx, "data": list(b'"rejected"')},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert bob.status_code == 200 and bob.json() is True
        # Without the token an unknown promise is the same 401 as a wrong secret: the
        # answer must not reveal which promises exist.
        missing = http.post(
            url, json={"oplogIdx": 999, "data": []}, headers={"X-Promise-Secret": secret}
        )
        assert missing.status_code == 401


def test_secrets_are_stored_hashed_and_never_in_the_oplog(
    served: tuple[Server, str], snapshot: Callable[[Path], dict[str, Any]]
) -> None:
    server, cid = served
    with httpx.Client(base_url=server.url) as http:
        idx = _open_request(http, cid, "carol")
    # An operator's view of the secret (the agent has not returned it anywhere).
    shown = cli(server.store, "promise", "secret", "approval", 'WorkflowAgent("carol")', str(idx))
    secret = shown.stdout.strip()
    assert shown.returncode == 0 and len(secret) >= 40
    dump = repr(snapshot(server.store))  # every row of the store, SQLite or PostgreSQL
    assert secret not in dump
    import hashlib

    assert hashlib.sha256(secret.encode()).hexdigest() in dump
    key = server.store / "promise-secret.key"
    assert key.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_the_cli_prints_a_promise_secret(served: tuple[Server, str]) -> None:
    server, cid = served
    with httpx.Client(base_url=server.url) as http:
        idx = _open_request(http, cid, "dora")
        secret = _secret(http, cid, "dora")
    shown = cli(server.store, "promise", "secret", "approval", 'WorkflowAgent("dora")', str(idx))
    assert shown.returncode == 0 and shown.stdout.strip() == secret


def test_the_server_binds_loopback_by_default_and_checks_tokens(tmp_path: Path) -> None:
    import subprocess

    help_text = subprocess.run(
        [AGENT_HOST, "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "[default: 127.0.0.1]" in help_text
    short = subprocess.run(
        [AGENT_HOST, "--store", str(tmp_path), "serve", "--token", "short"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode == 2 and "at least 16" in short.stderr
