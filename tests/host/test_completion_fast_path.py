"""The completion fast path (host/server/hot_routes.py) answers as the completion route
does: FastAPI's TestClient over the real app, a real SQLite store and the promises WAT
guest. Every request is sent twice, once as the fast path takes it (a small JSON body with
Content-Length) and once chunked, which the fast path leaves to the app's route; status
and body must be the same. A spy on the fast path's call of the shared completion logic
(the real function runs) shows which path answered."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from host.ids import PromiseId
from host.runtime.scheduler import PoolScheduler
from host.server import create_app, hot_routes, routes
from host.server.auth import AuthConfig
from host.service import HostService
from tests.fixtures.build import build_fixture

TOKEN = "fast-path-token-0123456789"


class Spy:
    """Counts the fast path's completions; the real completion runs."""

    def __init__(self, real: Callable[..., bool]) -> None:
        self.real = real
        self.calls = 0

    def __call__(self, *args: Any) -> bool:
        self.calls += 1
        return self.real(*args)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    seen = Spy(routes.complete_promise_answer)
    monkeypatch.setattr(hot_routes, "complete_promise_answer", seen)
    return seen


def _app(tmp_path: Path, auth: AuthConfig | None = None) -> Iterator[tuple[TestClient, str]]:
    service = HostService(tmp_path, scheduler=PoolScheduler(workers=2))
    cid = service.add_component_bytes(build_fixture("promises-1.3.0").read_bytes(), "p").id
    with TestClient(create_app(service, auth=auth)) as client:
        yield client, cid
    service.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    yield from _app(tmp_path)


@pytest.fixture
def token_app(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    yield from _app(tmp_path, AuthConfig(token=TOKEN))


def _suspend(client: TestClient, cid: str, name: str, headers: dict[str, str]) -> tuple[str, int]:
    """A fresh agent suspended in create-and-await: (invocation id, promise index)."""
    invoked = client.post(
        f"/v1/components/{cid}/workers/{name}/invoke",
        params={"function": "create-and-await"},
        headers=headers,
    )
    assert invoked.status_code == 202, invoked.text
    deadline = time.monotonic() + 30
    while True:
        meta = client.get(f"/v1/components/{cid}/workers/{name}", headers=headers).json()
        if meta["status"] == "Suspended" and meta["waitingOn"]:
            return invoked.json()["invocationId"], int(meta["waitingOn"][0]["oplogIdx"])
        assert time.monotonic() < deadline, meta
        time.sleep(0.02)


def _post(
    client: TestClient,
    path: str,
    body: bytes,
    chunked: bool,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """POST ``body``: with Content-Length (the fast path's case) or chunked (the route's)."""
    content: Any = iter([body]) if chunked else body
    sent = {"content-type": "application/json", **(headers or {})}
    answer = client.post(path, content=content, headers=sent)
    return answer.status_code, answer.json()


def _body(idx: int, data: list[int]) -> bytes:
    return json.dumps({"oplogIdx": idx, "data": data}).encode()


def test_a_completion_takes_the_fast_path_and_the_agent_gets_the_payload(
    app: tuple[TestClient, str], spy: Spy
) -> None:
    client, cid = app
    invocation, idx = _suspend(client, cid, "fast-1", {})
    path = f"/v1/components/{cid}/workers/fast-1/complete"
    assert _post(client, path, _body(idx, [7, 8, 9]), chunked=False) == (200, True)
    assert spy.calls == 1
    # Completed already: the first completion won, on either path.
    assert _post(client, path, _body(idx, [1]), chunked=False) == (200, False)
    assert _post(client, path, _body(idx, [1]), chunked=True) == (200, False)
    assert spy.calls == 2
    done = client.get(
        f"/v1/components/{cid}/workers/fast-1/invocations/{invocation}", params={"wait": 30}
    )
    assert done.status_code == 200, done.text
    assert done.json()["result"] == [7, 8, 9]


def test_errors_are_the_routes_errors(app: tuple[TestClient, str], spy: Spy) -> None:
    client, cid = app
    _, idx = _suspend(client, cid, "fast-2", {})
    base = f"/v1/components/{cid}/workers"
    cases = [
        (f"{base}/nobody/complete", _body(idx, [1]), 404),  # unknown agent
        (f"{base}/fast-2/complete", _body(idx + 100, [1]), 404),  # unknown promise
        (f"/v1/components/{'0' * 8}/workers/fast-2/complete", _body(idx, [1]), 404),
    ]
    for path, body, status in cases:
        fast = _post(client, path, body, chunked=False)
        assert fast == _post(client, path, body, chunked=True)
        assert fast[0] == status and fast[1]["error"]["code"], fast
    assert spy.calls == len(cases)  # each answered by the fast path once


def test_bodies_that_do_not_validate_are_left_to_the_route(
    app: tuple[TestClient, str], spy: Spy
) -> None:
    client, cid = app
    _, idx = _suspend(client, cid, "fast-3", {})
    path = f"/v1/components/{cid}/workers/fast-3/complete"
    for body in (
        _body(idx, [256]),  # not a byte
        _body(0, [1]),  # no oplog index 0
        b'{"oplogIdx": 1, "data": [1], "extra": 1}',
        b"{not json",
        b"",
    ):
        fast = _post(client, path, body, chunked=False)
        assert fast == _post(client, path, body, chunked=True)
        assert fast[0] == 400 and fast[1]["error"]["code"] == "invalid_request", (body, fast)
    text = client.post(path, content=_body(idx, [1]), headers={"content-type": "text/plain"})
    assert text.status_code == 400 and "not text/plain" in text.json()["error"]["message"]
    assert spy.calls == 0
    # Still pending after all that: a valid completion completes it.
    assert _post(client, path, _body(idx, [5]), chunked=False) == (200, True)
    assert spy.calls == 1


def test_with_a_token_only_the_token_takes_the_fast_path(
    token_app: tuple[TestClient, str], spy: Spy
) -> None:
    client, cid = token_app
    bearer = {"authorization": f"Bearer {TOKEN}"}
    _, first = _suspend(client, cid, "tok-1", bearer)
    path = f"/v1/components/{cid}/workers/tok-1/complete"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"x-promise-secret": "nope"}):
        status, body = _post(client, path, _body(first, [1]), chunked=False, headers=headers)
        assert status == 401 and body["error"]["code"] == "unauthorized", (headers, body)
    assert spy.calls == 0
    assert _post(client, path, _body(first, [1]), chunked=False, headers=bearer) == (200, True)
    assert spy.calls == 1
    # The promise's secret is the route's to check: it completes there, not here.
    _, second = _suspend(client, cid, "tok-2", bearer)
    service = client.app.state.service  # type: ignore[attr-defined]
    secret = service.promise_secret(PromiseId(service.agent_id(cid, "tok-2"), second))
    given = {"x-promise-secret": secret}
    path = f"/v1/components/{cid}/workers/tok-2/complete"
    assert _post(client, path, _body(second, [2]), chunked=False, headers=given) == (200, True)
    assert spy.calls == 1
