"""The webhook callback example (guest_examples/webhook), end to end through a real server.

The webhook service is a loopback HTTP server run by the test: it accepts the agent's
registration (a POST carrying the promise id, the complete path and the promise's secret)
and later calls agent-host's REST complete API with the callback's body, as a real
webhook provider would. The agent-host is a real ``agent-host serve`` subprocess (run with
``--require-promise-secret``, so the secret the agent sent is what lets the service in),
killed with SIGKILL and restarted while the agent is suspended.

What is proven: the registration reaches the service exactly once across the suspension,
a host crash and restart, the resumption and a later replay; the agent finishes with the
callback's body; the secret never reaches the oplog.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_util import (
    Api,
    Server,
    add_component,
    build_legacy,
    clone_store,
    wait_until,
)

# slow: compiles the componentize-py webhook guest (12-35 s here)
pytestmark = pytest.mark.slow


def _exchanges(oplog: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recorded HTTP exchanges: ``wasi:http/types@<v>`` ``future-incoming-response.get``."""
    return [
        e
        for e in oplog
        if e["type"] == "host-call"
        and e["function"].startswith("wasi:http/types@")
        and e["function"].endswith(".[method]future-incoming-response.get")
    ]


class WebhookService:
    """A webhook provider on loopback: stores registrations, calls back when told."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.registrations: list[dict[str, Any]] = []
        self.idempotency_keys: list[str | None] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                size = int(self.headers.get("Content-Length") or 0)
                service.registrations.append(json.loads(self.rfile.read(size)))
                service.idempotency_keys.append(self.headers.get("Idempotency-Key"))
                answer = json.dumps({"accepted": service.status < 300}).encode()
                self.send_response(service.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks"

    def call_back(self, host_url: str, registration: dict[str, Any], body: bytes) -> Any:
        """What the provider does when the event happens: complete the agent's promise
        through agent-host's REST API, proving it holds the promise's secret."""
        response = httpx.post(
            host_url + registration["completePath"],
            json={"oplogIdx": registration["oplogIdx"], "data": list(body)},
            headers={"X-Promise-Secret": registration["secret"]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def build_webhook() -> Path:
    return build_legacy("webhook")  # LEGACY: see tests/server_util.build_legacy


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("webhook-template") / "store"
    return store, add_component(store, build_webhook(), "webhook")


@pytest.fixture
def server(template: tuple[Path, str], tmp_path: Path) -> Iterator[Server]:
    server = Server(
        clone_store(template[0], tmp_path / "store"),
        extra_args=("--require-promise-secret",),
    )
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def service() -> Iterator[WebhookService]:
    hooks = WebhookService()
    try:
        yield hooks
    finally:
        hooks.close()


def _subscribe(api: Api, worker: str, url: str, topic: str) -> dict[str, Any]:
    response = api.http.post(
        api.path(worker, "/invoke-and-await"),
        params={"function": "subscribe", "untilSuspended": "true"},
        json={"params": [url, topic]},
    )
    assert response.status_code == 202, response.text
    meta = dict(response.json())
    assert meta["status"] == "Suspended", meta
    return meta


def _result(api: Api, meta: dict[str, Any]) -> Any:
    response = api.http.get(meta["resultUrl"], params={"wait": 30})
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_the_agent_continues_with_the_callbacks_body(
    template: tuple[Path, str], server: Server, service: WebhookService
) -> None:
    api = Api(server.client(), template[1])
    meta = _subscribe(api, "orders", service.url, "payment")
    assert len(service.registrations) == 1
    registration = service.registrations[0]
    assert registration["topic"] == "payment"
    assert registration["agentName"] == "orders"
    assert registration["componentId"] == template[1]
    assert registration["promiseId"] == f"{template[1]}/orders/{registration['oplogIdx']}"
    assert meta["waitingOn"][0]["oplogIdx"] == registration["oplogIdx"]

    # Without the secret the provider cannot complete the promise; with it, it can.
    anonymous = httpx.post(
        server.url + registration["completePath"],
        json={"oplogIdx": registration["oplogIdx"], "data": [1]},
    )
    assert anonymous.status_code in (401, 403), anonymous.text
    callback = json.dumps({"event": "payment.succeeded", "amount": 42}).encode()
    assert service.call_back(server.url, registration, callback) is True

    assert _result(api, meta) == {"ok": callback.decode()}
    assert len(service.registrations) == 1

    # The registration exchange is one committed oplog entry; the body (and the secret in
    # it) is not in the oplog, only its size and hash; the service got the entry's key.
    oplog = api.oplog("orders")
    exchanges = _exchanges(oplog)
    assert len(exchanges) == 1
    sent = exchanges[0]["request"]
    assert sent["method"] == "POST" and sent["url"] == service.url
    assert exchanges[0]["response"]["status"] == 202
    assert service.idempotency_keys == [sent["idempotency-key"]]
    assert registration["secret"] not in json.dumps(oplog)

    # Another invocation replays nothing new and sees the received body.
    status = api.invoke_and_await("orders", "status")
    assert status.json()["result"] == f"received: {callback.decode()}"
    assert len(service.registrations) == 1


def test_registration_sent_once_across_a_crash_and_restart(
    template: tuple[Path, str], server: Server, service: WebhookService
) -> None:
    api = Api(server.client(), template[1])
    meta = _subscribe(api, "crashy", service.url, "shipment")
    assert len(service.registrations) == 1
    registration = service.registrations[0]

    server.kill()  # SIGKILL while the agent is suspended
    server.start()  # a new process on a new port, same data directory
    api = Api(server.client(), template[1])
    assert api.status("crashy") == "Suspended"
    assert len(service.registrations) == 1  # recovery re-sent nothing

    callback = b"shipped: parcel 7"
    assert service.call_back(server.url, registration, callback) is True
    assert _result(api, meta) == {"ok": "shipped: parcel 7"}
    assert len(service.registrations) == 1  # the resumed replay re-sent nothing

    # Crash again after the callback: a new process replays the whole invocation for the
    # next call, from the recorded response, and still sends nothing.
    server.kill()
    server.start()
    api = Api(server.client(), template[1])
    status = api.invoke_and_await("crashy", "status")
    assert status.json()["result"] == "received: shipped: parcel 7"
    assert len(service.registrations) == 1
    exchanges = _exchanges(api.oplog("crashy"))
    assert len(exchanges) == 1


def test_a_refused_registration_is_an_error_and_nothing_waits(
    template: tuple[Path, str], server: Server
) -> None:
    refusing = WebhookService(status=409)
    try:
        api = Api(server.client(), template[1])
        response = api.invoke_and_await("refused", "subscribe", [refusing.url, "x"])
        assert response.status_code == 200, response.text
        error = response.json()["result"]["err"]
        assert "refused the registration: HTTP 409" in error
        assert api.status("refused") == "Idle"
        assert len(refusing.registrations) == 1
    finally:
        refusing.close()


def test_a_callback_url_off_loopback_is_refused_by_the_host(
    template: tuple[Path, str], server: Server
) -> None:
    api = Api(server.client(), template[1])
    response = api.invoke_and_await("offsite", "subscribe", ["http://192.0.2.10/hook", "x"])
    assert response.status_code == 200, response.text
    error = response.json()["result"]["err"]
    assert "HttpRequestDenied" in error
    wait_until(lambda: api.status("offsite") == "Idle", what="the agent to be idle")
