"""A request body size limit, enforced while the body streams in (413 past it): never more
than the limit is read into memory. Promise payloads (completions, webhooks) have their own
limit, from the server's ``--max-payload`` (:func:`host.server.payloads.body_limit`)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from host.server.errors import error_body
from host.server.payloads import DEFAULT_MAX_PAYLOAD, body_limit


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        default: int,
        overrides: dict[str, int],
        max_payload: int = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self.app = app
        self.default = default
        self.overrides = overrides  # exact path -> limit (component uploads are larger)
        self.max_payload = max_payload

    def limit_for(self, path: str, content_type: str | None = None) -> int:
        payload = body_limit(path, content_type, self.max_payload)
        if payload is not None:
            return payload
        return self.overrides.get(path.rstrip("/") or "/", self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        content_type = next((v.decode("latin-1") for n, v in headers if n == b"content-type"), None)
        limit = self.limit_for(scope["path"], content_type)
        for name, value in headers:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(send, limit)
                return
        seen = 0
        started = False
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # The app caught the aborted read and answers with its own error (FastAPI:
                # 400 "error parsing the body"): answer 413 instead.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _too_large(send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _too_large(send, limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body: Any = error_body("payload_too_large", f"request body larger than {limit} bytes")
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
