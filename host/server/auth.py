"""Access control for the server.

With a token configured, every request needs ``Authorization: Bearer <token>``, whatever
its method: agent-declared routes run guest functions on GET too (creating agents and
growing oplogs), so no route that can invoke a function is open. Two kinds of request
are exempt:

- ``/healthz`` is always open (it says only that the process answers);
- with ``public_reads``, reads (GET, HEAD, OPTIONS) of the Golem API (``/v1/...``) and
  of the API description (``/openapi.json``, ``/docs``, ``/redoc``) are open. Agent
  routes still need the token: they invoke functions.

Completing a promise may instead carry that promise's secret (``X-Promise-Secret``
header or a ``secret`` field), so a webhook can complete the one promise it was handed
without holding the server's token; the completion route checks that itself. With
``require_promise_secret``, completion needs the secret (or the token) even when no
token is configured, and a guest completing another agent's promise needs its secret
too (see :mod:`host.runtime.golem`).

The web console (``/ui``, :mod:`host.server.ui`) checks the token itself: a browser
signs in once with a form and carries a session cookie instead of the header.

Header bytes are read as latin-1, as HTTP defines them; a header that is not UTF-8 is
never an error here, and a token that does not match byte for byte is a 401.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from host.server.errors import error_body

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
OPEN_PATHS = {"/healthz"}
DOC_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@dataclass(frozen=True)
class AuthConfig:
    token: str | None = None
    require_promise_secret: bool = False
    public_reads: bool = False

    def token_ok(self, authorization: str | bytes | None) -> bool:
        if self.token is None or authorization is None:
            return False
        raw = (
            authorization
            if isinstance(authorization, bytes)
            else authorization.encode("latin-1", "replace")
        )
        scheme, _, value = raw.partition(b" ")
        # Bytes on both sides: compare_digest refuses non-ASCII str, and a header may
        # hold any byte.
        return scheme.lower() == b"bearer" and hmac.compare_digest(
            value.strip(), self.token.encode()
        )

    def is_open(self, method: str, path: str) -> bool:
        """Whether a request passes without the token (when one is set)."""
        if path in OPEN_PATHS:
            return True
        if self.public_reads and method in SAFE_METHODS:
            return path == "/v1" or path.startswith("/v1/") or path in DOC_PATHS
        return False


def is_completion(path: str) -> bool:
    """A promise completion, authorised by the route itself (the promise's secret): the
    worker API's ``complete`` and webhooks (:mod:`host.webhooks`, the secret in the URL)."""
    if path.startswith("/webhooks/"):
        return True
    return path.startswith("/v1/components/") and path.rstrip("/").endswith("/complete")


def is_console(path: str) -> bool:
    """The web console, which asks for the token with a sign-in form (host/server/ui)."""
    return path == "/ui" or path.startswith("/ui/")


def is_preflight(scope: Scope) -> bool:
    """A CORS preflight of an agent route: it carries no credentials and runs no guest code."""
    if scope["method"] != "OPTIONS" or scope["path"].startswith("/v1/"):
        return False
    return any(name.lower() == b"access-control-request-method" for name, _ in scope["headers"])


class TokenAuth:
    """Refuses requests without the token with 401; completion routes decide for
    themselves (token or promise secret), so they pass through."""

    def __init__(self, app: ASGIApp, config: AuthConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.config.token is None
            or self.config.is_open(scope["method"], scope["path"])
            or (scope["method"] == "POST" and is_completion(scope["path"]))
            or is_preflight(scope)
            or is_console(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        authorization = None
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                authorization = value
        if self.config.token_ok(authorization):
            await self.app(scope, receive, send)
            return
        await unauthorized(
            send,
            "this server requires `Authorization: Bearer <token>`"
            + (
                " on every request but reads of /v1"
                if self.config.public_reads
                else " on every request but /healthz"
            ),
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
