"""Scheduled invocations: ``wasm-rpc.schedule-invocation`` and
``schedule-cancelable-invocation`` (golem:agent/host@1.5.0, and golem:rpc/types@0.2.2
for Golem 1.4 agents), with ``cancellation-token.cancel``.

Scheduling stores the callee's invocation (host/store/schedules.py) under the key
``rpc-at:<caller component>:<i>:<caller name>``, where ``i`` is the index of the HostCall
entry that records the call in the caller's oplog; that entry is committed before the
guest goes on. Replay answers from the entry and stores nothing; a crash between
storing and committing stores nothing twice (the same index gives the same key). At the
time, the scheduler's scan enqueues it (``fire_due_schedules``), with the same key as
the callee invocation's idempotency key, and the scheduler's trace context (the
caller's trace, its current span the parent, as Golem schedules the caller's invocation
context). That context is stored with the call, so a call stored by an attempt that
crashed before its entry committed keeps it too; the entry's response holds it as well
(``traceparent``, ``tracestate``), which is where a call stored before the schedule rows
had trace columns finds it.

``cancel`` is recorded too (replay does not cancel again, though doing so would be
harmless): it removes a call still waiting; once the call was enqueued it does nothing,
as in Golem. The token is a host resource holding the key, rebuilt from the recorded
entry on replay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from host.oplog import HostCall
from host.runtime import context
from host.runtime.agent_rpc import RpcFailure, Target
from host.runtime.session import HostFunc, Kind, Session
from host.tracecontext import TraceContext

SCHEDULE_PREFIX = "rpc-at:"
# A datetime beyond this (year 2200) is refused: the nanosecond count must fit in i64.
MAX_SECONDS = 7_258_118_400


@dataclass(frozen=True)
class CancellationToken:
    """A ``cancellation-token``: the key of the scheduled call it cancels."""

    key: str


def _due_ns(at: Any) -> int:
    seconds, nanos = int(at["seconds"]), int(at["nanoseconds"])
    if seconds > MAX_SECONDS:
        from host.runtime.golem import GuestError

        raise GuestError(f"schedule-invocation: the time {seconds} s is too far in the future")
    return seconds * 1_000_000_000 + nanos


def _schedule(sig_name: str, cancelable: bool) -> HostFunc:
    def impl(session: Session, target: Target, at: Any, method: str, input: Any) -> Any:
        session.skip_markers()
        if session.replaying:
            entry = session.next_recorded(sig_name)
            assert isinstance(entry, HostCall)
            key = (entry.response or {}).get("key", "")
        else:
            # The caller's entries before the call committed first: the callee inherits
            # the spans they hold (host/runtime/inherited_context.py).
            session.flush()
            # The scheduler's trace context, as Golem's scheduled invocation carries its
            # invocation context: the callee's parent is the current span (no rpc spans).
            trace = context.passed_on(session)
            key = _store(session, target, at, method, input, trace)
            response = {"key": key, "traceparent": trace.traceparent}
            if trace.tracestate:
                response["tracestate"] = trace.tracestate
            session.record(HostCall(sig_name, [method, at["seconds"], at["nanoseconds"]], response))
            session.flush()  # committed before the guest goes on (module docstring)
        return CancellationToken(key) if cancelable else None

    return HostFunc(impl, Kind.PURE)  # records its own entry


def _store(
    session: Session, target: Target, at: Any, method: str, input: Any, trace: TraceContext
) -> str:
    from host.runtime.golem import GuestError

    agent = session.agent
    key = f"{SCHEDULE_PREFIX}{agent.component_id}:{session.next_index}:{agent.name}"
    calls = session.agent_calls
    if calls is None:
        raise GuestError("schedule-invocation needs an agent of this host")
    try:
        calls.schedule_call(agent, target, method, input, key, _due_ns(at), trace)
    except RpcFailure as failure:
        # The function returns nothing, so the guest cannot be told: fail its call.
        raise GuestError(f"schedule-invocation of {method}: {failure.case}: {failure}") from None
    return key


def _cancel(sig_name: str) -> HostFunc:
    def impl(session: Session, token: CancellationToken) -> None:
        session.skip_markers()
        if session.replaying:
            session.next_recorded(sig_name)
            return
        calls = session.agent_calls
        cancelled = bool(calls is not None and calls.cancel_scheduled(token.key))
        session.record(HostCall(sig_name, [token.key], {"cancelled": cancelled}))

    return HostFunc(impl, Kind.PURE)


FUNCS: dict[str, Callable[[Any], HostFunc]] = {
    "[method]wasm-rpc.schedule-invocation": lambda sig: _schedule(sig.name, False),
    "[method]wasm-rpc.schedule-cancelable-invocation": lambda sig: _schedule(sig.name, True),
    "[method]cancellation-token.cancel": lambda sig: _cancel(sig.name),
}

__all__ = ["FUNCS", "SCHEDULE_PREFIX", "CancellationToken"]
