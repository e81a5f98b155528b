"""One error body shape for every failure, and the status each error class maps to.

Every error response is ``{"error": {"code": str, "message": str, "field"?: str}}``.
Users' mistakes are 4xx; a 500 means a bug in agent-host.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from host.errors import (
    AgentFailed,
    Conflict,
    Divergence,
    HostError,
    InternalPromise,
    InvalidInput,
    NotFound,
    StoreError,
)

STATUS: list[tuple[type[HostError], int, str]] = [
    (NotFound, 404, "not_found"),
    (InvalidInput, 400, "invalid_input"),
    # A call to a failed agent fails at once, as its failed invocation did.
    (AgentFailed, 422, "invocation_failed"),
    (InternalPromise, 409, "internal_promise"),
    (Conflict, 409, "conflict"),
    (Divergence, 409, "divergence"),
    (StoreError, 503, "store_unavailable"),
]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


ECHO_LIMIT = 64  # characters of one caller-given value an error message repeats
MESSAGE_LIMIT = 1000
_LONG_WORD = re.compile(r"\S{" + str(ECHO_LIMIT + 1) + ",}")


def clip(text: str) -> str:
    """``text`` with every run of more than :data:`ECHO_LIMIT` non-blank characters (a
    name, an id, a value the caller sent) cut to its first ECHO_LIMIT and ``...``: a
    10,000-character agent name is not echoed back in full."""
    text = _LONG_WORD.sub(lambda m: m.group()[:ECHO_LIMIT] + "...", text)
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "..."


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The one error shape; every error response is built here, so every message and
    field is clipped here (:func:`clip`)."""
    error: dict[str, Any] = {"code": code, "message": clip(message)}
    if field is not None:
        error["field"] = clip(field)
    return {"error": error}


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def host_error_answer(exc: HostError) -> tuple[int, dict[str, Any]]:
    """(status, error body) for a HostError: the one table, :data:`STATUS`."""
    field = exc.field if isinstance(exc, InvalidInput) else None
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            return status, error_body(code, str(exc), field)
    return 500, error_body("host_error", str(exc))


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.field), exc.status)

    @app.exception_handler(HostError)
    async def host_error(request: Request, exc: HostError) -> JSONResponse:
        status, body = host_error_answer(exc)
        return JSONResponse(body, status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        field = _field(tuple(first.get("loc", ())))
        if first.get("type") == "json_invalid":
            field = "body"  # pydantic's loc ends with the character offset, not a field
        msg = str(first.get("msg", "invalid request"))
        message = f"{field}: {msg}" if field else msg
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        return JSONResponse(error_body("invalid_request", message, field or None), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)
