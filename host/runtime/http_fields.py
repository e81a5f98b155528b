"""The objects a guest builds an outgoing request from (``wasi:http/types`` 0.2.x):
``fields`` and ``outgoing-request``, with wasmtime's checks of header names and values,
methods, paths, schemes and authorities. Plain host objects, never recorded: they are a
function of what the guest does, so replay rebuilds them by running it
(host/runtime/wasi_http.py has the exchange and the rest of the interface).
"""

from __future__ import annotations

from typing import Any

from host.runtime.http_objects import Fields, OutgoingBody, OutgoingRequest
from host.runtime.http_send import FORBIDDEN_HEADERS
from host.runtime.session import Session
from host.values import Case, Some

# The characters of an HTTP token (RFC 9110): header names and extension methods.
TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


# -- fields ----------------------------------------------------------------------------------
def header_error(name: str, value: bytes | None = None) -> Case | None:
    if not name or any(c not in TOKEN_CHARS for c in name):
        return Case("err", Case("invalid-syntax"))
    if value is not None and any(b in (0, 10, 13) for b in value):
        return Case("err", Case("invalid-syntax"))
    if name.lower() in FORBIDDEN_HEADERS:
        return Case("err", Case("forbidden"))
    return None


def fields_from_list(session: Session, entries: list[tuple[str, bytes]]) -> Case:
    out: list[tuple[str, bytes]] = []
    for name, value in entries:
        error = header_error(name, value)
        if error is not None:
            return error
        out.append((name.lower(), bytes(value)))
    return ok(Fields(out))


def fields_get(session: Session, f: Fields, name: str) -> list[bytes]:
    key = name.lower()
    return [v for k, v in f.entries if k == key]


def fields_has(session: Session, f: Fields, name: str) -> bool:
    key = name.lower()
    return any(k == key for k, _ in f.entries)


def fields_set(session: Session, f: Fields, name: str, values: list[bytes]) -> Case:
    if not f.mutable:
        return Case("err", Case("immutable"))
    for value in values:
        error = header_error(name, value)
        if error is not None:
            return error
    error = header_error(name)
    if error is not None:
        return error
    key = name.lower()
    f.entries[:] = [(k, v) for k, v in f.entries if k != key] + [(key, bytes(v)) for v in values]
    return Case("ok")


def fields_delete(session: Session, f: Fields, name: str) -> Case:
    if not f.mutable:
        return Case("err", Case("immutable"))
    error = header_error(name)
    if error is not None:
        return error
    key = name.lower()
    f.entries[:] = [(k, v) for k, v in f.entries if k != key]
    return Case("ok")


def fields_append(session: Session, f: Fields, name: str, value: bytes) -> Case:
    if not f.mutable:
        return Case("err", Case("immutable"))
    error = header_error(name, value)
    if error is not None:
        return error
    f.entries.append((name.lower(), bytes(value)))
    return Case("ok")


# -- outgoing requests -------------------------------------------------------------------------
def new_request(session: Session, headers: Fields) -> OutgoingRequest:
    return OutgoingRequest(Fields(list(headers.entries)))


def request_body(session: Session, req: OutgoingRequest) -> Case:
    if req.body is not None:
        return Case("err")
    req.body = OutgoingBody()
    return ok(req.body)


def valid_method(method: Case) -> bool:
    if method.name != "other":
        return True
    return (
        isinstance(method.value, str)
        and bool(method.value)
        and all(c in TOKEN_CHARS for c in method.value)
    )


def set_method(session: Session, req: OutgoingRequest, method: Case) -> Case:
    if not valid_method(method):
        return Case("err")
    req.method = method
    return Case("ok")


def set_path(session: Session, req: OutgoingRequest, path: Some | None) -> Case:
    value = None if path is None else str(path.value)
    if value is not None and (any(c in value for c in " \r\n\0") or "#" in value):
        return Case("err")
    req.path_with_query = value
    return Case("ok")


def set_scheme(session: Session, req: OutgoingRequest, scheme: Some | None) -> Case:
    value: Any = None if scheme is None else scheme.value
    if value is not None and value.name == "other":
        text = str(value.value)
        if not text or not text[0].isalpha() or any(not (c.isalnum() or c in "+-.") for c in text):
            return Case("err")
    req.scheme = value
    return Case("ok")


def set_authority(session: Session, req: OutgoingRequest, authority: Some | None) -> Case:
    value = None if authority is None else str(authority.value)
    if value is not None and any(c in value for c in " /?#@\r\n\0"):
        return Case("err")
    req.authority = value
    return Case("ok")


def ok(value: Any) -> Case:
    """``ok`` holding a host object (a resource the guest will own) or any value."""
    return Case("ok", value)


def opt(value: Any) -> Some | None:
    return None if value is None else Some(value)
