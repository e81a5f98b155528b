"""A lean path for the server's hottest request: completing a promise with a small JSON body
(issue 13: 1,000 suspended agents completed by 16 clients).

Through FastAPI a completion spends most of its time in the framework: every middleware,
the router trying each route in turn, dependency solving, a response object. Profiled under
the throughput benchmark, that framework time was more than half of the event loop's share
of the GIL. :class:`CompletionFastPath` sits in front of the app's middleware and answers
``POST /v1/components/{component_id}/workers/{worker_name}/complete`` itself when the
request is the common case, with the same checks, answers and errors as the route
(:func:`host.server.routes.complete_promise_answer` holds the logic both use):

* the body is JSON (``Content-Type`` absent, ``application/json`` or ``+json``) with a
  ``Content-Length`` no larger than :data:`FAST_BODY_LIMIT`;
* the body is a valid completion (read by the route's own parser, payloads.json_completion);
* no credential is needed, or the request carries the server's token.

Anything else (a raw octet-stream payload, a large or chunked body, a body that does not
validate, a promise secret to check, a request without the token) goes to the app
unchanged, the body already read handed on as it arrived, so every error is the app's
own. Errors the completion itself raises (unknown agent or promise, internal promise, a
payload over the agent's limit, an unusable store) are answered with the same table the
app's exception handlers use (:func:`host.server.errors.host_error_answer`).
"""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from host.errors import HostError
from host.server import payloads
from host.server.errors import ApiError, error_body, host_error_answer
from host.server.routes import complete_promise_answer

if TYPE_CHECKING:
    from host.server.auth import AuthConfig
    from host.service import HostService

FAST_BODY_LIMIT = 64 << 10  # larger completions take the app's streaming body limit
# The route's path as Starlette matches it (on the decoded path, one segment per parameter).
_PATH = re.compile(r"/v1/components/([^/]+)/workers/([^/]+)/complete")
_JSON_HEADERS = [(b"content-type", b"application/json")]


def completion_pool(threads: int = 16) -> ThreadPoolExecutor:
    """The threads :class:`CompletionFastPath` runs completions on."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="complete")


class CompletionFastPath:
    """ASGI middleware answering small JSON promise completions without the framework."""

    def __init__(
        self, app: ASGIApp, service: HostService, auth: AuthConfig, pool: Executor
    ) -> None:
        """``pool`` runs each completion's store work (a write transaction, which waits
        for its group commit) off the event loop: a pool of the app's own is cheaper per
        call than anyio's thread hand-off."""
        self.app = app
        self.service = service
        self.auth = auth
        self._pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _PATH.fullmatch(scope["path"])
        if match is None or not self._eligible(scope):
            await self.app(scope, receive, send)
            return
        body, rest = await _read_body(receive)
        if rest is not None:  # more than Content-Length said: let the app refuse it
            await self.app(scope, _replay(body, receive, rest), send)
            return
        try:
            request = payloads.json_completion(body, None)
        except Exception:  # the app answers it, in its own shape
            await self.app(scope, _replay(body, receive), send)
            return
        component_id, worker_name = match.groups()

        def work() -> bool:
            return complete_promise_answer(
                self.service, component_id, worker_name, request.oplog_idx, request.data
            )

        try:
            done = await asyncio.get_running_loop().run_in_executor(self._pool, work)
        except ApiError as exc:
            await _answer(send, exc.status, error_body(exc.code, exc.message, exc.field))
            return
        except HostError as exc:
            await _answer(send, *host_error_answer(exc))
            return
        await _answer(send, 200, done)

    def _eligible(self, scope: Scope) -> bool:
        length: int | None = None
        content_type: bytes | None = None
        authorization: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
                if length is None:
                    return False
            elif name == b"content-type":
                content_type = value
            elif name == b"authorization":
                authorization = value
            elif name == b"transfer-encoding" or name == b"x-promise-secret":
                return False
        if length is None or length > FAST_BODY_LIMIT:
            return False
        if content_type is not None:
            kind = content_type.split(b";")[0].strip().lower()
            if kind != b"application/json" and not (
                kind.startswith(b"application/") and kind.endswith(b"+json")
            ):
                return False
        if self.auth.token is not None or self.auth.require_promise_secret:
            # Only the token is checked here; a promise secret is the route's to check.
            return self.auth.token_ok(authorization)
        return True


async def _read_body(receive: Receive) -> tuple[bytes, list[Message] | None]:
    """The request's body, and the messages after it if a message was not a body part
    (a disconnect): those are handed on to the app."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, receive: Receive, pending: list[Message] | None = None) -> Receive:
    """A receive that gives the app the body already read, then whatever followed it."""
    queue: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if pending:
        queue = [{"type": "http.request", "body": body, "more_body": True}, *pending]

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


async def _answer(send: Send, status: int, value: Any) -> None:
    # As FastAPI's JSONResponse renders it.
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON_HEADERS, (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})
