"""Promise payloads over real HTTP: raw bytes (application/octet-stream) besides Golem's JSON
array, up to ``serve --max-payload``, refused with 413 past it, for completions and webhooks.

Real ``agent-host serve`` subprocesses on free loopback ports, each on its own copy of a
SQLite store holding the promises WAT fixture; its ``await`` export returns the payload
the agent received, which is what every test checks against what was sent.
"""

from __future__ import annotations

import random
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from host.ids import AgentId, PromiseId
from host.webhooks import token
from tests.fixtures.build import build_fixture
from tests.server_util import AGENT_HOST, Api, Server, add_component, cli, clone_store

LIMIT = 300 << 10  # --max-payload of the small server


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("payload-template") / "store"
    return store, add_component(store, build_fixture("promises-1.3.0"), "promises")


def _serve(template: tuple[Path, str], base: Path, *args: str) -> Iterator[Server]:
    server = Server(clone_store(template[0], base / "store"), extra_args=args).start()
    yield server
    server.stop()
    assert "Traceback" not in server.output(), server.output()[-3000:]


@pytest.fixture(scope="module")
def default_server(
    template: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from _serve(template, tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def small_server(
    template: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from _serve(template, tmp_path_factory.mktemp("small"), "--max-payload", "300KiB")


def _api(server: Server, template: tuple[Path, str]) -> Api:
    return Api(server.client(timeout=60), template[1])


def _waiting(api: Api) -> tuple[str, str, int]:
    """A fresh agent suspended in create-and-await: (name, invocation id, promise index)."""
    name = f"p-{uuid.uuid4().hex[:10]}"
    invoked = api.invoke(name, "create-and-await")
    assert invoked.status_code == 202, invoked.text
    (waiting,) = api.wait_status(name, "Suspended")["waitingOn"]
    return name, invoked.json()["invocationId"], int(waiting["oplogIdx"])


def _result(api: Api, name: str, invocation: str) -> bytes:
    done = api.http.get(
        api.path(name, f"/invocations/{invocation}"), params={"wait": 30}, timeout=60
    )
    assert done.status_code == 200, done.text
    return bytes(done.json()["result"])


def _raw(api: Api, name: str, idx: int | str | None, body: bytes) -> httpx.Response:
    params = {} if idx is None else {"oplogIdx": idx}
    return api.http.post(
        api.path(name, "/complete"),
        content=body,
        params=params,
        headers={"content-type": "application/octet-stream"},
    )


def _error(response: httpx.Response, status: int, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    if field is not None:
        assert error.get("field") == field, error
    return str(error["code"])


def test_a_small_raw_completion_delivers_the_exact_bytes(
    default_server: Server, template: tuple[Path, str]
) -> None:
    api = _api(default_server, template)
    name, invocation, idx = _waiting(api)
    payload = bytes(range(256)) * 64
    assert _raw(api, name, idx, payload).json() is True
    assert _result(api, name, invocation) == payload


@pytest.mark.slow  # the mebibyte comes back as the invocation's result, a JSON array
def test_a_raw_completion_delivers_the_exact_bytes(
    default_server: Server, template: tuple[Path, str]
) -> None:
    api = _api(default_server, template)
    name, invocation, idx = _waiting(api)
    payload = random.Random(1).randbytes(1 << 20)
    answer = _raw(api, name, idx, payload)
    assert (answer.status_code, answer.json()) == (200, True)
    assert _result(api, name, invocation) == payload
    # A second completion, raw or JSON, keeps the first payload.
    assert _raw(api, name, idx, b"other").json() is False


@pytest.mark.slow
def test_a_json_array_of_a_mebibyte_is_accepted(
    default_server: Server, template: tuple[Path, str]
) -> None:
    api = _api(default_server, template)
    name, invocation, idx = _waiting(api)
    payload = random.Random(2).randbytes(1 << 20)
    answer = api.complete(name, idx, list(payload))  # ~4.6 MB of JSON
    assert (answer.status_code, answer.json()) == (200, True)
    assert _result(api, name, invocation) == payload


def test_an_empty_raw_body_is_an_empty_payload(
    default_server: Server, template: tuple[Path, str]
) -> None:
    api = _api(default_server, template)
    name, invocation, idx = _waiting(api)
    assert _raw(api, name, idx, b"").json() is True
    assert _result(api, name, invocation) == b""


def test_raw_completions_name_their_promise_in_the_query(
    default_server: Server, template: tuple[Path, str]
) -> None:
    api = _api(default_server, template)
    name, invocation, idx = _waiting(api)
    assert _error(_raw(api, name, None, b"x"), 400, "query.oplogIdx") == "invalid_input"
    for bad in ("zero", "0", "-1", str(2**64)):
        assert _error(_raw(api, name, bad, b"x"), 400, "query.oplogIdx") == "invalid_input"
    assert _error(_raw(api, name, idx + 1000, b"x"), 404) == "not_found"
    text = api.http.post(
        api.path(name, "/complete"), content=b"abc", headers={"content-type": "text/plain"}
    )
    _error(text, 400, "body")
    assert api.status(name) == "Suspended"  # nothing was completed
    assert _raw(api, name, idx, b"fine").json() is True
    assert _result(api, name, invocation) == b"fine"


def test_payloads_over_max_payload_are_413_both_forms(
    small_server: Server, template: tuple[Path, str]
) -> None:
    api = _api(small_server, template)
    name, invocation, idx = _waiting(api)
    assert _error(_raw(api, name, idx, bytes(LIMIT + 1)), 413) == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(LIMIT // 4096 + 2):
            yield bytes(4096)

    streamed = api.http.post(
        api.path(name, "/complete"),
        content=chunks(),
        params={"oplogIdx": idx},
        headers={"content-type": "application/octet-stream"},
    )
    assert _error(streamed, 413) == "payload_too_large"
    # JSON: a body that no payload of LIMIT bytes could need is refused unread...
    too_big_json = b'{"oplogIdx": %d, "data": [' % idx + b"0, " * (2 * LIMIT) + b"0]}"
    too_big = api.http.post(
        api.path(name, "/complete"),
        content=too_big_json,
        headers={"content-type": "application/json"},
    )
    assert _error(too_big, 413) == "payload_too_large"
    assert api.status(name) == "Suspended"
    # ...and exactly LIMIT bytes are accepted, as a JSON array of "255, " elements.
    payload = bytes([255]) * LIMIT
    assert api.complete(name, idx, list(payload)).json() is True
    assert _result(api, name, invocation) == payload


def test_webhook_bodies_are_raw_payloads_up_to_max_payload(
    small_server: Server, template: tuple[Path, str]
) -> None:
    api = _api(small_server, template)
    name, invocation, idx = _waiting(api)
    secret = cli(small_server.store, "promise", "secret", template[1], name, str(idx))
    assert secret.returncode == 0, secret.stderr
    promise = PromiseId(AgentId(uuid.UUID(template[1]), name), idx)
    path = "/webhooks/hook/" + token(promise, secret.stdout.strip())
    too_big = api.http.post(path, content=bytes(LIMIT + 1))
    assert _error(too_big, 413) == "payload_too_large"
    payload = random.Random(3).randbytes(LIMIT)
    sent = api.http.post(
        path, content=payload, headers={"content-type": "application/octet-stream"}
    )
    assert sent.status_code == 204, sent.text
    assert _result(api, name, invocation) == payload


@pytest.mark.slow
def test_the_cli_sends_files_and_stdin_as_raw_bytes(
    default_server: Server, template: tuple[Path, str], tmp_path: Path
) -> None:
    api = _api(default_server, template)
    payload = random.Random(4).randbytes(600_000)  # over what the JSON body limit once took
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    for how in (("--file", str(source)), ("--stdin",)):
        name, invocation, idx = _waiting(api)
        done = subprocess.run(
            [AGENT_HOST, "--server", default_server.url, "promise", "complete"]
            + [template[1], name, str(idx), *how],
            input=payload if how[0] == "--stdin" else None,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().splitlines()[0] == "true"
        assert _result(api, name, invocation) == payload


def test_max_payload_must_be_a_size(tmp_path: Path) -> None:
    done = cli(tmp_path / "store", "serve", "--port", "0", "--max-payload", "lots")
    assert done.returncode != 0
    assert "is not a size" in done.stderr and "Traceback" not in done.stderr


def test_the_api_document_shows_both_body_forms(
    default_server: Server, template: tuple[Path, str]
) -> None:
    doc = _api(default_server, template).http.get("/openapi.json").json()
    route = doc["paths"]["/v1/components/{component_id}/workers/{worker_name}/complete"]["post"]
    content = route["requestBody"]["content"]
    assert content["application/octet-stream"]["schema"]["format"] == "binary"
    ref = content["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"oplogIdx", "data"}
    assert schema["properties"]["data"]["items"]["maximum"] == 255
    assert {"oplogIdx", "component_id", "worker_name"} <= {p["name"] for p in route["parameters"]}
    assert "413" in route["responses"]


@pytest.fixture(scope="module")
def guarded_server(
    template: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from _serve(template, tmp_path_factory.mktemp("guarded"), "--require-promise-secret")


def test_a_raw_completion_needs_the_secret_where_the_server_asks(
    guarded_server: Server, template: tuple[Path, str]
) -> None:
    api = _api(guarded_server, template)
    name, invocation, idx = _waiting(api)
    assert _error(_raw(api, name, idx, b"no secret"), 401) == "unauthorized"
    secret = cli(guarded_server.store, "promise", "secret", template[1], name, str(idx))
    assert secret.returncode == 0, secret.stderr
    wrong = api.http.post(
        api.path(name, "/complete"),
        content=b"wrong secret",
        params={"oplogIdx": idx},
        headers={"content-type": "application/octet-stream", "x-promise-secret": "nope"},
    )
    assert _error(wrong, 401) == "unauthorized"
    assert api.status(name) == "Suspended"
    right = api.http.post(
        api.path(name, "/complete"),
        content=b"with the secret",
        params={"oplogIdx": idx},
        headers={
            "content-type": "application/octet-stream",
            "x-promise-secret": secret.stdout.strip(),
        },
    )
    assert (right.status_code, right.json()) == (200, True)
    assert _result(api, name, invocation) == b"with the secret"
