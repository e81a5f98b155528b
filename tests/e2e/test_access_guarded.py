"""Access with a token, part 2: every route that can run a guest function needs the
token whatever its method (agent-declared GET routes too), reads of /v1 only open with
--public-reads, header bytes that are not UTF-8 never crash the server, and an anonymous
completion cannot tell an unknown promise from an existing one."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.server_util import Server, add_component, build_example

TOKEN = "t0ken-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def worker(name: str) -> str:
    """The worker API's name of the approval example's agent: its id, URL-encoded."""
    return quote(f'WorkflowAgent("{name}")', safe="")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    store = tmp_path_factory.mktemp("guarded") / "store"
    cid = add_component(store, build_example("approval"), "approval")
    server = Server(store, extra_args=("--token", TOKEN)).start()
    yield server, cid
    server.stop()


@pytest.fixture(scope="module")
def public_reads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    store = tmp_path_factory.mktemp("public") / "store"
    cid = add_component(store, build_example("approval"), "approval")
    server = Server(store, extra_args=("--token", TOKEN, "--public-reads")).start()
    yield server, cid
    server.stop()


def _workers(http: httpx.Client, cid: str) -> list[str]:
    listed = http.get(f"/v1/components/{cid}/workers", headers=AUTH)
    assert listed.status_code == 200, listed.text
    return [w["workerId"]["workerName"] for w in listed.json()["workers"]]


def test_agent_routes_need_the_token_on_get_and_head(guarded: tuple[Server, str]) -> None:
    server, cid = guarded
    http = server.client()
    for i in range(3):
        got = http.get(f"/workflows/anon{i}/status")
        assert got.status_code == 401, got.text
        assert got.json()["error"]["code"] == "unauthorized"
        assert http.head(f"/workflows/anon{i}/status").status_code == 401
    assert not [w for w in _workers(http, cid) if "anon" in w]
    # With the token the same route works (and creates the agent).
    ok = http.get("/workflows/owner/status", headers=AUTH)
    assert ok.status_code == 200, ok.text
    assert 'WorkflowAgent("owner")' in _workers(http, cid)


def test_reads_need_the_token_unless_public(guarded: tuple[Server, str]) -> None:
    server, cid = guarded
    http = server.client()
    for path in [
        "/v1/components",
        f"/v1/components/{cid}",
        f"/v1/components/{cid}/workers",
        "/v1/promises",
        "/v1/endpoints",
        "/openapi.json",
        "/docs",
    ]:
        refused = http.get(path)
        assert refused.status_code == 401, (path, refused.text)
        assert http.get(path, headers=AUTH).status_code == 200, path
    assert http.get("/healthz").status_code == 200


def test_public_reads_open_v1_and_docs_but_not_agent_routes(
    public_reads: tuple[Server, str],
) -> None:
    server, cid = public_reads
    http = server.client()
    assert http.get("/v1/components").status_code == 200
    assert http.get(f"/v1/components/{cid}/workers").status_code == 200
    assert http.get("/openapi.json").status_code == 200
    assert http.get("/workflows/anon/status").status_code == 401
    assert http.post(f"/v1/components/{cid}/workers", json={"name": "x"}).status_code == 401
    assert _workers(http, cid) == []


def test_uploading_a_component_needs_the_token(guarded: tuple[Server, str]) -> None:
    server, _ = guarded
    http = server.client()
    wasm = build_example("approval").read_bytes()
    before = http.get("/v1/components", headers=AUTH).json()
    refused = http.post(
        "/v1/components",
        params={"name": "intruder"},
        content=wasm,
        headers={"content-type": "application/wasm"},
    )
    assert refused.status_code == 401, refused.text
    wrong = http.post(
        "/v1/components",
        params={"name": "intruder"},
        content=wasm,
        headers={"Authorization": "Bearer not-the-token-at-all"},
    )
    assert wrong.status_code == 401
    assert http.get("/v1/components", headers=AUTH).json() == before


def _raw(server: Server, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_header_bytes_that_are_not_utf8_never_answer_500(guarded: tuple[Server, str]) -> None:
    server, cid = guarded
    path = f"/v1/components/{cid}/workers".encode()
    body = b'{"name": "latin"}'
    for headers in [
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nX-Junk: caf\xe9\xff\r\n",
        b"Authorization: Bearer caf\xe9\xff\r\n",
        b"X-Junk: \xff\xfe\r\n",
    ]:
        answer = _raw(
            server,
            b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n"
            + headers
            + b"\r\n"
            + body,
        )
        status = int(answer.split(b" ", 2)[1])
        assert status < 500, answer[:400]
        assert b'"error"' in answer or status == 201 or status == 409, answer[:400]
        if b"Bearer caf" in headers or b"Authorization" not in headers:
            assert status == 401, answer[:400]
    assert "Traceback" not in server.output()


def test_anonymous_completion_does_not_reveal_promises(guarded: tuple[Server, str]) -> None:
    server, cid = guarded
    http = server.client()
    opened = http.post("/workflows/erin/request", headers=AUTH)
    assert opened.status_code == 200, opened.text
    idx = int(opened.json().rsplit("/", 1)[1])  # the promise id's oplog index
    url = f"/v1/components/{cid}/workers/{worker('erin')}/complete"
    answers = [
        http.post(url, json={"oplogIdx": idx, "data": []}),  # exists
        http.post(url, json={"oplogIdx": 999, "data": []}),  # unknown index
        http.post(url, json={"oplogIdx": 999, "data": []}, headers={"X-Promise-Secret": "guess"}),
        http.post(
            f"/v1/components/{cid}/workers/{worker('nobody')}/complete",
            json={"oplogIdx": idx, "data": []},
        ),  # unknown agent
        http.post(
            f"/v1/components/no-such-component/workers/{worker('erin')}/complete",
            json={"oplogIdx": idx, "data": []},
        ),  # unknown component
    ]
    assert [a.status_code for a in answers] == [401] * len(answers), [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    # With the token an unknown promise is a plain 404.
    missing = http.post(url, json={"oplogIdx": 999, "data": []}, headers=AUTH)
    assert missing.status_code == 404


def test_long_names_are_not_echoed_in_full(guarded: tuple[Server, str]) -> None:
    server, cid = guarded
    http = server.client()
    name = "n" * 10_000
    for answer in [
        http.get(f"/v1/components/{cid}/workers/{name}", headers=AUTH),
        http.get(f"/v1/components/{name}", headers=AUTH),
        http.post(f"/v1/components/{cid}/workers", json={"name": "\n" + name}, headers=AUTH),
    ]:
        assert 400 <= answer.status_code < 500, answer.text[:300]
        message = answer.json()["error"]["message"]
        assert len(message) < 600, message[:300]
        assert "n" * 20 + "..." in message
