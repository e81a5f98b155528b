"""The webhook callback example (guest_examples/webhook, a code-first agent on agent_sdk),
end to end through a real server.

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.loopback_web import LoopbackWeb, QuietHandler
from tests.server_util import (
    AgentCall,
    Api,
    Server,
    add_component,
    build_example,
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


class WebhookService(LoopbackWeb):
    """A webhook provider on loopback: stores registrations, calls back when told."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.registrations: list[dict[str, Any]] = []
        self.idempotency_keys: list[str | None] = []
        service = self

        class Handler(QuietHandler):
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

        self.serve(Handler)

    @property
    def url(self) -> str:
        return self.base_url + "/hooks"

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


def worker(name: str) -> str:
    """The worker API's name of a WebhookAgent: its agent id, URL-encoded."""
    return quote(f'WebhookAgent("{name}")', safe="")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("webhook-template") / "store"
    return store, add_component(store, build_example("webhook"), "webhook")


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


def _subscribe(server: Server, api: Api, name: str, url: str, topic: str) -> AgentCall:
    """subscribe(url, topic), sent; returns once the agent is suspended on its promise."""
    call = AgentCall(server, "WebhookAgent", name, "subscribe", [url, topic])
    api.wait_status(worker(name), "Suspended", timeout=30)
    return call


def _status(server: Server, name: str) -> Any:
    return AgentCall(server, "WebhookAgent", name, "status", []).result()


def test_the_agent_continues_with_the_callbacks_body(
    template: tuple[Path, str], server: Server, service: WebhookService
) -> None:
    api = Api(server.client(), template[1])
    subscribed = _subscribe(server, api, "orders", service.url, "payment")
    assert len(service.registrations) == 1
    registration = service.registrations[0]
    assert registration["topic"] == "payment"
    assert registration["agentId"] == 'WebhookAgent("orders")'
    assert registration["componentId"] == template[1]
    assert registration["promiseId"] == (
        f'{template[1]}/WebhookAgent("orders")/{registration["oplogIdx"]}'
    )
    meta = api.worker(worker("orders"))
    assert meta["waitingOn"][0]["oplogIdx"] == registration["oplogIdx"]

    # Without the secret the provider cannot complete the promise; with it, it can.
    anonymous = httpx.post(
        server.url + registration["completePath"],
        json={"oplogIdx": registration["oplogIdx"], "data": [1]},
    )
    assert anonymous.status_code in (401, 403), anonymous.text
    wrong = httpx.post(
        server.url + registration["completePath"],
        json={"oplogIdx": registration["oplogIdx"], "data": [1]},
        headers={"X-Promise-Secret": registration["secret"][:-1] + "x"},
    )
    assert wrong.status_code in (401, 403), wrong.text
    callback = json.dumps({"event": "payment.succeeded", "amount": 42}).encode()
    assert service.call_back(server.url, registration, callback) is True

    assert subscribed.result() == callback.decode()
    assert len(service.registrations) == 1

    # The registration exchange is one committed oplog entry; the body (and the secret in
    # it) is not in the oplog, only its size and hash; the service got the entry's key.
    oplog = api.oplog(worker("orders"))
    exchanges = _exchanges(oplog)
    assert len(exchanges) == 1
    sent = exchanges[0]["request"]
    assert sent["method"] == "POST" and sent["url"] == service.url
    assert exchanges[0]["response"]["status"] == 202
    assert service.idempotency_keys == [sent["idempotency-key"]]
    assert registration["secret"] not in json.dumps(oplog)

    # Another invocation replays nothing new and sees the received body.
    assert _status(server, "orders") == f"received: {callback.decode()}"
    assert len(service.registrations) == 1


def test_registration_sent_once_across_a_crash_and_restart(
    template: tuple[Path, str], server: Server, service: WebhookService
) -> None:
    api = Api(server.client(), template[1])
    subscribed = _subscribe(server, api, "crashy", service.url, "shipment")
    assert len(service.registrations) == 1
    registration = service.registrations[0]

    server.kill()  # SIGKILL while the agent is suspended
    server.start()  # a new process on a new port, same data directory
    api = Api(server.client(), template[1])
    assert api.status(worker("crashy")) == "Suspended"
    assert len(service.registrations) == 1  # recovery re-sent nothing

    callback = b"shipped: parcel 7"
    assert service.call_back(server.url, registration, callback) is True
    assert subscribed.result() == "shipped: parcel 7"
    assert len(service.registrations) == 1  # the resumed replay re-sent nothing

    # Crash again after the callback: a new process replays the whole invocation for the
    # next call, from the recorded response, and still sends nothing.
    server.kill()
    server.start()
    api = Api(server.client(), template[1])
    assert _status(server, "crashy") == "received: shipped: parcel 7"
    assert len(service.registrations) == 1
    exchanges = _exchanges(api.oplog(worker("crashy")))
    assert len(exchanges) == 1


def test_a_refused_registration_is_an_error_and_nothing_waits(
    template: tuple[Path, str], server: Server
) -> None:
    refusing = WebhookService(status=409)
    try:
        api = Api(server.client(), template[1])
        call = AgentCall(server, "WebhookAgent", "refused", "subscribe", [refusing.url, "x"])
        assert "refused the registration: HTTP 409" in call.error()
        assert api.status(worker("refused")) == "Idle"
        assert len(refusing.registrations) == 1
    finally:
        refusing.close()


def test_a_callback_url_off_loopback_is_refused_by_the_host(
    template: tuple[Path, str], server: Server
) -> None:
    api = Api(server.client(), template[1])
    call = AgentCall(server, "WebhookAgent", "offsite", "subscribe", ["http://192.0.2.10/h", "x"])
    assert "HttpRequestDenied" in call.error()
    wait_until(lambda: api.status(worker("offsite")) == "Idle", what="the agent to be idle")
