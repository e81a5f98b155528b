"""Golem's spans around an agent-to-agent call (its executor's wasm_rpc, read for facts).

Constructing a ``wasm-rpc`` resource starts an ``rpc-connection`` span under the current
span (attributes ``name``, ``target_agent_id``), not made current; dropping the
resource finishes it. Each call through it (``invoke-and-await``, ``invoke``,
``async-invoke-and-await``) starts an ``rpc-invocation`` span, a child of the
connection span (``name``, ``function_name``, ``idempotency_key``), and the callee's
invocation is a child of that span: the trace context passed on names it as the parent.
An awaited call finishes it once its result is recorded, a sent one right after the
send, a future's when the future is dropped (Golem also finishes it when ``get``
answers; here ``get`` is a journaled read, and an entry in front of it would not
replay).

Both are host spans of host/runtime/context.py: StartSpan / FinishSpan entries, the ids
taken from the oplog on replay. An oplog recorded before these spans has no StartSpan
where one would go: none is taken (the span is None), the call replays as recorded and a
live call then goes on from the current span, as it did.

The ``idempotency_key`` attribute is the callee invocation's key, which names the
index of the caller's entry after the span's StartSpan (the call's promise, or the
HostCall of a sent call): :func:`next_entry_index` predicts it before the span starts.
"""

from __future__ import annotations

from host.runtime import context
from host.runtime.context import Span
from host.runtime.session import Session

CONNECTION = "rpc-connection"
INVOCATION = "rpc-invocation"


def start_connection(session: Session, target_agent_id: str) -> Span | None:
    """The span of a new ``wasm-rpc`` resource (None: an older oplog has none)."""
    return context.start_host_span(
        session, (("name", CONNECTION), ("target_agent_id", target_agent_id))
    )


def next_entry_index(session: Session) -> int:
    """The oplog index the entry right after a span's StartSpan gets (live or replaying:
    the cursor's index is the StartSpan's)."""
    session.skip_markers()
    return session.index_of_cursor() + 1


def start_invocation(
    session: Session, connection: Span | None, method: str, key: str
) -> Span | None:
    """The span of one call through a ``wasm-rpc`` resource, a child of its connection
    span (of the current span if the connection has none)."""
    attributes = (("name", INVOCATION), ("function_name", method), ("idempotency_key", key))
    return context.start_host_span(session, attributes, connection)


def finish(session: Session, span: Span | None) -> None:
    context.finish_host_span(session, span)
