"""Access control for the server.

With a token configured, every request that changes state (any method but GET, HEAD
and OPTIONS) needs ``Authorization: Bearer <token>``; reads stay open. Completing a
promise may instead carry that promise's secret (``X-Promise-Secret`` header or a
``secret`` field), so a webhook can complete the one promise it was handed without
holding the server's token. With ``require_promise_secret``, completion needs the
secret (or the token) even when no token is configured.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from host.server.errors import error_body

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class AuthConfig:
    token: str | None = None
    require_promise_secret: bool = False

    def token_ok(self, authorization: str | None) -> bool:
        if self.token is None or authorization is None:
            return False
        scheme, _, value = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), self.token)


def is_completion(path: str) -> bool:
    return path.startswith("/v1/components/") and path.rstrip("/").endswith("/complete")


class TokenAuth:
    """Refuses unauthenticated state changes with 401; completion routes decide for
    themselves (token or promise secret), so they pass through."""

    def __init__(self, app: ASGIApp, config: AuthConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.config.token is None
            or scope["method"] in SAFE_METHODS
            or is_completion(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        if self.config.token_ok(headers.get("authorization")):
            await self.app(scope, receive, send)
            return
        await unauthorized(
            send,
            "this server requires `Authorization: Bearer <token>` for requests that change state",
        )


async def unauthorized(send: Send, message: str) -> None:
    data = json.dumps(error_body("unauthorized", message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b"Bearer"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
