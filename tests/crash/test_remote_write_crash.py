"""A host killed (SIGKILL) while its guest is inside an outgoing HTTP request, through the
CLI and through a real ``agent-host serve`` (issue 11, items 5 and 8).

The other side is a loopback server run by the test (tests/holding_web.py) that holds the
first request open: the host dies with the request sent and no response recorded. After
the restart:

- idempotence mode off (``fetch-not-idempotent``): the invocation fails with Golem's
  message naming why, and the request was sent once (counted at the test server);
- idempotence mode on (the default, ``fetch``): the request is sent again, as Golem does,
  and the invocation completes with the second answer;
- output the guest wrote before the request (``print-then-fetch``) is in the agent's
  oplog once, whatever the recovery replays.

The guest is tests/fixtures/py/http_client (componentize-py).
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from host import oplog
from host.oplog import HostCall
from tests.fixtures.build import build_python_fixture
from tests.fixtures.postgres import env_for
from tests.holding_web import HoldingServer
from tests.server_util import (
    AGENT_HOST,
    Api,
    Server,
    add_component,
    cli,
    clone_store,
    store_view,
)

# slow: compiles the componentize-py guest once, then starts host processes per case
pytestmark = pytest.mark.slow

NOT_RETRIED = "non-idempotent remote write operation was not completed, cannot retry"
LINES = 5


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the guest registered (compiled once for the module)."""
    store = tmp_path_factory.mktemp("remote-write") / "store"
    add_component(store, build_python_fixture("http_client"), "http")
    return store


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Path:
    return clone_store(template, tmp_path / "store")


@pytest.fixture
def web() -> Iterator[HoldingServer]:
    server = HoldingServer(hold=1).start()
    try:
        yield server
    finally:
        server.close()


def _call(function: str, url: str) -> str:
    return f"{function}({json.dumps(url)})"


def _killed_cli_invoke(store: Path, web: HoldingServer, call: str, key: str) -> None:
    """`agent-host invoke` SIGKILLed while the guest's request is held at ``web``."""
    proc = subprocess.Popen(
        [AGENT_HOST, "--store", str(store), "invoke", "http", "a1", call, "--idempotency-key", key],
        env=env_for(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        web.wait_arrived()
    finally:
        proc.kill()
        out, err = proc.communicate(timeout=60)
    web.release()  # the held handler answers a dead connection
    assert proc.returncode == -9, (out, err)
    assert len(web.hits) == 1


def _invocation(store: Path) -> Any:
    view = store_view(store)
    try:
        (record,) = view.list_agents()
        (inv,) = view.list_invocations(record.agent)
        return inv
    finally:
        view.close()


# -- through the CLI ----------------------------------------------------------------------------
def test_cli_idempotence_off_a_crash_mid_request_fails_and_is_not_resent(
    store: Path, web: HoldingServer
) -> None:
    key = str(uuid.uuid4())
    call = _call("fetch-not-idempotent", web.url + "/once")
    _killed_cli_invoke(store, web, call, key)
    # A restarted host recovers the agent; then the client retries its call (same key).
    recovered = cli(store, "worker", "--once")
    assert recovered.returncode == 0, recovered.stderr
    assert "Traceback" not in recovered.stderr
    retried = cli(store, "invoke", "http", "a1", call, "--idempotency-key", key)
    assert retried.returncode != 0, retried.stdout
    assert "Traceback" not in retried.stderr
    assert retried.stderr.startswith("Error: "), retried.stderr
    assert NOT_RETRIED in retried.stderr
    inv = _invocation(store)
    assert inv.state == "failed" and NOT_RETRIED in (inv.error or "")
    assert web.hits == ["/once"]  # sent once, never again


def test_cli_idempotence_on_a_crash_mid_request_sends_it_again(
    store: Path, web: HoldingServer
) -> None:
    key = str(uuid.uuid4())
    call = f'fetch("GET", {json.dumps(web.url + "/again")}, [], none, [])'
    _killed_cli_invoke(store, web, call, key)
    recovered = cli(store, "worker", "--once")
    assert recovered.returncode == 0, recovered.stderr
    retried = cli(store, "--json", "invoke", "http", "a1", call, "--idempotency-key", key)
    assert retried.returncode == 0, retried.stderr
    assert "answered 2" in retried.stdout  # the answer to the request sent again
    inv = _invocation(store)
    assert inv.state == "done"
    assert json.loads(json.loads(inv.result))["body"] == "answered 2"
    assert web.hits == ["/again", "/again"]


# -- through REST -------------------------------------------------------------------------------
def _killed_server(
    store: Path, web: HoldingServer, function: str, params: list[Any], key: str
) -> tuple[Server, str]:
    """A server on ``store`` SIGKILLed while the guest's request is held at ``web``;
    the component id."""
    server = Server(store).start()
    cid = next(c.id for c in _components(store))
    api = Api(server.client(), cid)
    sent = api.invoke("a1", function, params, key=key)
    assert sent.status_code == 202, sent.text
    try:
        web.wait_arrived()
    finally:
        server.kill()
    web.release()
    assert len(web.hits) == 1
    return server, cid


def _components(store: Path) -> list[Any]:
    view = store_view(store)
    try:
        return list(view.list_components())
    finally:
        view.close()


def test_rest_idempotence_off_a_crash_mid_request_fails_and_is_not_resent(
    store: Path, web: HoldingServer
) -> None:
    key = str(uuid.uuid4())
    server, cid = _killed_server(store, web, "fetch-not-idempotent", [web.url + "/once"], key)
    server.start()  # recovers the agent that was running
    try:
        api = Api(server.client(timeout=90), cid)
        answered = api.invoke_and_await("a1", "fetch-not-idempotent", [web.url + "/once"], key=key)
        assert answered.status_code == 422, answered.text  # invocation_failed
        assert answered.json()["error"]["code"] == "invocation_failed"
        assert NOT_RETRIED in answered.text
        meta = api.wait_status("a1", "Failed", timeout=60)
        assert NOT_RETRIED in str(meta["lastError"])
        assert "Traceback" not in server.output()
    finally:
        server.stop()
    inv = _invocation(store)
    assert inv.state == "failed" and NOT_RETRIED in (inv.error or "")
    assert web.hits == ["/once"]


def test_rest_idempotence_on_resends_and_output_before_the_crash_is_not_repeated(
    store: Path, web: HoldingServer
) -> None:
    key = str(uuid.uuid4())
    params = [LINES, web.url + "/again"]
    server, cid = _killed_server(store, web, "print-then-fetch", params, key)
    # The crash came after the output: its writes were recorded by the killed server.
    assert _recorded_writes(store) == LINES
    server.start()
    try:
        api = Api(server.client(timeout=90), cid)
        answered = api.invoke_and_await("a1", "print-then-fetch", params, key=key)
        assert answered.status_code == 200, answered.text
        assert json.loads(answered.json()["result"])["body"] == "answered 2"
        assert api.status("a1") == "Idle"
        written = [e for e in api.oplog("a1") if e["type"] == "host-call" and _is_write(e)]
    finally:
        server.stop()
    # What REST shows of the guest's stdout: each line once, in order, across the crash
    # and the replay that recovered the agent.
    text = "".join(_written(e) for e in written)
    assert text == "".join(f"line {i}\n" for i in range(LINES)), written
    assert web.hits == ["/again", "/again"]


def _recorded_writes(store: Path) -> int:
    view = store_view(store)
    try:
        (record,) = view.list_agents()
        entries = view.read_oplog(record.agent)
        return sum(isinstance(e, HostCall) and _is_write(oplog.to_dict(e)) for e in entries)
    finally:
        view.close()


def _is_write(entry: dict[str, Any]) -> bool:
    return "output-stream" in entry["function"] and "write" in entry["function"]


def _written(entry: dict[str, Any]) -> str:
    """The text of a recorded write (its request: the stream, then the bytes)."""
    return base64.b64decode(entry["request"][1]["$bytes"]).decode()
