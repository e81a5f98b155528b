"""Webhook callback: an agent that registers with a webhook service and waits for its call.

``WebhookAgent("orders").subscribe(callback_url, topic)``:

1. creates a promise (``create_promise``);
2. POSTs a JSON registration to ``callback_url`` through standard ``wasi:http`` client
   code (``outgoing-handler.handle``): the promise id and the pieces the service needs to
   call agent-host's REST complete API (component id, agent id, oplog index, the path to
   POST to, and the promise's secret, which a server run with
   ``--require-promise-secret`` asks for);
3. waits for the promise (``blocking_await_promise``): the agent is durably suspended
   until the service completes it, then returns the completion's body.

agent-host records the POST's response in the agent's oplog (and commits it before the
guest sees it). When the agent resumes after the callback, or after a host restart, the
invocation is replayed from the oplog: the recorded response answers again and the
registration is **not** sent a second time. A service may also deduplicate on the
``Idempotency-Key`` header agent-host adds to every outgoing request.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit

from agent_sdk import PromiseId, agent, blocking_await_promise, create_promise, promise_secret
from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.wasi_http_types import (
    Fields,
    IncomingBody,
    Method_Post,
    OutgoingBody,
    OutgoingRequest,
    Scheme_Http,
    Scheme_Https,
)


class HttpError(Exception):
    """The request failed or was refused (the caller sees the message)."""


def post_json(url: str, value: object) -> tuple[int, bytes]:
    """POST ``value`` as JSON to ``url`` with wasi:http; (status, response body)."""
    parts = urlsplit(url)
    headers = Fields.from_list([("content-type", b"application/json")])
    request = OutgoingRequest(headers)
    request.set_method(Method_Post())
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    body = request.body()
    stream = body.write()
    data = json.dumps(value).encode()
    for i in range(0, len(data), 4096):  # blocking-write-and-flush takes at most 4096 bytes
        stream.blocking_write_and_flush(data[i : i + 4096])
    stream.__exit__(None, None, None)
    OutgoingBody.finish(body, None)
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        raise HttpError(type(e.value).__name__) from None
    with future.subscribe() as ready:
        ready.block()
    result = future.get()
    assert isinstance(result, Ok), "a ready response is taken once"
    if isinstance(result.value, Err):
        raise HttpError(type(result.value.value).__name__)
    response = result.value.value
    incoming = response.consume()
    reader = incoming.stream()
    chunks = []
    while True:
        try:
            chunks.append(reader.blocking_read(65536))
        except Err as e:
            if isinstance(e.value, StreamError_Closed):
                break
            raise
    reader.__exit__(None, None, None)
    IncomingBody.finish(incoming)
    return response.status(), b"".join(chunks)


@agent()
class WebhookAgent:
    """Registers with a webhook service, then waits (suspended) for its callback."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.waiting: PromiseId | None = None
        self.received: str | None = None

    def subscribe(self, callback_url: str, topic: str) -> str:
        """Create a promise, POST it as JSON to ``callback_url``, then wait until the
        promise is completed; the completion's payload as text. Fails (and nothing
        waits) if the registration gets no 2xx answer or the request fails."""
        promise = create_promise()
        me = promise.agent_id
        path_id = quote(me.agent_id, safe="")
        registration = {
            "promiseId": str(promise),
            "componentId": str(me.component_id),
            "agentId": me.agent_id,
            "oplogIdx": promise.oplog_idx,
            "completePath": f"/v1/components/{me.component_id}/workers/{path_id}/complete",
            "topic": topic,
            "secret": promise_secret(promise),  # sent, never written to the oplog
        }
        try:
            status, answer = post_json(callback_url, registration)
        except HttpError as e:
            raise HttpError(f"registering with {callback_url} failed: {e}") from None
        if not 200 <= status < 300:
            text = answer.decode("utf-8", "replace")[:200]
            raise HttpError(f"{callback_url} refused the registration: HTTP {status} {text}")
        self.waiting, self.received = promise, None
        payload = blocking_await_promise(promise)  # the agent suspends here
        self.waiting, self.received = None, payload.decode("utf-8", "replace")
        return self.received

    def status(self) -> str:
        """Where the agent stands: "idle", "waiting for <promise id>", "received: <body>"."""
        if self.waiting is not None:
            return f"waiting for {self.waiting}"
        if self.received is not None:
            return f"received: {self.received}"
        return "idle"
