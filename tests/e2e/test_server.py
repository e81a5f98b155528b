"""``agent-host serve`` over real HTTP: Golem's worker REST shapes (spec section 4).

Every server here is a real ``agent-host serve`` subprocess on a free loopback port with
its own data directory (a SQLite file under a pytest tmp dir); clients are real httpx
clients; guests are the WAT fixtures (plain WIT components, no agent SDK). Every
response any client receives is checked to be below 500 (``tests.server_util.Server``).

Components are registered once per session through the CLI into a template store; each
server gets a private copy of it (compiled code hard-linked, so nothing is compiled twice).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from host.store import DB_FILENAME
from tests.fixtures.build import build_fixture
from tests.fixtures.postgres import url_for
from tests.server_util import (
    CLEAN_EXIT,
    Api,
    Server,
    add_component,
    cli,
    clone_store,
    json_bytes,
    store_view,
    wait_until,
)

# slow: real server processes, restarts and held requests (several seconds per test here)
pytestmark = pytest.mark.slow

POLL = 0.1  # --poll-interval of most servers here


# -- fixtures ------------------------------------------------------------------------------
class Template:
    def __init__(self, store: Path, ids: dict[str, str], wasm: dict[str, Path]) -> None:
        self.store = store
        self.ids = ids
        self.wasm = wasm


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    store = tmp_path_factory.mktemp("template") / "store"
    wasm = {
        "promises": build_fixture("promises-1.3.0"),
        "durable": build_fixture("durable-1.3.0"),
    }
    ids = {name: add_component(store, path, name) for name, path in wasm.items()}
    return Template(store, ids, wasm)


ServerFactory = Callable[..., Server]


def _factory(template: Template, base: Path) -> tuple[ServerFactory, list[Server]]:
    servers: list[Server] = []

    def make(store: Path | None = None, **options: Any) -> Server:
        if store is None:
            store = clone_store(template.store, base / f"store{len(servers)}")
        server = Server(store, log=base / f"server{len(servers)}.log", **options)
        servers.append(server)
        return server.start()

    return make, servers


def _stop_all(servers: list[Server]) -> None:
    failures = []
    for server in servers:
        proc = server.proc
        if proc is None or proc.poll() is not None:
            continue  # killed by the test
        rc = server.stop()
        if rc not in CLEAN_EXIT:
            failures.append(f"server exited with {rc}:\n{server.output()[-3000:]}")
    for server in servers:
        if "Traceback" in server.output():  # a failure logged by a background thread
            failures.append(f"the server logged an error:\n{server.output()[-3000:]}")
    assert not failures, failures


@pytest.fixture
def make_server(template: Template, tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers on private copies of the template store (or on a given store);
    each is stopped with SIGTERM at teardown, must exit cleanly and log no traceback."""
    make, servers = _factory(template, tmp_path)
    yield make
    _stop_all(servers)


@pytest.fixture(scope="module")
def shared(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that need no restart; they use agents of their own."""
    make, servers = _factory(template, tmp_path_factory.mktemp("shared"))
    yield make(poll_interval=POLL)
    _stop_all(servers)


@pytest.fixture
def http(shared: Server) -> httpx.Client:
    return shared.client()


@pytest.fixture
def promises(http: httpx.Client, template: Template) -> Api:
    return Api(http, template.ids["promises"])


def fresh(prefix: str = "a") -> str:
    """An agent name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="held")


def in_thread(fn: Callable[[], httpx.Response]) -> Future[httpx.Response]:
    """Run a (blocking) request on another thread; .result() re-raises its failure."""
    return _pool.submit(fn)


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The one documented error shape: {"error": {"code", "message", "field"?}}."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "field"}
    if field is not None:
        assert error.get("field") == field, error
    return dict(error)


def result(response: httpx.Response) -> Any:
    """The result of a finished invocation: 200 with Golem's ``{"result": ...}``."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict) and "result" in body, body
    return body["result"]


def suspend_on_create_and_await(api: Api, name: str) -> tuple[str, int]:
    """Invoke create-and-await (fire and forget) and wait for the suspension; (invocation
    id, the oplog index of the promise it waits on)."""
    invoked = api.invoke(name, "create-and-await")
    assert invoked.status_code == 202, invoked.text
    meta = api.wait_status(name, "Suspended")
    (waiting,) = meta["waitingOn"]
    return invoked.json()["invocationId"], int(waiting["oplogIdx"])


def result_of(api: Api, name: str, invocation_id: str, wait: float = 10.0) -> httpx.Response:
    return api.http.get(
        api.path(name, f"/invocations/{invocation_id}"), params={"wait": wait}, timeout=wait + 10
    )


# -- 1. a suspended invocation over HTTP: waiting on, listed, held, released ------------
# (The seed's approval example over HTTP: tests/e2e/test_examples*.py, code-first.)
def test_a_waiting_invocation_is_listed_and_finishes_when_completed(promises: Api) -> None:
    name = fresh("alice")
    started = promises.invoke_and_await(name, "create-and-await", timeout=1.5)
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["status"] == "Suspended" and body["state"] == "started"
    (waiting,) = body["waitingOn"]
    assert waiting["workerId"] == {"componentId": promises.cid, "workerName": name}
    idx = waiting["oplogIdx"]
    assert isinstance(idx, int) and idx > 1
    result_url = body["resultUrl"]
    assert result_url == promises.path(name, f"/invocations/{body['invocationId']}")

    # What a person completing the promise looks at: the pending promises.
    listed = promises.http.get(promises.path(name, "/promises")).json()["promises"]
    assert [(p["promiseId"]["oplogIdx"], p["createdBy"], p["completed"]) for p in listed] == [
        (idx, "create-and-await", False)
    ]
    assert listed[0]["id"] == f"{promises.cid}/{name}/{idx}"
    assert "T" in listed[0]["createdAt"]
    everywhere = promises.http.get("/v1/promises", params={"component": promises.cid}).json()
    assert listed[0]["id"] in [p["id"] for p in everywhere["promises"]]
    assert promises.http.get(result_url).status_code == 202  # still waiting

    held = in_thread(lambda: promises.http.get(result_url, params={"wait": 20}, timeout=30))
    time.sleep(0.2)
    assert not held.done()  # the result URL holds the request while the agent waits
    completed = promises.complete(name, idx, json_bytes("approved"))
    assert completed.status_code == 200 and completed.text == "true"
    done = held.result(timeout=15)
    assert done.status_code == 200, done.text
    assert bytes(result(done)) == b'"approved"'

    assert bytes(result(promises.http.get(result_url))) == b'"approved"'
    assert promises.http.get(promises.path(name, "/promises")).json() == {"promises": []}
    all_promises = promises.http.get(promises.path(name, "/promises"), params={"all": True})
    assert [p["completed"] for p in all_promises.json()["promises"]] == [True]
    assert promises.status(name) == "Idle"
    # A second completion does not change the payload.
    again = promises.complete(name, idx, json_bytes("rejected"))
    assert again.status_code == 200 and again.text == "false"
    assert bytes(result(promises.invoke_and_await(name, "poll", [idx]))) == b'"approved"'


def _maybe_worker(api: Api, name: str) -> dict[str, Any] | None:
    response = api.http.get(api.path(name))
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- 2 and 7b. invoke-and-await held across a suspension; HTTP completion is immediate -----
def test_invoke_and_await_is_held_across_a_suspension_and_released_at_once(
    make_server: ServerFactory, template: Template
) -> None:
    # A scan interval far longer than the test: only the direct wake-up can resume the agent.
    server = make_server(poll_interval=30.0)
    api = Api(server.client(), template.ids["promises"])
    waiter = Api(server.client(), template.ids["promises"])
    for round_ in range(3):
        name = fresh("held")
        held = in_thread(partial(waiter.invoke_and_await, name, "create-and-await"))
        meta = api.wait_status(name, "Suspended")
        (waiting,) = meta["waitingOn"]
        time.sleep(0.1)
        assert not held.done(), "invoke-and-await answered while the agent was suspended"
        payload = [round_, 1, 2, 255]
        answer = api.complete(name, waiting["oplogIdx"], payload)
        # Answered within 10 s while the scan runs every 30 s: the direct wake-up did it
        # (how fast is scripts/bench_server.py's figure, not this test's).
        response = held.result(timeout=10)
        assert answer.json() is True
        assert response.status_code == 200, response.text
        assert result(response) == payload
        assert api.status(name) == "Idle"
        assert api.count_entries(name, "suspended") == 1


# -- 3. complete before and after suspension, double completion ---------------------------
def test_complete_before_the_agent_waits(promises: Api) -> None:
    name = fresh("early")
    created = promises.invoke_and_await(name, "create")
    assert created.status_code == 200, created.text
    idx = created.json()["result"]
    assert isinstance(idx, int)
    answer = promises.complete(name, idx, [7, 8, 9])
    assert answer.status_code == 200 and answer.json() is True
    assert result(promises.invoke_and_await(name, "poll", [idx])) == [7, 8, 9]
    waited = promises.invoke_and_await(name, "await", [idx], timeout=5)
    assert result(waited) == [7, 8, 9]
    assert promises.count_entries(name, "suspended") == 0  # never had to wait


def test_complete_after_the_agent_suspended(promises: Api) -> None:
    name = fresh("late")
    idx = promises.invoke_and_await(name, "create").json()["result"]
    assert result(promises.invoke_and_await(name, "poll", [idx])) is None
    waiting = promises.invoke_and_await(name, "await", [idx], timeout=0.3)
    assert waiting.status_code == 202, waiting.text
    assert [w["oplogIdx"] for w in waiting.json()["waitingOn"]] == [idx]
    assert promises.complete(name, idx, []).json() is True  # an empty payload is a payload
    done = promises.http.get(waiting.json()["resultUrl"], params={"wait": 10})
    assert result(done) == []


def test_double_completion_keeps_the_first_payload(promises: Api) -> None:
    name = fresh("twice")
    invocation, idx = suspend_on_create_and_await(promises, name)
    first = promises.complete(name, idx, [1])
    second = promises.complete(name, idx, [2])
    assert (first.status_code, first.text) == (200, "true")
    assert (second.status_code, second.text) == (200, "false")
    assert result(result_of(promises, name, invocation)) == [1]
    third = promises.complete(name, idx, [3])
    assert third.text == "false"
    assert result(promises.invoke_and_await(name, "poll", [idx])) == [1]


# -- 3. unknown ids -----------------------------------------------------------------------
def test_unknown_component_agent_and_promise_are_404(promises: Api, http: httpx.Client) -> None:
    name = fresh("known")
    idx = promises.invoke_and_await(name, "create").json()["result"]
    body = {"oplogIdx": idx, "data": [1]}
    nobody = str(uuid.uuid4())
    for path in (
        f"/v1/components/{nobody}/workers/{name}/complete",
        "/v1/components/no-such-component/workers/x/complete",
        promises.path(fresh("ghost"), "/complete"),
    ):
        assert_error(http.post(path, json=body), 404)
    unknown_promise = assert_error(promises.complete(name, idx + 1000, [1]), 404)
    assert str(idx + 1000) in unknown_promise["message"]
    # Indexes past what SQLite holds are unknown promises too, not crashes.
    for huge in (2**63 - 1, 2**63, 2**64 - 1):
        assert_error(promises.complete(name, huge, [1]), 404)
    assert promises.complete(name, idx, [1]).json() is True  # the real one is untouched

    ghost = fresh("ghost")
    for method, path in (
        ("GET", promises.path(ghost)),
        ("DELETE", promises.path(ghost)),
        ("GET", promises.path(ghost, "/promises")),
        ("GET", promises.path(ghost, "/oplog")),
        ("POST", promises.path(ghost, "/interrupt")),
        ("POST", promises.path(ghost, "/resume")),
        ("GET", promises.path(name, f"/invocations/{uuid.uuid4()}")),
        ("GET", f"/v1/components/{nobody}"),
        ("GET", f"/v1/components/{nobody}/workers"),
        ("POST", f"/v1/components/{nobody}/workers/{ghost}/invoke?function=create"),
        ("GET", "/v1/no-such-route"),
    ):
        assert_error(http.request(method, path), 404)
    assert_error(http.get(promises.path(ghost)), 404)  # nothing above created it


# -- 3. malformed bodies ------------------------------------------------------------------
MALFORMED_COMPLETE = [
    ("byte 300", b'{"oplogIdx": 5, "data": [1, 300]}', "body.data.1"),
    ("byte -1", b'{"oplogIdx": 5, "data": [-1]}', "body.data.0"),
    ("byte a float", b'{"oplogIdx": 5, "data": [1.5]}', "body.data.0"),
    ("byte a bool", b'{"oplogIdx": 5, "data": [true]}', "body.data.0"),
    ("byte a string", b'{"oplogIdx": 5, "data": ["1"]}', "body.data.0"),
    ("missing oplogIdx", b'{"data": [1]}', "body.oplogIdx"),
    ("missing data", b'{"oplogIdx": 5}', "body.data"),
    ("oplogIdx a string", b'{"oplogIdx": "5", "data": [1]}', "body.oplogIdx"),
    ("oplogIdx a float", b'{"oplogIdx": 5.0, "data": [1]}', "body.oplogIdx"),
    ("oplogIdx a bool", b'{"oplogIdx": true, "data": [1]}', "body.oplogIdx"),
    ("oplogIdx zero", b'{"oplogIdx": 0, "data": [1]}', "body.oplogIdx"),
    ("oplogIdx negative", b'{"oplogIdx": -3, "data": [1]}', "body.oplogIdx"),
    ("oplogIdx past u64", b'{"oplogIdx": 18446744073709551616, "data": []}', "body.oplogIdx"),
    ("data a string", b'{"oplogIdx": 5, "data": "abc"}', "body.data"),
    ("data an object", b'{"oplogIdx": 5, "data": {"0": 1}}', "body.data"),
    ("data null", b'{"oplogIdx": 5, "data": null}', "body.data"),
    ("extra field", b'{"oplogIdx": 5, "data": [1], "extra": 1}', "body.extra"),
    ("an array", b"[5, [1]]", "body"),
    ("null", b"null", "body"),
    ("empty body", b"", "body"),
]


@pytest.mark.parametrize(
    ("body", "field"), [m[1:] for m in MALFORMED_COMPLETE], ids=[m[0] for m in MALFORMED_COMPLETE]
)
def test_malformed_complete_body_is_400_naming_the_field(
    promises: Api, body: bytes, field: str
) -> None:
    name = fresh("bad")
    invocation, idx = suspend_on_create_and_await(promises, name)
    response = promises.http.post(
        promises.path(name, "/complete"),
        content=body.replace(b'"oplogIdx": 5', f'"oplogIdx": {idx}'.encode()),
        headers={"content-type": "application/json"},
    )
    error = assert_error(response, 400, field)
    assert error["message"]
    # Nothing was completed: the agent still waits, and a good request still works.
    assert promises.status(name) == "Suspended"
    assert promises.complete(name, idx, [4]).json() is True
    assert result(result_of(promises, name, invocation)) == [4]


def test_a_body_that_is_not_json_is_400(promises: Api) -> None:
    name = fresh("notjson")
    _, idx = suspend_on_create_and_await(promises, name)
    for content, ctype in (
        (b"not json", "application/json"),
        (b'{"oplogIdx": %d, "data": [1]' % idx, "application/json"),  # truncated
        (b"\xff\xfe", "application/json"),
        (b'{"oplogIdx": %d, "data": [1]}' % idx, "text/plain"),
    ):
        response = promises.http.post(
            promises.path(name, "/complete"), content=content, headers={"content-type": ctype}
        )
        assert_error(response, 400, "body")
    assert promises.status(name) == "Suspended"


def test_oversized_bodies_are_413(promises: Api) -> None:
    # Completions have their own limit, --max-payload (tests/e2e/test_payloads.py).
    name = fresh("big")
    invocation, idx = suspend_on_create_and_await(promises, name)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        yield b'{"params": ["'
        for _ in range(300):
            yield b"x" * 8000
        yield b'"]}'

    streamed = promises.http.post(
        promises.path(name, "/invoke?function=create"),
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert_error(streamed, 413)
    params = {"params": ["x" * (2 << 20)]}
    assert_error(
        promises.http.post(promises.path(name, "/invoke?function=create"), json=params), 413
    )
    assert promises.status(name) == "Suspended"
    # A completion of 1.6 MB of JSON (once refused by the 1 MiB body limit) is fine.
    ok = promises.complete(name, idx, [255] * 400_000)
    assert ok.status_code == 200 and ok.json() is True
    assert result(result_of(promises, name, invocation)) == [255] * 400_000


# -- 3. invalid invocations ----------------------------------------------------------------
BAD_INVOCATIONS = [
    ("wrong count", "await", {"params": []}, "body.params"),
    ("too many", "create", {"params": [1]}, "body.params"),
    ("wrong type", "await", {"params": ["x"]}, "body.params.0"),
    ("negative u64", "await", {"params": [-1]}, "body.params.0"),
    ("u64 overflow", "await", {"params": [2**64]}, "body.params.0"),
    ("float for u64", "await", {"params": [1.5]}, "body.params.0"),
    ("byte out of range", "complete", {"params": [1, [256]]}, "body.params.1"),
    ("list for string", "complete-for", {"params": [1, 2, [1], 3, []]}, "body.params.2"),
    ("params not a list", "await", {"params": {"idx": 1}}, "body.params"),
    ("extra field", "create", {"params": [], "x": 1}, "body.x"),
    ("body an array", "create", [1], "body"),
]


@pytest.mark.parametrize("route", ["invoke", "invoke-and-await"])
@pytest.mark.parametrize(
    ("function", "body", "field"),
    [b[1:] for b in BAD_INVOCATIONS],
    ids=[b[0] for b in BAD_INVOCATIONS],
)
def test_invalid_invocation_is_400_and_creates_nothing(
    promises: Api, route: str, function: str, body: Any, field: str
) -> None:
    name = fresh("inv")
    response = promises.http.post(
        promises.path(name, f"/{route}"), params={"function": function}, json=body
    )
    assert_error(response, 400, field)
    assert_error(promises.http.get(promises.path(name)), 404)  # no agent was created


@pytest.mark.parametrize("route", ["invoke", "invoke-and-await"])
def test_unknown_or_missing_function_is_400(promises: Api, route: str) -> None:
    name = fresh("fn")
    unknown = promises.http.post(
        promises.path(name, f"/{route}"), params={"function": "no-such-fn"}, json={"params": []}
    )
    error = assert_error(unknown, 400)
    assert "no-such-fn" in error["message"] and "create-and-await" in error["message"]
    for query in ({}, {"function": ""}):
        missing = promises.http.post(promises.path(name, f"/{route}"), params=query, json={})
        assert_error(missing, 400, "query.function")
    assert_error(promises.http.get(promises.path(name)), 404)
    # An existing agent is left as it was.
    promises.invoke_and_await(name, "create")
    length = promises.worker(name)["oplogLength"]
    assert_error(promises.invoke(name, "no-such-fn"), 400)
    assert_error(promises.invoke(name, "await", ["x"]), 400)
    assert promises.worker(name)["oplogLength"] == length
    assert promises.worker(name)["pendingInvocationCount"] == 0


def test_bad_query_values_are_400(promises: Api) -> None:
    name = fresh("q")
    promises.invoke_and_await(name, "create")
    for path, params, field in (
        ("/invoke-and-await", {"function": "create", "timeout": "0"}, "query.timeout"),
        ("/invoke-and-await", {"function": "create", "timeout": "soon"}, "query.timeout"),
        ("/oplog", {"from": "0"}, "query.from"),
        ("/oplog", {"count": "0"}, "query.count"),
        ("/oplog", {"from": "x"}, "query.from"),
        ("/oplog", {"from": str(2**64)}, "query.from"),
    ):
        method = "POST" if path.startswith("/invoke") else "GET"
        response = promises.http.request(method, promises.path(name, path), params=params)
        assert_error(response, 400, field)
    assert_error(promises.http.get(promises.path(), params={"status": "asleep"}), 400)
    invalid_name = promises.http.post(promises.path(), json={"name": "a/b"})
    assert_error(invalid_name, 400, "body.name")
    assert_error(promises.http.post(promises.path(), json={"name": 5}), 400, "body.name")
    assert_error(promises.http.post(promises.path(), json={"args": []}), 400, "body.name")


# -- 4. idempotency keys -------------------------------------------------------------------
def test_idempotency_key_returns_the_stored_result_and_runs_once(promises: Api) -> None:
    name = fresh("idem")
    first = promises.invoke_and_await(name, "create", key="key-1")
    again = promises.invoke_and_await(name, "create", key="key-1")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    fire = promises.invoke(name, "create", key="key-1")
    assert fire.status_code == 202
    other = promises.invoke_and_await(name, "create", key="key-2")
    assert other.json()["result"] != first.json()["result"]
    assert promises.count_entries(name, "invocation-started") == 2
    assert promises.count_entries(name, "promise-created") == 2

    # A key whose invocation is still waiting returns that invocation, not a new one.
    waiting = promises.invoke_and_await(name, "create-and-await", key="key-3", timeout=0.5)
    repeat = promises.invoke_and_await(name, "create-and-await", key="key-3", timeout=0.3)
    fired = promises.invoke(name, "create-and-await", key="key-3")
    assert waiting.status_code == repeat.status_code == 202
    ids = {waiting.json()["invocationId"], repeat.json()["invocationId"]}
    assert ids == {fired.json()["invocationId"]}
    assert promises.count_entries(name, "promise-created") == 3
    (idx,) = [w["oplogIdx"] for w in repeat.json()["waitingOn"]]
    assert promises.complete(name, idx, [42]).json() is True
    final = promises.invoke_and_await(name, "create-and-await", key="key-3")
    assert result(final) == [42]
    assert promises.count_entries(name, "invocation-started") == 3


def test_idempotency_key_is_honoured_after_a_restart(
    make_server: ServerFactory, template: Template
) -> None:
    server = make_server(poll_interval=POLL)
    api = Api(server.client(), template.ids["promises"])
    name = fresh("restart")
    first = api.invoke_and_await(name, "create", key="once")
    assert first.status_code == 200
    waiting = api.invoke_and_await(name, "create-and-await", key="twice", timeout=0.5)
    assert waiting.status_code == 202
    oplog_before = api.oplog(name)

    server.restart()
    api = Api(server.client(), template.ids["promises"])
    assert api.invoke_and_await(name, "create", key="once").json() == first.json()
    repeat = api.invoke_and_await(name, "create-and-await", key="twice", timeout=0.3)
    assert repeat.status_code == 202
    assert repeat.json()["invocationId"] == waiting.json()["invocationId"]
    assert api.oplog(name) == oplog_before  # nothing ran again
    (idx,) = [w["oplogIdx"] for w in repeat.json()["waitingOn"]]
    assert api.complete(name, idx, [5]).json() is True
    server.restart()
    api = Api(server.client(), template.ids["promises"])
    final = api.invoke_and_await(name, "create-and-await", key="twice")
    assert result(final) == [5]
    assert api.count_entries(name, "invocation-started") == 2
    assert api.count_entries(name, "promise-created") == 2


# -- 5. agents: create, list, metadata, oplog, delete, interrupt/resume ----------------------
def test_create_list_and_metadata(promises: Api) -> None:
    names = [fresh("list") for _ in range(3)]
    created = promises.http.post(
        promises.path(),
        json={"name": names[0], "args": ["--flag", "x"], "env": {"COLOUR": "blue"}},
    )
    assert created.status_code == 201, created.text
    assert created.json()["workerId"] == {"componentId": promises.cid, "workerName": names[0]}
    assert isinstance(created.json()["componentVersion"], int)
    assert_error(promises.http.post(promises.path(), json={"name": names[0]}), 409)

    meta = promises.worker(names[0])
    assert meta["status"] == "Idle"
    assert meta["args"] == ["--flag", "x"]
    # The agent's own variables, as Golem's metadata has them (GOLEM_* are only in
    # what the guest's get-environment answers).
    assert meta["env"] == {"COLOUR": "blue"}
    assert meta["waitingOn"] == [] and meta["pendingInvocationCount"] == 0
    assert meta["oplogLength"] == 1 and "T" in meta["createdAt"]

    suspend_on_create_and_await(promises, names[1])
    promises.invoke_and_await(names[2], "create")
    queued = promises.invoke(names[1], "create")  # queued behind the suspended invocation
    assert queued.status_code == 202
    assert promises.worker(names[1])["pendingInvocationCount"] == 1

    def statuses(status: str | None) -> dict[str, str]:
        params = {"status": status} if status else {}
        listed = promises.http.get(promises.path(), params=params)
        assert listed.status_code == 200, listed.text
        return {
            w["workerId"]["workerName"]: w["status"]
            for w in listed.json()["workers"]
            if w["workerId"]["workerName"] in names
        }

    assert statuses(None) == {names[0]: "Idle", names[1]: "Suspended", names[2]: "Idle"}
    assert statuses("suspended") == {names[1]: "Suspended"}
    assert statuses("Suspended") == {names[1]: "Suspended"}
    assert statuses("idle") == {names[0]: "Idle", names[2]: "Idle"}
    assert statuses("failed") == {}
    everyone = promises.http.get(promises.path()).json()["workers"]
    assert all(w["workerId"]["componentId"] == promises.cid for w in everyone)


def test_oplog_pages(promises: Api) -> None:
    """agent-host's own entries (format=agent-host); tests/e2e/test_oplog_rest.py has
    Golem's public ones."""
    AH = {"format": "agent-host"}  # noqa: N806
    name = fresh("pages")
    for _ in range(3):
        promises.invoke_and_await(name, "create")
    length = promises.worker(name)["oplogLength"]
    assert length >= 10
    whole = promises.http.get(promises.path(name, "/oplog"), params=AH).json()
    assert whole["length"] == length and whole["next"] is None
    assert [e["oplogIndex"] for e in whole["entries"]] == list(range(1, length + 1))
    assert whole["entries"][0]["entry"]["type"] == "agent-created"

    seen = []
    start: int | None = 1
    while start is not None:
        page = promises.http.get(
            promises.path(name, "/oplog"), params={"from": start, "count": 3, **AH}
        )
        body = page.json()
        assert len(body["entries"]) <= 3
        seen += body["entries"]
        expected_next = start + 3 if start + 3 <= length else None
        assert body["next"] == expected_next
        start = body["next"]
    assert seen == whole["entries"]
    past = promises.http.get(promises.path(name, "/oplog"), params={"from": length + 1, **AH})
    assert past.json()["entries"] == [] and past.json()["next"] is None
    far = promises.http.get(promises.path(name, "/oplog"), params={"from": 2**63 - 1, **AH})
    assert far.status_code == 200 and far.json()["entries"] == []


def test_delete_then_404(promises: Api) -> None:
    name = fresh("del")
    invocation, idx = suspend_on_create_and_await(promises, name)
    deleted = promises.http.delete(promises.path(name))
    assert deleted.status_code == 200
    assert_error(promises.http.get(promises.path(name)), 404)
    assert_error(promises.complete(name, idx, [1]), 404)
    assert_error(promises.http.get(promises.path(name, "/promises")), 404)
    assert_error(promises.http.get(promises.path(name, "/oplog")), 404)
    assert_error(promises.http.delete(promises.path(name)), 404)
    all_ids = [p["id"] for p in promises.http.get("/v1/promises").json()["promises"]]
    assert f"{promises.cid}/{name}/{idx}" not in all_ids
    # The name can be used again: a new agent with a fresh oplog.
    again = promises.invoke_and_await(name, "create")
    assert again.status_code == 200
    assert promises.worker(name)["oplogLength"] == 4


def test_an_interrupted_agent_waits_for_resume(promises: Api) -> None:
    name = fresh("intr")
    invocation, idx = suspend_on_create_and_await(promises, name)
    assert promises.http.post(promises.path(name, "/interrupt")).status_code == 200
    assert promises.status(name) == "Interrupted"
    assert promises.complete(name, idx, [9]).json() is True
    queued = promises.invoke(name, "create")
    assert queued.status_code == 202
    time.sleep(POLL * 5)  # several scans of the store
    assert promises.status(name) == "Interrupted"
    assert result_of(promises, name, invocation, wait=0).status_code == 202
    # Resuming a not-interrupted agent is a conflict; this one resumes and catches up.
    assert_error(promises.http.post(promises.path(fresh("none"), "/resume")), 404)
    resumed = promises.http.post(promises.path(name, "/resume"))
    assert resumed.status_code == 200
    assert result(result_of(promises, name, invocation)) == [9]
    later = result_of(promises, name, queued.json()["invocationId"])
    assert isinstance(result(later), int)
    promises.wait_status(name, "Idle")
    assert_error(promises.http.post(promises.path(name, "/resume")), 409)


def test_an_interrupted_idle_agent_runs_nothing_until_resumed(promises: Api) -> None:
    name = fresh("idle-intr")
    promises.invoke_and_await(name, "create")
    assert promises.http.post(promises.path(name, "/interrupt")).status_code == 200
    held = promises.invoke_and_await(name, "create", timeout=POLL * 4)
    assert held.status_code == 202 and held.json()["status"] == "Interrupted"
    assert promises.count_entries(name, "invocation-started") == 1
    promises.http.post(promises.path(name, "/resume"))
    done = promises.http.get(held.json()["resultUrl"], params={"wait": 10})
    assert isinstance(result(done), int)


# -- 6. crashes and shutdowns ---------------------------------------------------------------
def test_sigkill_with_agents_suspended_and_mid_invocation_loses_nothing(
    make_server: ServerFactory, template: Template
) -> None:
    server = make_server(poll_interval=POLL)
    client = server.client()
    promises = Api(client, template.ids["promises"])
    durable = Api(client, template.ids["durable"])

    waiting: dict[str, tuple[str, int]] = {}
    for _ in range(4):
        name = fresh("susp")
        waiting[name] = suspend_on_create_and_await(promises, name)
    held_name = fresh("held")  # one more, waited on by a request that the crash cuts off
    other = Api(server.client(), promises.cid)
    held = in_thread(lambda: other.invoke_and_await(held_name, "create-and-await"))
    promises.wait_status(held_name, "Suspended")

    sleeper = fresh("sleeper")
    # Three 150 ms sleeps (waited in place, inside the guest call) queued on one agent.
    sleeps = [durable.invoke(sleeper, "sleep", [150_000_000]) for _ in range(3)]
    assert all(s.status_code == 202 for s in sleeps)
    wait_until(lambda: _maybe_worker(durable, sleeper), what="the sleeper")
    durable.wait_status(sleeper, "Running", timeout=10)
    server.kill()
    with pytest.raises(httpx.TransportError):
        held.result(timeout=10)

    view = store_view(server.store)
    try:
        record = next(a for a in view.list_agents() if a.agent.name == sleeper)
        assert record.status == "running"  # killed inside an invocation
        states = [str(i.state) for i in view.list_invocations(record.agent)]
        assert "started" in states and "done" not in states[states.index("started") :]
    finally:
        view.close()

    server.start()  # the same store: resumes the interrupted invocation by itself
    client = server.client()
    promises = Api(client, template.ids["promises"])
    durable = Api(client, template.ids["durable"])
    for sleep in sleeps:
        assert result(result_of(durable, sleeper, sleep.json()["invocationId"])) is None
    assert durable.count_entries(sleeper, "invocation-started") == 3
    assert durable.count_entries(sleeper, "invocation-finished") == 3
    assert durable.status(sleeper) == "Idle"

    time.sleep(POLL * 3)
    for name in [*waiting, held_name]:
        assert promises.status(name) == "Suspended"  # nothing woke them by itself
    for n, (name, (_, idx)) in enumerate(waiting.items()):
        assert promises.complete(name, idx, [n, 100]).json() is True
    for n, (name, (invocation, _)) in enumerate(waiting.items()):
        assert result(result_of(promises, name, invocation)) == [n, 100]
        assert promises.count_entries(name, "invocation-started") == 1
    # The cut-off invoke-and-await: its invocation survived and its result can be fetched.
    (idx,) = [w["oplogIdx"] for w in promises.worker(held_name)["waitingOn"]]
    assert promises.complete(held_name, idx, [1]).json() is True
    promises.wait_status(held_name, "Idle")
    finished = [e for e in promises.oplog(held_name) if e["type"] == "invocation-finished"]
    assert [e["result"] for e in finished] == ["[1]"]


def test_sigterm_lets_a_running_invocation_finish(
    make_server: ServerFactory, template: Template
) -> None:
    server = make_server(poll_interval=POLL)
    durable = Api(server.client(), template.ids["durable"])
    name = fresh("term")
    invocation = durable.invoke(name, "sleep", [150_000_000]).json()["invocationId"]
    wait_until(lambda: _maybe_worker(durable, name), what="the agent")
    durable.wait_status(name, "Running")
    assert server.stop(timeout=10) in CLEAN_EXIT
    view = store_view(server.store)
    try:
        (record,) = [a for a in view.list_agents() if a.agent.name == name]
        # Finished during the graceful shutdown, or left resumable: never half-written.
        assert record.status in ("idle", "running"), record
        state = view.get_invocation(invocation).state
        assert (record.status, state) in (("idle", "done"), ("running", "started"))
    finally:
        view.close()
    server.start()
    durable = Api(server.client(), template.ids["durable"])
    assert result(result_of(durable, name, invocation)) is None
    assert durable.count_entries(name, "invocation-started") == 1
    assert durable.count_entries(name, "invocation-finished") == 1


def test_sigterm_releases_held_requests_promptly(
    make_server: ServerFactory, template: Template
) -> None:
    server = make_server(poll_interval=POLL)
    api = Api(server.client(), template.ids["promises"])
    waiter = Api(httpx.Client(base_url=server.url, timeout=60), api.cid)
    name = fresh("shutdown")
    held = in_thread(lambda: waiter.invoke_and_await(name, "create-and-await"))
    api.wait_status(name, "Suspended")
    assert server.proc is not None
    server.proc.terminate()
    try:
        server.proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        server.kill()
    try:
        response = held.result(timeout=10)
    except httpx.TransportError as exc:
        pytest.fail(f"the held request was cut off: {exc!r}")
    finally:
        waiter.http.close()
    assert server.proc.returncode in CLEAN_EXIT
    assert response.status_code == 202, response.text


# -- 7. completions written by other processes --------------------------------------------
def test_cli_completion_against_the_store_resumes_the_agent_in_bounded_time(
    shared: Server, promises: Api, template: Template
) -> None:
    name = fresh("cli")
    held = in_thread(
        lambda: Api(shared.client(), promises.cid).invoke_and_await(name, "create-and-await")
    )
    meta = promises.wait_status(name, "Suspended")
    (waiting,) = meta["waitingOn"]
    done = cli(
        shared.store, "promise", "complete", "promises", name, str(waiting["oplogIdx"]),
        "--bytes", "[3, 1, 4]",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "true"
    response = held.result(timeout=10)  # the bound; how fast is a benchmark's figure
    assert result(response) == [3, 1, 4]
    assert promises.status(name) == "Idle"


def test_completion_written_by_another_process_is_picked_up_by_the_scan(
    shared: Server, promises: Api
) -> None:
    """The store alone is written (no agent run by the writer): the server's scan of the
    store must notice it within its poll interval."""
    name = fresh("scan")
    invocation, idx = suspend_on_create_and_await(promises, name)
    script = (
        "import sys, uuid\n"
        "from host.ids import AgentId, PromiseId\n"
        "from host.store import open_store\n"
        "s = open_store(sys.argv[1])\n"
        "agent = AgentId(uuid.UUID(sys.argv[2]), sys.argv[3])\n"
        "print(s.complete_promise(PromiseId(agent, int(sys.argv[4])), b'xyz'))\n"
        "s.close()\n"
    )
    db = url_for(shared.store) or f"sqlite://{shared.store / DB_FILENAME}"
    wrote = subprocess.run(
        [sys.executable, "-c", script, db, promises.cid, name, str(idx)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert wrote.returncode == 0 and wrote.stdout.strip() == "True", wrote.stderr
    promises.wait_status(name, "Idle", timeout=5)  # the bound: many scan intervals
    assert result(result_of(promises, name, invocation)) == list(b"xyz")


# -- 8. OpenAPI and the rest ----------------------------------------------------------------
def test_openapi_lists_the_worker_routes(http: httpx.Client) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    workers = "/v1/components/{component_id}/workers"
    expected = {
        workers: {"get", "post"},
        workers + "/{worker_name}": {"get", "delete"},
        workers + "/{worker_name}/complete": {"post"},
        workers + "/{worker_name}/invoke": {"post"},
        workers + "/{worker_name}/invoke-and-await": {"post"},
        workers + "/{worker_name}/invocations/{invocation_id}": {"get"},
        workers + "/{worker_name}/oplog": {"get"},
        workers + "/{worker_name}/promises": {"get"},
        workers + "/{worker_name}/interrupt": {"post"},
        workers + "/{worker_name}/resume": {"post"},
        "/v1/promises": {"get"},
        "/v1/components": {"get", "post"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    complete = paths[workers + "/{worker_name}/complete"]["post"]
    ref = complete["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"oplogIdx", "data"}
    assert schema["properties"]["data"]["items"]["maximum"] == 255
    invoke = paths[workers + "/{worker_name}/invoke"]["post"]
    names = {p["name"].lower() for p in invoke["parameters"]}
    assert {"function", "idempotency-key"} <= names


def test_openapi_documents_the_error_shape_and_statuses(http: httpx.Client) -> None:
    doc = http.get("/openapi.json").json()
    complete = doc["paths"]["/v1/components/{component_id}/workers/{worker_name}/complete"]
    responses = complete["post"]["responses"]
    assert "422" not in responses
    assert {"200", "400", "404", "413"} <= set(responses)
    awaited = doc["paths"]["/v1/components/{component_id}/workers/{worker_name}/invoke-and-await"]
    assert "202" in awaited["post"]["responses"]


def test_component_upload_and_lookup(http: httpx.Client, template: Template) -> None:
    data = template.wasm["promises"].read_bytes()
    uploaded = http.post(
        "/v1/components",
        params={"name": fresh("up")},
        content=data,
        headers={"content-type": "application/wasm"},
    )
    assert uploaded.status_code == 201, uploaded.text
    cid = uploaded.json()["componentId"]
    shown = http.get(f"/v1/components/{cid}").json()
    assert "create-and-await" in shown["exports"]
    assert shown["componentSize"] == len(data)
    assert cid in [c["componentId"] for c in http.get("/v1/components").json()]
    api = Api(http, cid)
    assert isinstance(api.invoke_and_await(fresh(), "create").json()["result"], int)
    assert_error(http.post("/v1/components", params={"name": "x"}, content=b"garbage"), 400)
    assert_error(http.post("/v1/components", params={"name": "x"}, content=b""), 400)
    core = b"\0asm\1\0\0\0"
    assert_error(http.post("/v1/components", params={"name": "x"}, content=core), 400)
    assert_error(http.post("/v1/components", content=data), 400, "query.name")


def test_a_failed_invocation_is_422_not_500(promises: Api) -> None:
    name = fresh("fail")
    # The fixture awaits a promise of its "own id", which only `create` sets: this traps.
    failed = promises.invoke_and_await(name, "await", [1])
    error = assert_error(failed, 422)
    assert "failed" in error["message"]
    assert promises.status(name) == "Failed"
    queued = promises.invoke_and_await(name, "create", timeout=1)
    assert_error(queued, 422)


def test_no_response_was_a_server_error(shared: Server) -> None:
    """Every response of the shared server's clients went through the 5xx check."""
    assert shared.responses, "no requests were made"
    assert all(r.status_code < 500 for r in shared.responses)


def test_call_text_with_a_matching_function_query(promises: Api) -> None:
    """`?function=` beside `{"call": ...}` must name the call's function; a function with
    parameters is matched by name, not as a call with none."""
    name = fresh("callq")
    idx = promises.invoke_and_await(name, "create").json()["result"]
    path = promises.path(name, "/invoke-and-await")
    same = promises.http.post(path, params={"function": "poll"}, json={"call": f"poll({idx})"})
    assert same.status_code == 200, same.text
    assert same.json()["result"] is None
    other = promises.http.post(path, params={"function": "await"}, json={"call": f"poll({idx})"})
    assert_error(other, 400, "query.function")
