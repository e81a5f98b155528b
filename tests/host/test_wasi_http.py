"""Outgoing HTTP from agents (host/runtime/wasi_http.py) with a real componentize-py guest.

The guest (tests/fixtures/py/http_client) is standard wasi:http client code: the blocking
style (``handle``, ``subscribe().block()``, ``get``, ``incoming-body.stream``) and
componentize-py's ``poll_loop`` (asyncio). The other side is a loopback ``http.server``
run by the test, which counts what it receives. Hosts are real (SQLite under tmp_path);
a restart is a new :class:`Host` on the same data directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from host.ids import AgentId, PromiseId
from host.oplog import FinishSpan, HostCall, InvocationStarted, StartSpan
from host.runtime import http_send, wasi_http
from host.runtime.http_send import HttpPolicy
from host.service import HostService
from tests.fixtures.build import build_python_fixture
from tests.loopback_web import LoopbackWeb, QuietHandler, registered_store
from tests.server_util import AGENT_HOST, clone_store, wait_until

# slow: compiles the componentize-py http_client guest (10-40 s here)
pytestmark = pytest.mark.slow


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebServer(LoopbackWeb):
    """A loopback HTTP server recording every request it gets.

    ``/echo`` answers the request body (status 201 for POST) with ``x-echo-*`` headers
    describing the request; ``/count`` answers how many requests it has had ("hit N");
    ``/slow`` answers after ``slow_s``; ``/big`` answers ``big_bytes`` bytes;
    ``/kill`` SIGKILLs ``kill_pid`` before answering (once)."""

    hits: list[Hit] = field(default_factory=list)
    slow_s: float = 2.0
    big_bytes: int = 0
    kill_pid: int | None = None

    def start(self) -> WebServer:
        owner = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                headers_in = {k.lower(): v for k, v in self.headers.items()}
                owner.hits.append(Hit(self.command, self.path, headers_in, body))
                path = self.path.split("?")[0]
                status, headers, answer = 200, [("X-Server", "test")], b""
                if path == "/echo":
                    status = 201 if self.command == "POST" else 200
                    headers += [("X-Echo-Method", self.command), ("X-Echo-Path", self.path)]
                    answer = body or f"{self.command} {self.path}".encode()
                elif path == "/count":
                    answer = f"hit {len(owner.hits)}".encode()
                elif path == "/slow":
                    time.sleep(owner.slow_s)
                    answer = b"late"
                elif path == "/big":
                    answer = b"x" * owner.big_bytes
                elif path == "/kill":
                    if owner.kill_pid is not None:
                        os.kill(owner.kill_pid, signal.SIGKILL)
                        owner.kill_pid = None
                        time.sleep(0.5)
                    answer = b"survived"
                else:
                    status, answer = 404, b"no such path"
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PURGE = _serve  # noqa: N815

        self.serve(Handler)
        return self

    @property
    def url(self) -> str:
        return self.base_url


@pytest.fixture
def web() -> Iterator[WebServer]:
    server = WebServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the guest registered (compiled once for the module)."""
    return registered_store(
        tmp_path_factory, "http-template", {"http": build_python_fixture("http_client")}
    )


@pytest.fixture
def data_dir(template: Path, tmp_path: Path) -> Path:
    """Each test's own copy of the template (compiled code hard-linked)."""
    return clone_store(template, tmp_path / "store")


@pytest.fixture
def agent(host: HostService) -> AgentId:
    return host.create_agent("http", "client")[0]


def _wave(text: str) -> str:
    return json.dumps(text)


def fetch(
    host: HostService,
    agent: AgentId,
    method: str,
    url: str,
    headers: list[tuple[str, str]] = [],  # noqa: B006 - never mutated
    body: str | None = None,
    timeouts_ms: list[tuple[str, int]] = [],  # noqa: B006
) -> dict[str, Any]:
    hdrs = "[" + ", ".join(f"({_wave(k)}, {_wave(v)})" for k, v in headers) + "]"
    opts = "[" + ", ".join(f"({_wave(k)}, {v})" for k, v in timeouts_ms) + "]"
    arg = "none" if body is None else f"some({_wave(body)})"
    call = f"fetch({_wave(method)}, {_wave(url)}, {hdrs}, {arg}, {opts})"
    inv = host.invoke(agent, call)
    assert inv.state == "done", (inv.state, inv.error)
    return dict(json.loads(json.loads(inv.result or "null")))


def exchanges(host: HostService, agent: AgentId) -> list[HostCall]:
    return [
        e
        for e in host.store.read_oplog(agent)
        if isinstance(e, HostCall) and e.function.endswith("future-incoming-response.get")
    ]


# -- round trips ---------------------------------------------------------------------------------
def test_get_and_post_round_trip(host: HostService, agent: AgentId, web: WebServer) -> None:
    got = fetch(host, agent, "GET", f"{web.url}/echo?q=1", [("X-Custom", "abc")])
    assert got["status"] == 200
    assert got["headers"]["x-echo-method"] == "GET"
    assert got["headers"]["x-echo-path"] == "/echo?q=1"
    assert got["headers"]["x-server"] == "test"
    assert got["body"] == "GET /echo?q=1"

    posted = fetch(host, agent, "POST", f"{web.url}/echo", [("Content-Type", "text/plain")], "hi")
    assert posted == {
        "status": 201,
        "headers": posted["headers"],
        "body": "hi",
    }
    assert [(h.method, h.path, h.body) for h in web.hits] == [
        ("GET", "/echo?q=1", b""),
        ("POST", "/echo", b"hi"),
    ]
    # The guest's headers arrive; the host adds Host and a stable Idempotency-Key.
    first = web.hits[0].headers
    assert first["x-custom"] == "abc"
    assert first["host"] == web.url.removeprefix("http://")
    keys = [e.request["idempotency-key"] for e in exchanges(host, agent)]
    assert [h.headers["idempotency-key"] for h in web.hits] == keys
    assert len(set(keys)) == 2

    other = fetch(host, agent, "PURGE", f"{web.url}/echo")
    assert other["headers"]["x-echo-method"] == "PURGE"
    head = fetch(host, agent, "HEAD", f"{web.url}/echo")
    assert head["status"] == 200 and head["body"] == ""
    missing = fetch(host, agent, "DELETE", f"{web.url}/nothing")
    assert missing["status"] == 404 and missing["body"] == "no such path"


def test_poll_loop_send_works(host: HostService, agent: AgentId, web: WebServer) -> None:
    """componentize-py's poll_loop (asyncio over wasi:io/poll), unchanged."""

    def fetch_async(method: str, url: str, body: str | None, stream: bool) -> dict[str, Any]:
        arg = "none" if body is None else f"some({_wave(body)})"
        call = f"fetch-async({_wave(method)}, {_wave(url)}, {arg}, {str(stream).lower()})"
        inv = host.invoke(agent, call)
        assert inv.state == "done", inv.error
        return dict(json.loads(json.loads(inv.result or "null")))

    assert fetch_async("GET", f"{web.url}/echo", None, False)["body"] == "GET /echo"
    assert fetch_async("POST", f"{web.url}/echo", "abc", False)["body"] == "abc"
    # The send task asks for the response while the body is still being written: it is
    # not ready until outgoing-body.finish, then the whole body goes out once.
    streamed = fetch_async("PUT", f"{web.url}/echo", "0123456789", True)
    assert streamed["status"] == 200 and streamed["body"] == "0123456789"
    entries = host.store.read_oplog(agent)
    last_start = max(i for i, e in enumerate(entries) if isinstance(e, InvocationStarted))
    calls = [e.function for e in entries[last_start:] if isinstance(e, HostCall)]
    # The unfinished get answered none (not recorded), so the loop polled before the
    # exchange; the exchange is the one recorded get.
    assert calls[-1].endswith("future-incoming-response.get")
    assert any("poll" in f for f in calls[:-1])
    assert [(h.method, h.body) for h in web.hits] == [
        ("GET", b""),
        ("POST", b"abc"),
        ("PUT", b"0123456789"),
    ]


# -- durability ------------------------------------------------------------------------------------
def test_request_sent_once_across_suspension_and_restart(data_dir: Path, web: WebServer) -> None:
    first = HostService(data_dir)
    agent, _ = first.create_agent("http", "durable")
    inv = first.invoke(agent, f'post-then-await({_wave(web.url + "/count")}, "payload")')
    record = first.store.get_agent(agent)
    assert inv.state == "started" and record.status == "suspended"
    assert len(web.hits) == 1 and web.hits[0].body == b"payload"
    (promise,) = record.waiting_promises
    first.close()

    second = HostService(data_dir)  # the restart
    try:
        second.run_due()
        assert second.store.get_agent(agent).status == "suspended"
        assert len(web.hits) == 1
        second.complete_promise(PromiseId(agent, promise), b"done")
        done = second.store.get_invocation(inv.invocation_id)
        assert done.state == "done", done.error
        result = json.loads(json.loads(done.result or "null"))
        # The replayed exchange answered with what the first run received ("hit 1"); had
        # the request gone out again the server would have answered "hit 2".
        assert result == {
            "response": {"status": 200, "headers": result["response"]["headers"], "body": "hit 1"},
            "promise": "done",
        }
        assert len(web.hits) == 1
        assert len(exchanges(second, agent)) == 1
    finally:
        second.close()

    third = HostService(data_dir)  # a cold replay of everything, for a new invocation
    try:
        again = third.invoke(agent, f'fetch("GET", {_wave(web.url + "/count")}, [], none, [])')
        assert again.state == "done"
        assert json.loads(json.loads(again.result or "null"))["body"] == "hit 2"
        assert len(web.hits) == 2
    finally:
        third.close()


def test_the_recorded_response_format(
    host: HostService, agent: AgentId, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spy on the moment the response is handed to the guest: its entry must be committed.
    committed_before: list[int] = []
    deliver = wasi_http._deliver

    def spy(fut: Any, outcome: Any) -> Any:
        committed_before.append(len(exchanges(host, agent)))
        return deliver(fut, outcome)

    monkeypatch.setattr(wasi_http, "_deliver", spy)
    fetch(
        host,
        agent,
        "POST",
        f"{web.url}/echo",
        [("Authorization", "Bearer s3cret"), ("X-Trace", "t1")],
        "body text",
    )
    (entry,) = exchanges(host, agent)
    assert entry.function.startswith("wasi:http/types@0.2.")
    request = entry.request
    assert request["method"] == "POST" and request["url"] == f"{web.url}/echo"
    assert ["authorization", "<redacted>"] in request["headers"]
    assert ["x-trace", "t1"] in request["headers"]
    assert request["body-bytes"] == 9 and len(request["body-sha256"]) == 64
    assert "body text" not in json.dumps(entry.request)
    assert "s3cret" not in json.dumps(entry.request)
    response = entry.response
    assert response["status"] == 201
    assert ["x-echo-method", "POST"] in response["headers"]
    assert response["body"] == {"$bytes": b"body text"}  # a BLOB in the store
    # read_oplog reads the store: the entry was committed before the guest saw the response.
    assert committed_before == [1]


def test_a_crash_between_send_and_commit_resends_with_the_same_key(
    data_dir: Path, web: WebServer
) -> None:
    """At-least-once, honestly: the host dies after the request left and before its
    response was committed; recovery sends it again, with the same Idempotency-Key."""
    setup = HostService(data_dir)
    agent, _ = setup.create_agent("http", "crash")
    setup.close()
    call = f'fetch("GET", {_wave(web.url + "/kill")}, [], none, [])'
    proc = subprocess.Popen(
        [AGENT_HOST, "--store", str(data_dir), "invoke", "http", "crash", call],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    web.kill_pid = proc.pid
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert len(web.hits) == 1

    recovered = HostService(data_dir)
    try:
        wait_until(lambda: (recovered.run_due(), len(web.hits) >= 2)[1], timeout=60)
        (inv,) = recovered.store.list_invocations(agent)
        done = recovered.store.get_invocation(inv.invocation_id)
        assert done.state == "done", done.error
        assert json.loads(json.loads(done.result or "null"))["body"] == "survived"
    finally:
        recovered.close()
    assert len(web.hits) == 2
    keys = [h.headers["idempotency-key"] for h in web.hits]
    assert keys[0] == keys[1]


def test_a_crash_mid_request_with_idempotence_off_is_not_resent(
    data_dir: Path, web: WebServer
) -> None:
    """At-most-once when the guest asked for it: with idempotence mode off, a request the
    host died in the middle of (sent, no response recorded) is not sent again on
    recovery; the invocation fails with Golem's message instead."""
    setup = HostService(data_dir)
    agent, _ = setup.create_agent("http", "once")
    setup.close()
    call = f"fetch-not-idempotent({_wave(web.url + '/kill')})"
    proc = subprocess.Popen(
        [AGENT_HOST, "--store", str(data_dir), "invoke", "http", "once", call],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    web.kill_pid = proc.pid
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert len(web.hits) == 1

    recovered = HostService(data_dir)
    try:
        (inv,) = recovered.store.list_invocations(agent)

        def finished() -> bool:
            recovered.run_due()
            return recovered.store.get_invocation(inv.invocation_id).state in ("done", "failed")

        wait_until(finished, timeout=60)
        failed = recovered.store.get_invocation(inv.invocation_id)
        assert failed.state == "failed", failed.result
        assert "non-idempotent remote write operation was not completed, cannot retry" in (
            failed.error or ""
        )
    finally:
        recovered.close()
    assert len(web.hits) == 1


# -- refusals and failures -------------------------------------------------------------------------
def test_non_loopback_destinations_are_refused(
    host: HostService, agent: AgentId, web: WebServer
) -> None:
    output: list[tuple[str, bytes]] = []
    host.executor.output = lambda agent, stream, data: output.append((stream, data))
    for url in ("http://example.com/", "http://10.1.2.3:8080/x", "https://[2001:db8::1]/"):
        assert fetch(host, agent, "GET", url) == {
            "error": "ErrorCode_HttpRequestDenied",
            "value": None,
        }
    stderr = b"".join(d for s, d in output if s == "stderr").decode()
    assert "GET http://example.com/ refused: example.com is not an allowed destination" in stderr
    assert http_send.ALLOW_ENV in stderr
    details = [e.response["detail"] for e in exchanges(host, agent)]
    assert all("not an allowed destination" in d for d in details)
    # Loopback, by address and by name, is allowed by default.
    assert fetch(host, agent, "GET", f"{web.url}/echo")["status"] == 200
    port = web.url.rsplit(":", 1)[1]
    assert fetch(host, agent, "GET", f"http://localhost:{port}/echo")["status"] == 200
    assert host.store.get_agent(agent).status == "idle"


def test_the_allow_list_is_a_host_setting(
    host: HostService, agent: AgentId, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(http_send.ALLOW_ENV, "10.0.0.0/8, partner.example")
    assert http_send.policy().allow == ("10.0.0.0/8", "partner.example")
    denied = fetch(host, agent, "GET", f"{web.url}/echo")  # loopback is not listed any more
    assert denied["error"] == "ErrorCode_HttpRequestDenied"
    assert web.hits == []
    http_send.set_policy(HttpPolicy(allow=("127.0.0.1",)))
    try:
        assert fetch(host, agent, "GET", f"{web.url}/echo")["status"] == 200
    finally:
        http_send.set_policy(None)
    # Replay does not consult the setting: the recorded answers stand.
    monkeypatch.delenv(http_send.ALLOW_ENV)
    host.executor.forget_instance(agent)
    again = fetch(host, agent, "GET", f"{web.url}/echo")
    assert again["status"] == 200
    assert len(web.hits) == 2


def test_policy_matching() -> None:
    default = HttpPolicy()
    assert default.allows_name("localhost") and default.allows_name("LOCALHOST.")
    assert default.allows_address("127.0.0.1") and default.allows_address("127.9.9.9")
    assert default.allows_address("::1")
    assert not default.allows_address("10.0.0.1") and not default.allows_name("example.com")
    assert not default.allows_address("localhost")  # names are not addresses
    everything = HttpPolicy(allow=("*",))
    assert everything.allows_name("example.com") and everything.allows_address("8.8.8.8")
    nothing = HttpPolicy(allow=())
    assert not nothing.allows_name("localhost") and not nothing.allows_address("127.0.0.1")


def test_connection_refused_and_timeouts_are_error_codes(
    host: HostService, agent: AgentId, web: WebServer
) -> None:
    # Golem's default policy would retry these transient errors in the call first
    # (tests/host/test_http_inline_retry.py); here the guest gets the first one.
    host.set_retry_policy(
        {
            "name": "no-inline-retry",
            "priority": 100,
            "predicate": ["prop-eq", "error-type", "transient"],
            "policy": ["never"],
        }
    )
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = fetch(host, agent, "GET", f"http://127.0.0.1:{port}/")
    assert refused == {"error": "ErrorCode_ConnectionRefused", "value": None}

    web.slow_s = 2.0
    started = time.monotonic()
    late = fetch(host, agent, "GET", f"{web.url}/slow", timeouts_ms=[("first-byte", 200)])
    assert late == {"error": "ErrorCode_HttpResponseTimeout", "value": None}
    assert time.monotonic() - started < 1.8
    # The agent is fine and keeps working.
    assert fetch(host, agent, "GET", f"{web.url}/echo")["status"] == 200
    assert host.store.get_agent(agent).status == "idle"
    assert [e.response.get("error") for e in exchanges(host, agent)] == [
        {"connection-refused": None},
        {"HTTP-response-timeout": None},
        None,
    ]


def test_a_response_larger_than_the_payload_limit_fails_clearly(
    host: HostService, agent: AgentId, web: WebServer
) -> None:
    host.set_limits(str(agent), {"max_payload_bytes": 8192})
    web.big_bytes = 3000
    assert fetch(host, agent, "GET", f"{web.url}/big")["body"] == "x" * 3000
    web.big_bytes = 100_000
    too_big = fetch(host, agent, "GET", f"{web.url}/big")
    assert too_big == {"error": "ErrorCode_HttpResponseBodySize", "value": None}
    # Not read to the end: what is known is that it is over the limit.
    entry = exchanges(host, agent)[-1]
    assert "max_payload_bytes" in entry.response["detail"]
    assert "8192" in entry.response["detail"]
    # A body under the limit whose entry (the body plus its head) would not fit is
    # refused the same way.
    web.big_bytes = 8150
    encoded_too_big = fetch(host, agent, "GET", f"{web.url}/big")
    assert encoded_too_big == {"error": "ErrorCode_HttpResponseBodySize", "value": 8150}
    assert host.store.get_agent(agent).status == "idle"
    assert len(web.hits) == 3


def test_handle_refuses_a_request_without_authority(host: HostService, agent: AgentId) -> None:
    no_authority = fetch(host, agent, "GET", "http:///x")
    assert no_authority == {"error": "ErrorCode_HttpRequestUriInvalid", "value": None}


def test_the_invocation_trace_context_is_forwarded(
    host: HostService, agent: AgentId, web: WebServer
) -> None:
    # Golem forwards the invocation context's W3C traceparent on outgoing requests unless
    # the guest turns it off (golem:api/context allow-forwarding-trace-context-headers),
    # replacing one the guest set itself; its parent is the request's own span.
    fetch(host, agent, "GET", f"{web.url}/echo", [("traceparent", "00-guest-own-00")])
    started = [e for e in host.store.read_oplog(agent) if isinstance(e, InvocationStarted)][-1]
    trace_id = started.invocation_id.replace("-", "")
    (span,) = [e for e in host.store.read_oplog(agent) if isinstance(e, StartSpan)]
    assert web.hits[-1].headers["traceparent"] == f"00-{trace_id}-{span.span_id}-00"


def test_the_request_tracestate_is_forwarded_with_the_traceparent(
    host: HostService, agent: AgentId, web: WebServer
) -> None:
    # Golem forwards the invocation's W3C tracestate beside the traceparent (one header,
    # the members joined by ","), replacing the guest's own; with none, the guest's stays.
    from host.tracecontext import trace_context

    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    ctx = trace_context(f"00-{trace}-00f067aa0ba902b7-01", ["abc=123", "def=456"])
    guest_own = [("tracestate", "guest=own")]
    call = f'fetch("GET", {_wave(web.url + "/echo")}, [("tracestate", "guest=own")], none, [])'
    inv = host.submit(host.call_from_wave(agent, call), None, ctx)
    assert inv.state == "done", (inv.state, inv.error)
    sent = web.hits[-1].headers
    assert sent["traceparent"].startswith(f"00-{trace}-") and sent["traceparent"].endswith("-00")
    assert sent["tracestate"] == "abc=123,def=456"
    fetch(host, agent, "GET", f"{web.url}/echo", guest_own)  # an invocation without one
    assert web.hits[-1].headers["tracestate"] == "guest=own"
    assert not web.hits[-1].headers["traceparent"].startswith(f"00-{trace}-")


def test_each_outgoing_request_has_a_span_of_its_own(data_dir: Path, web: WebServer) -> None:
    # Golem starts a span per outgoing request under the current one (not made current),
    # with its attribute names, and finishes it when the request is over; the traceparent
    # sent names it as the parent. Recorded like the guest's spans: a replay (a restart)
    # takes its id from the oplog, and the recorded request (with that traceparent)
    # matches what replay rebuilds.
    host = HostService(data_dir)
    agent = host.create_agent("http", "spans")[0]
    fetch(host, agent, "GET", f"{web.url}/echo?n=1")
    fetch(host, agent, "POST", f"{web.url}/echo", body="x")
    log = host.store.read_oplog(agent)
    starts = [(i, e) for i, e in enumerate(log) if isinstance(e, StartSpan)]
    assert [dict(e.attributes) for _, e in starts] == [
        {"name": "outgoing-http-request", "request.uri": f"{web.url}/echo?n=1",
         "request.method": "GET"},
        {"name": "outgoing-http-request", "request.uri": f"{web.url}/echo",
         "request.method": "POST"},
    ]  # fmt: skip
    invocations = [e.invocation_id for e in log if isinstance(e, InvocationStarted)]
    for (i, span), invocation, hit in zip(starts, invocations, web.hits, strict=True):
        root = hashlib.sha256(f"span:{invocation}".encode()).hexdigest()[:16]
        assert span.parent == root
        trace = invocation.replace("-", "")
        assert hit.headers["traceparent"] == f"00-{trace}-{span.span_id}-00"
        # Started before the exchange, finished once it is recorded.
        exchange = next(j for j, e in enumerate(log) if j > i and isinstance(e, HostCall)
                        and e.function.endswith("future-incoming-response.get"))  # fmt: skip
        finish = next(j for j, e in enumerate(log) if isinstance(e, FinishSpan)
                      and e.span_id == span.span_id)  # fmt: skip
        assert i < exchange < finish
        sent = log[exchange]
        assert isinstance(sent, HostCall)
        recorded = {str(k): str(v) for k, v in sent.request["headers"]}
        assert recorded["traceparent"] == hit.headers["traceparent"]
    host.close()
    again = HostService(data_dir)  # replays both requests: nothing sent, nothing diverges
    assert fetch(again, agent, "GET", f"{web.url}/count")["body"] == "hit 3"
    assert len(web.hits) == 3 and again.store.get_agent(agent).status == "idle"
    assert sum(isinstance(e, StartSpan) for e in again.store.read_oplog(agent)) == 3
    again.close()


def test_an_oplog_recorded_before_request_spans_replays(
    data_dir: Path, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An agent whose requests were recorded by the code before request spans (no
    # StartSpan / FinishSpan around them) replays without a divergence; new requests get
    # their span.
    from host.runtime import context

    old = HostService(data_dir)
    agent = old.create_agent("http", "legacy")[0]
    with monkeypatch.context() as patched:
        patched.setattr(context, "start_host_span", lambda session, attributes: None)
        fetch(old, agent, "GET", f"{web.url}/echo")
    assert not any(isinstance(e, StartSpan) for e in old.store.read_oplog(agent))
    old.close()
    new = HostService(data_dir)
    assert fetch(new, agent, "GET", f"{web.url}/count")["body"] == "hit 2"
    assert new.store.get_agent(agent).status == "idle"
    assert sum(isinstance(e, StartSpan) for e in new.store.read_oplog(agent)) == 1
    new.close()
