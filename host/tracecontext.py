"""W3C trace context (``traceparent`` and ``tracestate``) as a request carries it.

Golem keeps both with an invocation (its ``InvocationContextStack`` holds the trace id
and ``trace_states``, one string per list member), reads them from a request's headers
(several ``tracestate`` headers are one list, in order) and writes them back on
outgoing requests: ``traceparent`` always, ``tracestate`` (the members joined by ``,``)
when there are any. An invalid ``traceparent`` is ignored (W3C trace context: start a
new trace), and so is every ``tracestate`` then, as Golem reads the states only beside a
valid parent. Golem does not check the members; this host drops a ``tracestate`` that
is not a W3C list (it would be forwarded verbatim onto other requests) instead of
refusing the request: a malformed header never fails an invocation.

Pure values, no wasm: the service, the store and the runtime share them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# list-member = key "=" value (W3C trace context, section 3.3.1.3); keys are lower case.
_KEY = r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_MEMBER = re.compile(f"^{_KEY}={_VALUE}$")
MAX_MEMBERS = 32  # W3C: "a maximum of 32 list-members"


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """(trace id, parent span id) of a W3C ``traceparent`` header (version 00), or None
    for none or an invalid one (which W3C trace context says to ignore)."""
    found = _TRACEPARENT.match((value or "").strip().lower())
    if found is None or set(found[1]) == {"0"} or set(found[2]) == {"0"}:
        return None
    return found[1], found[2]


def parse_tracestate(values: str | Sequence[str] | None) -> str | None:
    """The ``tracestate`` to keep: the list members of every header value in order,
    joined by ``,``; None for none (empty members are allowed and dropped) or for a list
    that is not a W3C one (a member without ``key=value``, too many members)."""
    if values is None:
        return None
    members = [
        member.strip()
        for value in ([values] if isinstance(values, str) else values)
        for member in value.split(",")
        if member.strip()
    ]
    if not members or len(members) > MAX_MEMBERS:
        return None
    if not all(_MEMBER.match(m) for m in members):
        return None
    return ",".join(members)


@dataclass(frozen=True)
class TraceContext:
    """A valid W3C trace context: the ``traceparent`` (lower case) and the
    ``tracestate`` that came with it, if any."""

    traceparent: str
    tracestate: str | None = None

    @property
    def trace_id(self) -> str:
        return self.traceparent.split("-")[1]

    @property
    def parent_id(self) -> str:
        return self.traceparent.split("-")[2]

    def headers(self) -> list[tuple[str, str]]:
        """The headers that carry it, as Golem writes them."""
        out = [("traceparent", self.traceparent)]
        if self.tracestate:
            out.append(("tracestate", self.tracestate))
        return out


def trace_context(
    traceparent: str | None, tracestate: str | Sequence[str] | None = None
) -> TraceContext | None:
    """The trace context of a request's headers, or None when its traceparent is
    missing or invalid (its tracestate is then ignored too)."""
    if traceparent is None or parse_traceparent(traceparent) is None:
        return None
    return TraceContext(traceparent.strip().lower(), parse_tracestate(tracestate))


def invocation_trace_id(invocation_id: str, traceparent: str | None) -> str:
    """An invocation's trace id: its request's (a valid traceparent), else the invocation
    id's 32 hex digits, so a replay has the same one without recording it."""
    incoming = parse_traceparent(traceparent)
    if incoming is not None:
        return incoming[0]
    digits = invocation_id.replace("-", "").lower()
    return digits if len(digits) == 32 else hashlib.sha256(digits.encode()).hexdigest()[:32]


def trace_states(tracestate: str | None) -> list[str]:
    """The list members of a kept tracestate, one string each (Golem's ``trace_states``)."""
    return tracestate.split(",") if tracestate else []


def outgoing(trace_id: str, span_id: str, tracestate: str | None) -> list[tuple[str, str]]:
    """The trace context headers of a request made from span ``span_id`` (flags 00, as
    Golem's ``TraceContextHeaders::from_invocation_context``)."""
    return TraceContext(f"00-{trace_id}-{span_id}-00", tracestate).headers()
