"""Outgoing HTTP for agents: ``wasi:http/types`` and ``wasi:http/outgoing-handler`` 0.2.x.

Standard guest code (componentize-py's ``poll_loop.send``, or ``handle`` then
``subscribe().block()`` then ``get``) works unchanged. Everything is buffered:

- ``fields``, ``request-options``, ``outgoing-request`` and ``outgoing-body`` are plain host
  objects; writing the body's ``output-stream`` collects bytes in memory. None of this is
  recorded: it is a function of what the guest does, so replay rebuilds it by running it.
- ``outgoing-handler.handle`` checks the request's shape and returns a
  ``future-incoming-response``; nothing is sent yet (the body may still be written).
- The first ``future-incoming-response.get`` after the body is finished (or when the request
  has no body) is **the exchange**: the host sends the request with the standard library's
  ``http.client``, reads the whole response, appends one ``HostCall`` entry holding the
  response (or the WASI ``error-code``) to the agent's oplog and commits it, then hands the
  guest an ``incoming-response`` built from it. On replay that entry answers: the response is
  rebuilt from the oplog and **no request is sent**.
- ``incoming-body.stream`` reads the buffered body; ``finish`` gives empty trailers.
- Pollables here are always ready. A ``get`` while the request body is still being
  written answers none (not recorded), so an event loop that writes the body in another
  task keeps running it; a guest that never finishes its body spins until its deadline.

Guarantee: a request whose exchange entry is committed is never sent again. A host crash
after the request left and before the commit re-sends it when the agent is recovered
(at-least-once), so every request carries an ``Idempotency-Key`` header (unless the guest set
one) derived from the agent, its creation and the oplog index of the exchange: a re-sent
request has the same key, and a receiver that deduplicates on it sees the effect once.

With golem:api/host idempotence mode off, a committed BeginRemoteWrite precedes the send
(host/replay.py): a crash before the exchange is committed then fails the invocation on
recovery instead of sending again. Under persist-nothing the exchange is not recorded and
is sent again on replay.

A transient failure (a refused or dropped connection, a timeout, ...) may be retried inside
the call first, by the agent's named retry policies: :mod:`host.runtime.http_retry`; each
retry writes an ``in-function-retry`` entry before the exchange's entry, which replay
passes over.

Destinations: only the hosts of the allow-list are reached (by default loopback only;
:mod:`host.runtime.http_send` has the policy and the sending). A refused destination answers
the guest ``HTTP-request-denied`` (recorded like any other answer, so replay does not depend
on the setting in force later).

The oplog entry (function ``wasi:http/types@<v>.[method]future-incoming-response.get``)::

    request:  {"method": "POST", "url": "http://127.0.0.1:8080/hook",
               "headers": [["content-type", "application/json"], ...],   # secrets redacted
               "body-bytes": 52, "body-sha256": "<hex>", "idempotency-key": "<uuid>"}
    response: {"status": 200, "headers": [["content-type", "text/plain"], ...],
               "body": "<base64>"}
          or  {"error": <the error-code as JSON, e.g. {"connection-refused": null}>,
               "detail": "<what happened, for people>"}

A response that would make the entry larger than the agent's ``max_payload_bytes`` is not
kept: the guest gets ``HTTP-response-body-size`` and the entry records that error.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from host.errors import Divergence
from host.oplog import HostCall
from host.oplog_codec import BYTES_KEY, entry_size
from host.runtime import context, http_retry
from host.runtime import pollables as pl
from host.runtime.http_fields import (
    fields_append,
    fields_delete,
    fields_from_list,
    fields_get,
    fields_has,
    fields_set,
    new_request,
    ok,
    opt,
    request_body,
    set_authority,
    set_method,
    set_path,
    set_scheme,
    valid_method,
)
from host.runtime.http_objects import (
    BodyInputStream,
    BodyOutputStream,
    Fields,
    FutureIncomingResponse,
    FutureTrailers,
    IncomingBody,
    IncomingResponse,
    OutgoingBody,
    OutgoingRequest,
    RequestOptions,
    owns,
)
from host.runtime.http_send import (
    Failed,
    Request,
    send,
    split_authority,
)
from host.runtime.session import HostFunc, Kind, Session
from host.values import Case, Some, bytes_to_json, from_json, to_json
from host.values.types import FuncSig, OptionT, ResultT, WitType

log = logging.getLogger(__name__)

FAMILY = "wasi:http/"

# Request header values never written to the oplog.
REDACTED_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-promise-secret"}
)
IDEMPOTENCY_HEADER = "idempotency-key"


# -- outgoing bodies and their streams --------------------------------------------------------
def _body_write(session: Session, body: OutgoingBody) -> Case:
    if body.stream_taken:
        return Case("err")
    body.stream_taken = True
    return ok(BodyOutputStream(body))


def _body_finish(session: Session, body: OutgoingBody, trailers: Some | None) -> Case:
    body.finished = True
    return Case("ok")


STREAM_CLOSED = Case("err", Case("closed"))


def _stream_write(session: Session, stream: BodyOutputStream, contents: bytes) -> Case:
    if stream.body.finished:
        return STREAM_CLOSED
    stream.body.data += contents
    return Case("ok")


def _stream_write_zeroes(session: Session, stream: BodyOutputStream, n: int) -> Case:
    return _stream_write(session, stream, bytes(n))


def _stream_check_write(session: Session, stream: BodyOutputStream) -> Case:
    return STREAM_CLOSED if stream.body.finished else Case("ok", 1 << 20)


def _stream_flush(session: Session, stream: BodyOutputStream) -> Case:
    return STREAM_CLOSED if stream.body.finished else Case("ok")


def _stream_read(session: Session, stream: BodyInputStream, length: int) -> Case:
    if stream.pos >= len(stream.data):
        return STREAM_CLOSED
    chunk = stream.data[stream.pos : stream.pos + length]
    stream.pos += len(chunk)
    return Case("ok", chunk)


def _stream_skip(session: Session, stream: BodyInputStream, length: int) -> Case:
    if stream.pos >= len(stream.data):
        return STREAM_CLOSED
    skipped = min(length, len(stream.data) - stream.pos)
    stream.pos += skipped
    return Case("ok", skipped)


def _splice_refused(session: Session, *args: Any) -> Case:
    return STREAM_CLOSED


_ready: Callable[..., pl.ReadyPollable] = lambda *_: pl.ReadyPollable()  # noqa: E731

# wasi:io/streams methods on HTTP body streams; stdio streams keep wasi.py's.
STREAM_FUNCS: dict[str, HostFunc] = {
    "wasi:io/streams.[method]output-stream.check-write": HostFunc(_stream_check_write),
    "wasi:io/streams.[method]output-stream.write": HostFunc(_stream_write),
    "wasi:io/streams.[method]output-stream.blocking-write-and-flush": HostFunc(_stream_write),
    "wasi:io/streams.[method]output-stream.flush": HostFunc(_stream_flush),
    "wasi:io/streams.[method]output-stream.blocking-flush": HostFunc(_stream_flush),
    "wasi:io/streams.[method]output-stream.subscribe": HostFunc(_ready),
    "wasi:io/streams.[method]output-stream.write-zeroes": HostFunc(_stream_write_zeroes),
    "wasi:io/streams.[method]output-stream.blocking-write-zeroes-and-flush": HostFunc(
        _stream_write_zeroes
    ),
    "wasi:io/streams.[method]output-stream.splice": HostFunc(_splice_refused),
    "wasi:io/streams.[method]output-stream.blocking-splice": HostFunc(_splice_refused),
    "wasi:io/streams.[method]input-stream.read": HostFunc(_stream_read),
    "wasi:io/streams.[method]input-stream.blocking-read": HostFunc(_stream_read),
    "wasi:io/streams.[method]input-stream.skip": HostFunc(_stream_skip),
    "wasi:io/streams.[method]input-stream.blocking-skip": HostFunc(_stream_skip),
    "wasi:io/streams.[method]input-stream.subscribe": HostFunc(_ready),
}


# -- responses -----------------------------------------------------------------------------------
def _consume(session: Session, resp: IncomingResponse) -> Case:
    if resp.consumed:
        return Case("err")
    resp.consumed = True
    return ok(IncomingBody(resp.body))


def _incoming_stream(session: Session, body: IncomingBody) -> Case:
    if body.stream_taken:
        return Case("err")
    body.stream_taken = True
    return ok(BodyInputStream(body.data))


# -- handle -------------------------------------------------------------------------------------
def _handle(session: Session, req: OutgoingRequest, options: Some | None) -> Case:
    """Check the request's shape; the exchange happens at the future's first ``get``."""
    scheme = req.scheme
    if scheme is not None and scheme.name not in ("HTTP", "HTTPS"):
        return Case("err", Case("HTTP-request-URI-invalid"))
    if not req.authority:
        return Case("err", Case("HTTP-request-URI-invalid"))
    if not valid_method(req.method):
        return Case("err", Case("HTTP-request-method-invalid"))
    try:
        split_authority(req.authority, _scheme_name(req))
    except ValueError:
        return Case("err", Case("HTTP-request-URI-invalid"))
    opts: Any = None if options is None else options.value
    fut = FutureIncomingResponse(req, opts)
    # Golem starts a span for each outgoing request (not made current); its id is the
    # parent the request's traceparent names.
    fut.span = context.start_host_span(session, _request_span_attributes(req))
    return ok(fut)


def _request_span_attributes(req: OutgoingRequest) -> tuple[tuple[str, str], ...]:
    # Golem's names (outgoing_http_request_span_attributes).
    return (
        ("name", "outgoing-http-request"),
        ("request.uri", _url(req)),
        ("request.method", _method_name(req)),
    )


def _scheme_name(req: OutgoingRequest) -> str:
    # No scheme means https, as in wasmtime's implementation.
    return "http" if req.scheme is not None and req.scheme.name == "HTTP" else "https"


def _method_name(req: OutgoingRequest) -> str:
    return str(req.method.value) if req.method.name == "other" else req.method.name.upper()


def _request(req: OutgoingRequest, options: RequestOptions | None) -> Request:
    assert req.authority is not None
    opts = options or RequestOptions()
    return Request(
        _method_name(req),
        _scheme_name(req),
        req.authority,
        req.path_with_query or "/",
        opts.connect_ns,
        opts.first_byte_ns,
        opts.between_bytes_ns,
    )


def _url(req: OutgoingRequest) -> str:
    return f"{_scheme_name(req)}://{req.authority}{req.path_with_query or '/'}"


def _future_get_taken(session: Session, fut: FutureIncomingResponse) -> Some:
    return Some(Case("err"))  # the response was already taken


def _future_get_pending(session: Session, fut: FutureIncomingResponse) -> None:
    return None  # the request body is still being written


def future_get(sig: FuncSig) -> Callable[[Sequence[Any]], HostFunc]:
    """Choose how one ``future-incoming-response.get`` call runs (linking's router).

    The first call on a future whose request is complete is the exchange: journaled, so it
    is recorded and committed live and answered from the oplog on replay. Every other call
    (body still being written, response already taken) is bookkeeping."""
    error_ty = _error_code_type(sig.result)

    def choose(args: Sequence[Any]) -> HostFunc:
        fut: FutureIncomingResponse = args[0]
        if fut.outcome is not None:
            return HostFunc(_future_get_taken)
        body = fut.request.body
        if body is not None and not body.finished:
            return HostFunc(_future_get_pending)

        def live(session: Session, f: FutureIncomingResponse) -> Some:
            # The key's index: where this call's first attempt was (retries come first).
            first = session.next_index - len(http_retry.earlier_retries(session, sig.name))
            response, outcome = http_retry.with_retries(
                session,
                _method_name(f.request),
                _url(f.request),
                sig.name,
                lambda: _exchange(session, f, error_ty, sig.name, first),
            )
            if not session.persist_nothing:  # persist-nothing: sent again on replay
                session.record(response)
                session.flush()  # committed before the guest sees the response
            context.finish_host_span(session, f.span)  # the exchange is over
            return _deliver(f, outcome)

        def replay(session: Session, entry: Any, index: int) -> Some:
            assert isinstance(entry, HostCall)
            recorded = entry.request if isinstance(entry.request, dict) else {}
            called = f"{_method_name(fut.request)} {_url(fut.request)}"
            was = f"{recorded.get('method')} {recorded.get('url')}"
            if was != called:
                raise Divergence(str(session.agent), index, f"HTTP {was}", f"HTTP {called}")
            context.finish_host_span(session, fut.span)
            return _deliver(fut, rebuild(entry.response, error_ty))

        return HostFunc(live, Kind.JOURNALED, replay=replay, remote_write=True)

    return choose


def _deliver(fut: FutureIncomingResponse, outcome: Case) -> Some:
    fut.outcome = outcome
    return Some(Case("ok", outcome))


def _error_code_type(result: WitType | None) -> WitType:
    # option<result<result<incoming-response, error-code>>>
    assert isinstance(result, OptionT) and isinstance(result.payload, ResultT)
    inner = result.payload.ok
    assert isinstance(inner, ResultT) and inner.err is not None
    return inner.err


def rebuild(response: Any, error_ty: WitType) -> Case:
    """The guest-side outcome (``result<incoming-response, error-code>``) of a recorded
    response."""
    if "error" in response:
        return Case("err", from_json(response["error"], error_ty))
    headers = [(str(k), str(v).encode("latin-1")) for k, v in response["headers"]]
    recorded = response["body"]  # base64 text in entries recorded before the BLOB rows
    body = bytes(recorded[BYTES_KEY]) if isinstance(recorded, dict) else base64.b64decode(recorded)
    return ok(IncomingResponse(int(response["status"]), headers, body))


# -- the exchange ---------------------------------------------------------------------------------
def idempotency_key(session: Session, index: int) -> str:
    """The same for every attempt at the exchange recorded at ``index``; different for
    another agent, another exchange, or an agent re-created under the same name."""
    created = session.entries[0].timestamp if session.entries else 0
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"agent-host:{session.agent}/{created}/{index}"))


def _exchange(
    session: Session, fut: FutureIncomingResponse, error_ty: WitType, function: str, index: int
) -> tuple[HostCall, Case]:
    """Send the request and read the response; the oplog entry and the guest's outcome.
    ``index`` names the exchange in its Idempotency-Key (the same for every attempt)."""
    req = fut.request
    key = idempotency_key(session, index)
    headers = list(req.headers.entries)
    if not any(k == IDEMPOTENCY_HEADER for k, _ in headers):
        headers.append((IDEMPOTENCY_HEADER, key.encode()))
    # The invocation's trace context (golem:api/context), replacing the guest's own, as
    # Golem forwards it unless the guest called allow-forwarding-trace-context-headers(false).
    forwarded = context.forwarded_headers(session, fut.span)  # from the request's span
    if forwarded:
        names = {name for name, _ in forwarded}
        headers = [(k, v) for k, v in headers if k.lower() not in names]
        headers.extend((name, value.encode()) for name, value in forwarded)
    body = bytes(req.body.data) if req.body is not None else None
    described = {
        "method": _method_name(req),
        "url": _url(req),
        "headers": [
            [k, "<redacted>" if k in REDACTED_HEADERS else v.decode("latin-1")] for k, v in headers
        ],
        "body-bytes": len(body or b""),
        "body-sha256": hashlib.sha256(body or b"").hexdigest(),
        "idempotency-key": key,
    }
    limit = session.limits.max_payload_bytes
    try:
        status, resp_headers, data = send(_request(req, fut.options), headers, body, limit)
    except Failed as failed:
        log.info("agent %s: %s %s failed: %s", session.agent, *_target(req), failed.detail)
        if failed.code.name == "HTTP-request-denied" and session.on_output is not None:
            session.on_output("stderr", f"agent-host: {failed.detail}\n".encode())
        response = {"error": to_json(failed.code, error_ty), "detail": failed.detail}
        return HostCall(function, described, response), Case("err", failed.code)
    if data is not None:
        response = {
            "status": status,
            "headers": [[k, v.decode("latin-1")] for k, v in resp_headers],
            "body": bytes_to_json(data),  # a BLOB in the store
        }
        entry = HostCall(function, described, response)
        if entry_size(entry) <= limit:
            return entry, ok(IncomingResponse(status, resp_headers, data))
    code = Case("HTTP-response-body-size", None if data is None else Some(len(data)))
    detail = (
        f"the response to {described['method']} {described['url']} (status {status}) does "
        f"not fit in one oplog entry of at most {limit} bytes (limit max_payload_bytes)"
    )
    log.info("agent %s: %s", session.agent, detail)
    response = {"error": to_json(code, error_ty), "detail": detail}
    return HostCall(function, described, response), Case("err", code)


def _target(req: OutgoingRequest) -> tuple[str, str]:
    return _method_name(req), _url(req)


# -- the table ----------------------------------------------------------------------------------
T = "wasi:http/types"


def _options_get(attr: str) -> Callable[..., Some | None]:
    return lambda s, o: opt(getattr(o, attr))


def _options_set(attr: str) -> Callable[..., Case]:
    def set_(session: Session, o: RequestOptions, value: Some | None) -> Case:
        setattr(o, attr, None if value is None else int(value.value))  # type: ignore[arg-type]
        return Case("ok")

    return set_


FUNCS: dict[str, HostFunc] = {
    f"{T}.[constructor]fields": HostFunc(lambda s: Fields()),
    f"{T}.[static]fields.from-list": HostFunc(fields_from_list),
    f"{T}.[method]fields.get": HostFunc(fields_get),
    f"{T}.[method]fields.has": HostFunc(fields_has),
    f"{T}.[method]fields.set": HostFunc(fields_set),
    f"{T}.[method]fields.delete": HostFunc(fields_delete),
    f"{T}.[method]fields.append": HostFunc(fields_append),
    f"{T}.[method]fields.entries": HostFunc(lambda s, f: list(f.entries)),
    f"{T}.[method]fields.clone": HostFunc(lambda s, f: Fields(list(f.entries))),
    f"{T}.[constructor]outgoing-request": HostFunc(new_request),
    f"{T}.[method]outgoing-request.body": HostFunc(request_body),
    f"{T}.[method]outgoing-request.method": HostFunc(lambda s, r: r.method),
    f"{T}.[method]outgoing-request.set-method": HostFunc(set_method),
    f"{T}.[method]outgoing-request.path-with-query": HostFunc(lambda s, r: opt(r.path_with_query)),
    f"{T}.[method]outgoing-request.set-path-with-query": HostFunc(set_path),
    f"{T}.[method]outgoing-request.scheme": HostFunc(lambda s, r: opt(r.scheme)),
    f"{T}.[method]outgoing-request.set-scheme": HostFunc(set_scheme),
    f"{T}.[method]outgoing-request.authority": HostFunc(lambda s, r: opt(r.authority)),
    f"{T}.[method]outgoing-request.set-authority": HostFunc(set_authority),
    # A child view of the request's own headers (mutable, as wasmtime's).
    f"{T}.[method]outgoing-request.headers": HostFunc(lambda s, r: Fields(r.headers.entries)),
    f"{T}.[constructor]request-options": HostFunc(lambda s: RequestOptions()),
    f"{T}.[method]request-options.connect-timeout": HostFunc(_options_get("connect_ns")),
    f"{T}.[method]request-options.set-connect-timeout": HostFunc(_options_set("connect_ns")),
    f"{T}.[method]request-options.first-byte-timeout": HostFunc(_options_get("first_byte_ns")),
    f"{T}.[method]request-options.set-first-byte-timeout": HostFunc(_options_set("first_byte_ns")),
    f"{T}.[method]request-options.between-bytes-timeout": HostFunc(
        _options_get("between_bytes_ns")
    ),
    f"{T}.[method]request-options.set-between-bytes-timeout": HostFunc(
        _options_set("between_bytes_ns")
    ),
    f"{T}.[method]outgoing-body.write": HostFunc(_body_write),
    f"{T}.[static]outgoing-body.finish": HostFunc(_body_finish),
    f"{T}.[method]future-incoming-response.subscribe": HostFunc(_ready),
    f"{T}.[method]incoming-response.status": HostFunc(lambda s, r: r.status),
    f"{T}.[method]incoming-response.headers": HostFunc(
        lambda s, r: Fields(list(r.headers), mutable=False)
    ),
    f"{T}.[method]incoming-response.consume": HostFunc(_consume),
    f"{T}.[method]incoming-body.stream": HostFunc(_incoming_stream),
    f"{T}.[static]incoming-body.finish": HostFunc(lambda s, b: FutureTrailers()),
    f"{T}.[method]future-trailers.subscribe": HostFunc(_ready),
    f"{T}.[method]future-trailers.get": HostFunc(lambda s, t: Some(Case("ok", Case("ok", None)))),
    f"{T}.http-error-code": HostFunc(lambda s, e: None),
    "wasi:http/outgoing-handler.handle": HostFunc(_handle),
}

# Functions whose way of running depends on the object they are called on: linking routes
# each call to the HostFunc the chooser picks (see linking._routed).
ROUTERS: dict[str, Callable[[FuncSig], Callable[[Sequence[Any]], HostFunc]]] = {
    f"{T}.[method]future-incoming-response.get": future_get,
}


def stream_router(key: str, stdio: HostFunc | None) -> Callable[[Sequence[Any]], HostFunc] | None:
    """For a ``wasi:io/streams`` method: body streams run here, stdio streams in wasi.py."""
    mine = STREAM_FUNCS.get(key)
    if mine is None:
        return None
    fallback = stdio if stdio is not None else HostFunc(_splice_refused)

    def choose(args: Sequence[Any]) -> HostFunc:
        return mine if owns(args[0]) else fallback

    choose.by_type = True  # type: ignore[attr-defined]  # owns() reads only the type
    return choose


__all__ = ["FAMILY", "FUNCS", "ROUTERS", "owns", "stream_router"]
