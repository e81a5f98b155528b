"""golem:api/context@1.5.0: spans and the invocation context.

Every invocation has an invocation context: a trace id and a root span (the
invocation's own), both functions of the invocation id (the trace id is its 32 hex
digits, the root span id the first 16 hex digits of its SHA-256), so a replay of the
invocation has the same ones without recording them. The guest's spans are recorded as
Golem records them (its executor's InvocationContextManagement, read for facts):
``start-span`` appends a :class:`~host.oplog.StartSpan` holding the new span's id (random,
16 hex digits) and parent, and makes it the current span; ``set-attribute`` a
:class:`~host.oplog.SetSpanAttribute`; ``finish`` (or dropping an unfinished span) a
:class:`~host.oplog.FinishSpan`, and the current span goes back to its parent. Replay
takes each from the oplog instead (a different entry there is a Divergence), so span ids
and start times are the recorded ones.

``current-context`` answers the current span: its trace id, span id, parent,
attributes (its own, or ``inherited`` from its ancestors too: the nearest value of each
key), the attribute chains (every value of a key, nearest first) and the W3C trace
context headers (``traceparent: 00-<trace id>-<span id>-00``, and the ``tracestate`` the
invocation's request carried, as Golem's ``TraceContextHeaders``). ``allow-forwarding-
trace-context-headers`` sets whether outgoing wasi:http requests carry those headers (on
by default, as in Golem) and answers the previous setting.

An invocation another agent made inherits that agent's spans (its root span's parent is
the caller's rpc-invocation span, with its ancestors and attributes:
host/runtime/inherited_context.py); the host's own spans around outgoing HTTP requests
and agent-to-agent calls (host/runtime/rpc_spans.py) are :func:`start_host_span`'s.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from host.errors import Divergence
from host.oplog import FinishSpan, SetSpanAttribute, StartSpan, describe
from host.runtime.inherited_context import inherited_span, root_span_id
from host.runtime.session import HostFunc, Session
from host.tracecontext import TraceContext, invocation_trace_id, outgoing, parse_traceparent
from host.values import Case, Some


@dataclass(eq=False)
class Span:
    span_id: str
    parent: Span | None
    start_ns: int
    attributes: dict[str, str] = field(default_factory=dict)
    finished: bool = False


@dataclass(eq=False)
class Trace:
    """One invocation's context: its trace id, root span and the guest's spans."""

    invocation_id: str
    trace_id: str
    root: Span
    current: Span
    tracestate: str | None = None  # the W3C one of the invocation's request, kept as is


@dataclass(eq=False)
class SpanHandle:
    """The span resource: a span the guest started."""

    span: Span

    def on_drop(self, session: Session) -> None:
        """Dropping an unfinished span finishes it (Golem's span drop)."""
        if not self.span.finished:
            _finish(session, self.span)


@dataclass(eq=False)
class ContextHandle:
    """The invocation-context resource: a span of a trace, as current-context saw it."""

    trace_id: str
    span: Span
    tracestate: str | None = None

    def headers(self) -> list[tuple[str, str]]:
        return outgoing(self.trace_id, self.span.span_id, self.tracestate)


def trace_of(session: Session) -> Trace:
    """The running invocation's context (made on first use in each invocation). Its
    trace id is the one of the traceparent its request carried (the caller's span the
    root span's parent: an agent's, with its ancestors and attributes, when the
    invocation is a call from another agent), else the invocation id's digits."""
    invocation = session.invocation_id or ""
    trace: Trace | None = session.trace
    if trace is None or trace.invocation_id != invocation:
        start = session.invocation_started_ns or time.time_ns()
        span_id = root_span_id(invocation)
        incoming = parse_traceparent(session.invocation_traceparent)
        trace_id = invocation_trace_id(invocation, session.invocation_traceparent)
        caller = None
        if incoming is not None:
            # A callee inherits its caller's spans, attributes included, as in Golem.
            caller = inherited_span(session.store, session.invocation_key, incoming[1])
            caller = caller or Span(incoming[1], None, start)
        root = Span(span_id, caller, start)
        # Golem keeps the request's trace states only beside a valid traceparent.
        tracestate = session.invocation_tracestate if incoming is not None else None
        trace = Trace(invocation, trace_id, root, root, tracestate)
        session.trace = trace
    return trace


def forwarded_headers(session: Session, span: Span | None = None) -> list[tuple[str, str]]:
    """The trace context headers an outgoing request made from ``span`` (by default
    the current one) carries; none if the guest turned forwarding off."""
    if not session.forward_trace_headers:
        return []
    trace = trace_of(session)
    return outgoing(trace.trace_id, (span or trace.current).span_id, trace.tracestate)


def passed_on(session: Session, span: Span | None = None) -> TraceContext:
    """The trace context a call to another agent carries, as Golem's wasm-rpc passes the
    caller's invocation context: the callee's invocation has the caller's trace id (and
    tracestate), its root span's parent ``span`` (by default the current one). Passed
    whatever allow-forwarding-trace-context-headers says (that is for HTTP headers)."""
    trace = trace_of(session)
    at = span or trace.current
    return TraceContext(f"00-{trace.trace_id}-{at.span_id}-00", trace.tracestate)


def start_host_span(
    session: Session, attributes: tuple[tuple[str, str], ...], parent: Span | None = None
) -> Span | None:
    """A span the host starts under ``parent`` (by default the current span) without
    making it current (Golem's ``start_span(.., activate: false)`` and
    ``start_child_span``: its outgoing HTTP request, rpc-connection and rpc-invocation
    spans), recorded as a StartSpan and taken from the oplog on replay.

    None when replaying an oplog recorded before the host started such spans (the entry
    at the cursor is not this span's start): nothing is taken, the call goes on as it was
    recorded then (from the current span)."""
    parent = parent or trace_of(session).current
    session.skip_markers()
    if session.replaying:
        entry = session.entries[session.cursor]
        if not (
            isinstance(entry, StartSpan)
            and entry.parent == parent.span_id
            and entry.attributes == attributes
        ):
            return None
        session.cursor += 1
    else:
        entry = StartSpan(secrets.token_hex(8), parent.span_id, attributes)
        if not session.scratch:
            session.record(entry)
    span = Span(entry.span_id, parent, entry.timestamp, dict(attributes))
    return span


def finish_host_span(session: Session, span: Span | None) -> None:
    """Finish a span of :func:`start_host_span` (recorded once; None: nothing)."""
    if span is not None:
        _finish(session, span)


def _diverged(session: Session, entry: Any, called: str) -> Divergence:
    return Divergence(str(session.agent), session.cursor, describe(entry), called)


def _start_span(session: Session, name: str) -> SpanHandle:
    trace = trace_of(session)
    parent = trace.current
    attributes = (("name", name),)
    session.skip_markers()
    if session.replaying:
        entry = session._take(StartSpan, f"start-span({name!r})")
        if entry.parent != parent.span_id or entry.attributes != attributes:
            raise _diverged(session, entry, f"start-span({name!r}) under {parent.span_id}")
        span = Span(entry.span_id, parent, entry.timestamp)
    else:
        entry = StartSpan(secrets.token_hex(8), parent.span_id, attributes)
        if not session.scratch:  # reading a component's definition records nothing
            session.record(entry)
        span = Span(entry.span_id, parent, entry.timestamp)
    span.attributes.update(attributes)
    trace.current = span
    return SpanHandle(span)


def _set_attribute(session: Session, span: Span, key: str, value: str) -> None:
    if span.finished:
        return  # Golem ignores attributes of a finished span
    session.skip_markers()
    if session.replaying:
        entry = session._take(SetSpanAttribute, f"span.set-attribute({key!r})")
        if (entry.span_id, entry.key, entry.value) != (span.span_id, key, value):
            raise _diverged(session, entry, f"span {span.span_id} set-attribute({key!r})")
    elif not session.scratch:
        session.record(SetSpanAttribute(span.span_id, key, value))
    span.attributes[key] = value


def _set_attributes(session: Session, handle: SpanHandle, attributes: list[Any]) -> None:
    for attribute in attributes:
        _set_attribute(session, handle.span, attribute["key"], attribute["value"].value)


def _finish(session: Session, span: Span) -> None:
    if span.finished:
        return
    session.skip_markers()
    if session.replaying:
        entry = session._take(FinishSpan, f"span {span.span_id} finish")
        if entry.span_id != span.span_id:
            raise _diverged(session, entry, f"span {span.span_id} finish")
    elif not session.scratch:
        session.record(FinishSpan(span.span_id))
    span.finished = True
    trace = trace_of(session)
    if trace.current is span:
        trace.current = span.parent or trace.root


def _datetime(ns: int) -> dict[str, int]:
    return {"seconds": ns // 10**9, "nanoseconds": ns % 10**9}


def _attr(value: str) -> Case:
    return Case("string", value)


def _chain(span: Span) -> list[Span]:
    chain: list[Span] = []
    at: Span | None = span
    while at is not None:
        chain.append(at)
        at = at.parent
    return chain


def _get_attribute(session: Session, ctx: ContextHandle, key: str, inherited: bool) -> Any:
    for span in _chain(ctx.span) if inherited else [ctx.span]:
        if key in span.attributes:
            return Some(_attr(span.attributes[key]))
    return None


def _get_attributes(session: Session, ctx: ContextHandle, inherited: bool) -> list[Any]:
    seen: dict[str, str] = {}
    for span in _chain(ctx.span) if inherited else [ctx.span]:
        for key, value in span.attributes.items():
            seen.setdefault(key, value)
    return [{"key": k, "value": _attr(v)} for k, v in seen.items()]


def _attribute_chain(session: Session, ctx: ContextHandle, key: str) -> list[Any]:
    return [_attr(s.attributes[key]) for s in _chain(ctx.span) if key in s.attributes]


def _attribute_chains(session: Session, ctx: ContextHandle) -> list[Any]:
    keys: dict[str, list[Any]] = {}
    for span in _chain(ctx.span):
        for key, value in span.attributes.items():
            keys.setdefault(key, []).append(_attr(value))
    return [{"key": k, "values": v} for k, v in keys.items()]


def _current_context(session: Session) -> ContextHandle:
    trace = trace_of(session)
    return ContextHandle(trace.trace_id, trace.current, trace.tracestate)


def _parent(session: Session, ctx: ContextHandle) -> Some | None:
    parent = ctx.span.parent
    # A host object inside the option: the linker turns it into a handle the guest owns.
    if parent is None:
        return None
    return Some(ContextHandle(ctx.trace_id, parent, ctx.tracestate))  # type: ignore[arg-type]


def _allow_forwarding(session: Session, allow: bool) -> bool:
    before = session.forward_trace_headers
    session.forward_trace_headers = allow
    return before


FUNCS: dict[str, HostFunc] = {
    "start-span": HostFunc(_start_span),
    "current-context": HostFunc(_current_context),
    "allow-forwarding-trace-context-headers": HostFunc(_allow_forwarding),
    "[method]span.started-at": HostFunc(lambda s, h: _datetime(h.span.start_ns)),
    "[method]span.set-attribute": HostFunc(
        lambda s, h, key, value: _set_attribute(s, h.span, key, value.value)
    ),
    "[method]span.set-attributes": HostFunc(_set_attributes),
    "[method]span.finish": HostFunc(lambda s, h: _finish(s, h.span)),
    "[method]invocation-context.trace-id": HostFunc(lambda s, c: c.trace_id),
    "[method]invocation-context.span-id": HostFunc(lambda s, c: c.span.span_id),
    "[method]invocation-context.parent": HostFunc(_parent),
    "[method]invocation-context.get-attribute": HostFunc(_get_attribute),
    "[method]invocation-context.get-attributes": HostFunc(_get_attributes),
    "[method]invocation-context.get-attribute-chain": HostFunc(_attribute_chain),
    "[method]invocation-context.get-attribute-chains": HostFunc(_attribute_chains),
    "[method]invocation-context.trace-context-headers": HostFunc(lambda s, c: c.headers()),
}


def provided(func: str, sig: Any) -> HostFunc | None:
    """golem:api/context's ``func``, or None for a name it does not declare."""
    return FUNCS.get(func)
