"""Webhook callback: an agent that registers with a webhook service and waits for its call.

``subscribe(callback-url, topic)``:

1. creates a promise (``agent_host_sdk.create_promise``);
2. POSTs a JSON registration to ``callback-url`` through standard ``wasi:http`` client
   code (``outgoing-handler.handle``): the promise id, the pieces the service needs to
   call agent-host's REST complete API (component id, agent name, oplog index, the path
   to POST to) and the promise's secret (for a server run with ``--require-promise-secret``);
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
from urllib.parse import urlsplit

import wit_world
from agent_host_sdk import PromiseId, blocking_await_promise, create_promise, promise_secret
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

# Module state lives in the agent's memory; replay rebuilds it after a suspension.
_waiting: PromiseId | None = None
_received: str | None = None


class HttpError(Exception):
    """The request failed before a response came (a wasi:http error-code)."""


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


class WitWorld(wit_world.WitWorld):
    def subscribe(self, callback_url: str, topic: str) -> str:
        global _waiting, _received
        promise = create_promise()
        agent = promise.agent_id
        registration = {
            "promiseId": str(promise),
            "componentId": str(agent.component_id),
            "agentName": agent.name,
            "oplogIdx": promise.oplog_idx,
            "completePath": f"/v1/components/{agent.component_id}/workers/{agent.name}/complete",
            "secret": promise_secret(promise),
            "topic": topic,
        }
        try:
            status, answer = post_json(callback_url, registration)
        except HttpError as e:
            raise Err(f"registering with {callback_url} failed: {e}") from None
        if not 200 <= status < 300:
            text = answer.decode("utf-8", "replace")[:200]
            raise Err(f"{callback_url} refused the registration: HTTP {status} {text}")
        _waiting, _received = promise, None
        payload = blocking_await_promise(promise)  # the agent suspends here
        _waiting, _received = None, payload.decode("utf-8", "replace")
        return _received

    def status(self) -> str:
        if _waiting is not None:
            return f"waiting for {_waiting}"
        if _received is not None:
            return f"received: {_received}"
        return "idle"
