"""The caller's spans a callee inherits (golem:api/context across an agent-to-agent call).

Golem's wasm-rpc hands the callee the caller's invocation context stack: every span from
the one the call is made under (its rpc-invocation span) up to the caller's root and
beyond, each marked inherited, with its attributes (golem-common's
``clone_as_inherited_stack`` / ``as_inherited``, read for facts). So in the callee
``get-attribute(key, inherited: true)``, the attribute chains and ``parent`` reach the
caller's spans.

Only the caller's trace context (its traceparent and tracestate) is stored with the
callee's invocation. The rest is in the caller's oplog, which the callee reads: the
callee's idempotency key names the caller and the oplog index of the caller's entry the
call is recorded at (``rpc:``/``rpc-send:`` keys, host/runtime/agent_rpc.py), and the
entries before it hold the caller's spans at the time of the call: the invocation's
root (a function of its invocation id, its parent the caller's own traceparent),
StartSpan and SetSpanAttribute entries. Those are committed before the callee's
invocation is queued and never change, so a replay of the callee rebuilds the same
chain. The span the callee's traceparent names is looked up there; when the key is not
such a key, or the span is not in that part of the caller's oplog (an older caller
oplog, a caller deleted since), the callee gets the bare parent span id as before.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING

from host.errors import HostError
from host.ids import AgentId
from host.oplog import InvocationStarted, SetSpanAttribute, StartSpan
from host.tracecontext import parse_traceparent

if TYPE_CHECKING:
    from host.runtime.context import Span
    from host.store.base import Store

_KINDS = ("invocation-started", "start-span", "set-span-attribute")
# Keys of calls made through wasm-rpc: <prefix><caller component>:<index>:<caller name>.
_CALL_PREFIXES = ("rpc:", "rpc-send:", "rpc-at:")


def root_span_id(invocation_id: str) -> str:
    """The span id of an invocation's own (root) span: 16 hex digits of a hash of its
    invocation id, so a replay has it without recording it."""
    return hashlib.sha256(f"span:{invocation_id}".encode()).hexdigest()[:16]


def caller_of(key: str | None) -> tuple[AgentId, int] | None:
    """(caller, oplog index of the caller's entry that made the call) of a callee's
    idempotency key, or None for another key."""
    for prefix in _CALL_PREFIXES:
        if key and key.startswith(prefix):
            try:
                component, index, name = key[len(prefix) :].split(":", 2)
                return AgentId(uuid.UUID(component), name), int(index)
            except ValueError:
                return None
    return None


def inherited_span(store: Store, key: str | None, span_id: str) -> Span | None:
    """The caller's span ``span_id`` as it was when the call under ``key`` was made,
    with its ancestors and their attributes; None if the caller's oplog has no such
    span before the call."""
    from host.runtime.context import Span  # context imports this module

    located = caller_of(key)
    if located is None:
        return None
    caller, call_index = located
    try:
        rows = store.read_oplog_kinds(caller, _KINDS)
    except HostError:
        return None
    spans: dict[str, Span] = {}
    for index, entry in rows:
        if index >= call_index:
            break
        if isinstance(entry, InvocationStarted):
            spans = {}  # the call was made in the latest invocation before it
            incoming = parse_traceparent(entry.traceparent)
            outer = None if incoming is None else Span(incoming[1], None, entry.timestamp)
            root = root_span_id(entry.invocation_id)
            spans[root] = Span(root, outer, entry.timestamp)
        elif isinstance(entry, StartSpan):
            parent = spans.get(entry.parent)
            spans[entry.span_id] = Span(entry.span_id, parent, entry.timestamp)
            spans[entry.span_id].attributes.update(entry.attributes)
        elif isinstance(entry, SetSpanAttribute) and entry.span_id in spans:
            spans[entry.span_id].attributes[entry.key] = entry.value
    return spans.get(span_id)
