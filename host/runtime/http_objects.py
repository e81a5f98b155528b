"""The host objects behind ``wasi:http/types`` resources for :mod:`host.runtime.wasi_http`:
plain Python values, buffered in memory, none of them recorded (replay rebuilds them by
running the guest's code again)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from host.values import Case


class Fields:
    """``fields`` (headers, trailers). Children (``outgoing-request.headers``) share the list."""

    def __init__(self, entries: list[tuple[str, bytes]] | None = None, mutable: bool = True):
        self.entries: list[tuple[str, bytes]] = entries if entries is not None else []
        self.mutable = mutable


@dataclass
class RequestOptions:
    connect_ns: int | None = None
    first_byte_ns: int | None = None
    between_bytes_ns: int | None = None


@dataclass
class OutgoingBody:
    data: bytearray = field(default_factory=bytearray)
    stream_taken: bool = False
    finished: bool = False


@dataclass
class OutgoingRequest:
    headers: Fields
    method: Case = field(default_factory=lambda: Case("get"))
    path_with_query: str | None = None
    scheme: Case | None = None
    authority: str | None = None
    body: OutgoingBody | None = None


@dataclass
class BodyOutputStream:
    """The ``output-stream`` of an ``outgoing-body``: writes collect into the body."""

    body: OutgoingBody


@dataclass
class IncomingResponse:
    status: int
    headers: list[tuple[str, bytes]]
    body: bytes
    consumed: bool = False


@dataclass
class IncomingBody:
    data: bytes
    stream_taken: bool = False


@dataclass
class BodyInputStream:
    """The ``input-stream`` of an ``incoming-body``: reads the buffered response body."""

    data: bytes
    pos: int = 0


class FutureTrailers:
    pass


@dataclass
class FutureIncomingResponse:
    request: OutgoingRequest
    options: RequestOptions | None
    # After the exchange: result<incoming-response, error-code> as a host value.
    outcome: Case | None = None
    # The request's own span (golem:api/context; None: none, the oplog predates them),
    # started at handle and finished once the exchange is over or the future dropped.
    span: Any = None

    def on_drop(self, session: Any) -> None:
        """A future dropped before its exchange: its request's span ends (as Golem ends
        it when the future is dropped)."""
        if self.outcome is None and self.span is not None and not self.span.finished:
            from host.runtime.context import finish_host_span

            finish_host_span(session, self.span)


def owns(obj: Any) -> bool:
    """Whether a stream object is an HTTP body stream (implemented here, not in wasi.py)."""
    return isinstance(obj, BodyOutputStream | BodyInputStream)
