"""In-function retries of transient outgoing HTTP failures (host/runtime/http_retry.py), with
the real componentize-py http_client guest and a loopback server that drops the first
connections it accepts (reset before any answer: the guest would see a transient error)."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from host.ids import AgentId
from host.oplog import HostCall, InFunctionRetry
from host.service import HostService
from tests.fixtures.build import build_python_fixture
from tests.loopback_web import LoopbackWeb, QuietHandler, registered_store
from tests.server_util import AGENT_HOST, clone_store, wait_until

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # compiles the componentize-py http_client guest


@dataclass
class DroppingServer(LoopbackWeb):
    """Resets the first ``drops`` connections after reading the request line and headers;
    answers the others 200 with "served <n>". ``keys`` are the Idempotency-Keys seen."""

    drops: int = 0
    seen: int = 0
    keys: list[str | None] = field(default_factory=list)

    def start(self) -> DroppingServer:
        owner = self

        class Handler(QuietHandler):
            def handle_one_request(self) -> None:
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline or not self.parse_request():
                    self.close_connection = True
                    return
                owner.seen += 1
                owner.keys.append(self.headers.get("Idempotency-Key"))
                self.close_connection = True
                if owner.drops > 0:
                    owner.drops -= 1
                    # SO_LINGER 0: the close resets the connection, no answer at all.
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    return
                answer = f"served {owner.seen}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.serve(Handler)
        return self

    @property
    def url(self) -> str:
        return self.base_url + "/thing"


@pytest.fixture
def web() -> Iterator[DroppingServer]:
    server = DroppingServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return registered_store(
        tmp_path_factory, "inline-template", {"http": build_python_fixture("http_client")}
    )


@pytest.fixture
def data_dir(template: Path, tmp_path: Path) -> Path:
    return clone_store(template, tmp_path / "store")


def _count_box(n: int, priority: int = 10) -> dict[str, Any]:
    """A host-wide policy: ``n`` immediate retries of a transient HTTP error."""
    return {
        "name": f"http-{n}",
        "priority": priority,
        "predicate": ["prop-eq", "error-type", "transient"],
        "policy": ["count-box", n, ["immediate"]],
    }


def _under(
    host: HostService, agent: AgentId, method: str, url: str, idem: bool, nothing: bool
) -> dict[str, Any]:
    call = (
        f"fetch-under({json.dumps(method)}, {json.dumps(url)}, {str(idem).lower()}, "
        f"{str(nothing).lower()})"
    )
    inv = host.invoke(agent, call)
    assert inv.state == "done", (inv.state, inv.error)
    return dict(json.loads(json.loads(inv.result or "null")))


def _fetch(host: HostService, agent: AgentId, method: str, url: str) -> dict[str, Any]:
    return _under(host, agent, method, url, True, False)


def _tail(host: HostService, agent: AgentId) -> list[Any]:
    """The retry entries and exchanges, in oplog order."""
    return [
        e
        for e in host.store.read_oplog(agent)
        if isinstance(e, InFunctionRetry)
        or (isinstance(e, HostCall) and e.function.endswith("future-incoming-response.get"))
    ]


def test_dropped_connections_are_retried_in_the_call_and_replay_sends_nothing(
    data_dir: Path, web: DroppingServer
) -> None:
    first = HostService(data_dir)
    try:
        first.set_retry_policy(_count_box(3))
        agent, _ = first.create_agent("http", "retried")
        web.drops = 2
        got = _fetch(first, agent, "GET", web.url)
        assert got["status"] == 200 and got["body"] == "served 3"
        assert web.seen == 3
        # Every attempt carried the same Idempotency-Key.
        assert len(set(web.keys)) == 1 and web.keys[0]
        retries, exchange = _tail(first, agent)[:-1], _tail(first, agent)[-1]
        assert [type(e) for e in retries] == [InFunctionRetry, InFunctionRetry]
        assert [e.policy for e in retries] == ["http-3", "http-3"]
        assert [e.retry_state for e in retries] == [
            ["count-box", 1, ["counter", 1]],
            ["count-box", 2, ["counter", 2]],
        ]
        transient = ("HTTP-response-incomplete", "connection-terminated")
        assert all(next(iter(e.error)) in transient for e in retries)
        assert exchange.response["status"] == 200
        assert exchange.request["idempotency-key"] == web.keys[0]
    finally:
        first.close()

    second = HostService(data_dir)  # a cold replay, then a new call
    try:
        again = _fetch(second, agent, "GET", web.url)
        assert again["body"] == "served 4"  # the replayed exchange was answered from the oplog
        assert web.seen == 4
    finally:
        second.close()


def test_get_is_retried_with_idempotence_off_post_is_not(
    data_dir: Path, web: DroppingServer
) -> None:
    host = HostService(data_dir)
    try:
        host.set_retry_policy(_count_box(3))
        agent, _ = host.create_agent("http", "modes")
        web.drops = 1
        got = _under(host, agent, "GET", web.url, False, False)
        assert got["status"] == 200 and web.seen == 2
        web.drops = 1
        posted = _under(host, agent, "POST", web.url, False, False)
        assert "error" in posted and web.seen == 3  # sent once, the error to the guest
        web.drops = 1
        posted = _under(host, agent, "POST", web.url, True, False)  # idempotence on
        assert posted["status"] == 200 and web.seen == 5
        retried = [e for e in _tail(host, agent) if isinstance(e, InFunctionRetry)]
        assert len(retried) == 2
    finally:
        host.close()
    # A cold replay passes over the retries inside the remote-write brackets that
    # idempotence mode off writes (BeginRemoteWrite, retries, the exchange).
    again = HostService(data_dir)
    try:
        assert _fetch(again, agent, "GET", web.url)["body"] == "served 6"
        assert web.seen == 6
    finally:
        again.close()


def test_an_exhausted_policy_gives_the_last_error_to_the_guest(
    data_dir: Path, web: DroppingServer
) -> None:
    host = HostService(data_dir)
    try:
        host.set_retry_policy(_count_box(2))
        agent, _ = host.create_agent("http", "exhausted")
        web.drops = 10
        got = _fetch(host, agent, "GET", web.url)
        assert got["error"] in (
            "ErrorCode_HttpResponseIncomplete",
            "ErrorCode_ConnectionTerminated",
        )
        assert web.seen == 3  # the first attempt and two retries
        tail = _tail(host, agent)
        assert [type(e) for e in tail] == [InFunctionRetry, InFunctionRetry, HostCall]
        assert "error" in tail[-1].response
        assert host.store.get_agent(agent).status == "idle"
    finally:
        host.close()


def test_persist_nothing_is_not_retried_in_the_call(data_dir: Path, web: DroppingServer) -> None:
    host = HostService(data_dir)
    try:
        host.set_retry_policy(_count_box(3))
        agent, _ = host.create_agent("http", "nothing")
        web.drops = 1
        got = _under(host, agent, "GET", web.url, True, True)
        assert "error" in got and web.seen == 1
        assert not [e for e in host.store.read_oplog(agent) if isinstance(e, InFunctionRetry)]
    finally:
        host.close()


def test_a_never_policy_gives_the_first_error_to_the_guest(
    data_dir: Path, web: DroppingServer
) -> None:
    """With the only policies not matching HTTP (the default replaced by a never for
    transient errors), the first error goes to the guest."""
    host = HostService(data_dir)
    try:
        never = {**_count_box(0, priority=100), "name": "never", "policy": ["never"]}
        host.set_retry_policy(never)
        agent, _ = host.create_agent("http", "never")
        web.drops = 1
        got = _fetch(host, agent, "GET", web.url)
        assert "error" in got and web.seen == 1
    finally:
        host.close()


def test_a_crash_between_retries_steps_on_from_the_recorded_state(
    data_dir: Path, web: DroppingServer
) -> None:
    """The host dies while sleeping before a retry; recovery sends again with the same
    Idempotency-Key and steps the policy on from the state the committed retry recorded
    (the budget counts the retries the oplog already holds)."""
    setup = HostService(data_dir)
    setup.set_retry_policy(
        {**_count_box(3), "policy": ["count-box", 3, ["periodic", 3_000_000_000]]}
    )
    agent, _ = setup.create_agent("http", "crashed")
    setup.close()
    web.drops = 100
    call = f'fetch-under("GET", {json.dumps(web.url)}, true, false)'
    proc = subprocess.Popen(
        [AGENT_HOST, "--store", str(data_dir), "invoke", "http", "crashed", call],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},  # this checkout's host package
    )
    try:
        wait_until(lambda: web.seen >= 1, timeout=60)
        time.sleep(0.5)  # the retry entry is committed before the sleep begins
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    web.drops = 1  # recovery's first attempt fails too
    recovered = HostService(data_dir)
    try:
        (inv,) = recovered.store.list_invocations(agent)

        def finished() -> bool:
            recovered.run_due()
            return recovered.store.get_invocation(inv.invocation_id).state in ("done", "failed")

        wait_until(finished, timeout=60)
        done = recovered.store.get_invocation(inv.invocation_id)
        assert done.state == "done", done.error
        result = json.loads(json.loads(done.result or "null"))
        assert result.get("status") == 200, (result, _tail(recovered, agent), web.seen)
        retries = [e for e in _tail(recovered, agent) if isinstance(e, InFunctionRetry)]
        assert [e.retry_state for e in retries] == [
            ["count-box", 1, ["counter", 1]],
            ["count-box", 2, ["counter", 2]],
        ]
        assert web.seen == 3 and len(set(web.keys)) == 1
    finally:
        recovered.close()
