"""Promise payloads over HTTP: sizes, body limits and the two forms of a completion.

A completion (``POST .../workers/{name}/complete``) is Golem's JSON
``{"oplogIdx": N, "data": [bytes...]}``, or, as an agent-host extension, the payload itself
as the body with ``Content-Type: application/octet-stream`` and the index in the query
(``?oplogIdx=N``; the secret, where needed, in ``X-Promise-Secret``). A webhook's body is
always the payload as it is. Both are capped by the server's ``--max-payload`` (default
16 MiB, the same as the agents' default ``max_payload_bytes``): a raw body may be that
large, a JSON body as large as that many bytes written as a JSON array (``255, `` is five
characters a byte) plus room for the other fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from host import webhooks
from host.errors import InvalidInput

DEFAULT_MAX_PAYLOAD = 16 << 20
OCTET_STREAM = "application/octet-stream"
_JSON_PER_BYTE = 5  # "255, "
_JSON_SLACK = 64 << 10  # oplogIdx, secret, whitespace
_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1 << 10,
    "m": 1000**2, "mb": 1000**2, "mib": 1 << 20,
    "g": 1000**3, "gb": 1000**3, "gib": 1 << 30,
}  # fmt: skip

Byte = Annotated[int, Field(ge=0, le=255, strict=True)]
OplogIdx = Annotated[int, Field(ge=1, le=2**64 - 1, strict=True)]


class CompleteRequest(BaseModel):
    """Golem's CompleteParameters: the promise's oplog index and the payload bytes; and,
    where the server asks for it, the promise's secret (or send ``X-Promise-Secret``)."""

    model_config = ConfigDict(extra="forbid")
    oplogIdx: OplogIdx  # noqa: N815
    data: list[Byte]
    secret: str | None = None


def parse_size(text: str) -> int:
    """``1048576``, ``16MiB``, ``512KiB``, ``1.5MB`` -> bytes (InvalidInput otherwise)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise InvalidInput(
            f"{text!r} is not a size: write bytes (1048576) or a number with a unit "
            "(16MiB, 512KiB, 1MB)",
            field="max_payload",
        )
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1:
        raise InvalidInput(f"a size must be at least one byte, not {text!r}", field="max_payload")
    return size


def is_octet_stream(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == OCTET_STREAM


def body_limit(path: str, content_type: str | None, max_payload: int) -> int | None:
    """The body limit for a request carrying a payload, or None for any other route."""
    if path.startswith(webhooks.PREFIX) or is_octet_stream(content_type) and _completion(path):
        return max_payload
    if _completion(path):
        return max_payload * _JSON_PER_BYTE + _JSON_SLACK
    return None


def _completion(path: str) -> bool:
    return path.startswith("/v1/components/") and path.rstrip("/").endswith("/complete")


@dataclass(frozen=True)
class JsonCompletion:
    """A JSON completion's fields, the payload as bytes."""

    oplog_idx: int
    data: bytes
    secret: str | None


_FIELDS = frozenset(CompleteRequest.model_fields)
_MAX_IDX = 2**64 - 1


def _quick(body: bytes) -> JsonCompletion | None:
    """The common, valid body read without pydantic's per-element validation (a 1 MiB
    payload's million numbers: ~70 ms there, ~30 ms parsed by pydantic-core's JSON parser
    and checked by ``bytes()``, which refuses anything but ints 0..255). None for anything
    unusual, which :class:`CompleteRequest` then reads, with its own error messages; a
    body with a ``true``/``false`` anywhere goes that way too (``bytes()`` takes them as
    1 and 0, strict validation does not)."""
    if b"true" in body or b"false" in body:
        return None
    try:
        obj = pydantic_core.from_json(body)
    except ValueError:
        return None
    if not (isinstance(obj, dict) and obj.keys() <= _FIELDS and "data" in obj):
        return None
    idx, data, secret = obj.get("oplogIdx"), obj["data"], obj.get("secret")
    if type(idx) is not int or not 1 <= idx <= _MAX_IDX or type(data) is not list:
        return None
    if secret is not None and type(secret) is not str:
        return None
    try:
        return JsonCompletion(idx, bytes(data), secret)
    except (TypeError, ValueError):
        return None


def json_completion(body: bytes, content_type: str | None) -> JsonCompletion:
    """Golem's JSON body, or the validation errors in FastAPI's shape (``loc`` from body);
    a body of another type (not JSON, not octet-stream) is refused as FastAPI would."""
    kind = (content_type or "application/json").split(";")[0].strip().lower()
    if kind != "application/json" and not (
        kind.startswith("application/") and kind.endswith("+json")
    ):
        raise InvalidInput(
            f"a completion's body is JSON (application/json) or the payload itself "
            f"({OCTET_STREAM}), not {kind}",
            field="body",
        )
    quick = _quick(body)
    if quick is not None:
        return quick
    try:
        model = CompleteRequest.model_validate_json(body)
    except ValidationError as exc:
        raise _request_errors(exc, "body") from None
    return JsonCompletion(model.oplogIdx, bytes(model.data), model.secret)


def raw_oplog_idx(value: str | None) -> int:
    """``?oplogIdx=`` of a raw completion."""
    if value is None:
        raise InvalidInput(
            "a completion sent as application/octet-stream names its promise in the query: "
            "POST .../complete?oplogIdx=N",
            field="query.oplogIdx",
        )
    if not value.isdigit() or not 1 <= int(value) <= 2**64 - 1:
        raise InvalidInput(
            f"oplogIdx must be a positive integer, not {value!r}", field="query.oplogIdx"
        )
    return int(value)


def _request_errors(exc: ValidationError, where: str) -> Exception:
    from fastapi.exceptions import RequestValidationError

    errors: list[Any] = [
        {**e, "loc": (where, *e["loc"])} for e in exc.errors(include_url=False, include_input=False)
    ]
    return RequestValidationError(errors)


OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            # host/server/docs.py puts the model among the document's schemas.
            "application/json": {"schema": {"$ref": "#/components/schemas/CompleteRequest"}},
            OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "parameters": [
        {
            "name": "oplogIdx",
            "in": "query",
            "required": False,
            "description": "The promise's oplog index, for an application/octet-stream body",
            "schema": {"type": "integer", "minimum": 1},
        }
    ],
}
