"""Agent-to-agent calls: the ``wasm-rpc`` resource of ``golem:agent/host@1.5.0``.

A caller names the callee by agent type and constructor value; the host finds the type
among the registered components, creates the callee on first use and queues its
``invoke`` in the same host (:class:`AgentCalls`, served by the service layer). What the
caller's oplog holds, and why replay never calls twice:

* an awaited call (``invoke-and-await``, ``async-invoke-and-await``) first starts its
  rpc-invocation span (a StartSpan, host/runtime/rpc_spans.py) and creates a promise of
  the caller's own (a PromiseCreated entry named after the function, at index ``p``),
  both committed together, then queues the callee's invocation under the idempotency key
  ``rpc:<caller component>:<p>:<caller name>``. When that invocation ends the executor
  completes promise ``p`` with its outcome (:func:`invocation_ended`), which wakes the
  caller if it suspended on it. The result the guest sees is a HostCall entry after
  it. A caller that replays (after its own suspension or a crash) meets the same
  PromiseCreated, so it awaits the same promise: it queues again only when the promise
  is still open, and then the key finds the invocation already queued;
* a fire-and-forget ``invoke`` is one HostCall entry (after its span's StartSpan, which
  is committed before the callee is queued), committed before the guest goes on; its
  key ``rpc-send:<caller component>:<i>:<caller name>`` uses the index ``i`` that entry
  gets, so a crash between queueing and committing queues nothing twice.

A caller awaiting a callee that suspends (on a promise) suspends too, on promise ``p``,
and is woken when the callee's invocation finishes. An agent cannot await itself (its
queue is blocked by the awaiting call): that is a ``denied`` rpc-error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from host.agents.wittype import wit_value_from_value
from host.errors import HostError
from host.ids import AgentId, PromiseId
from host.oplog import (
    HostCall,
    InvocationFailed,
    InvocationFinished,
    InvocationStarted,
    PromiseCreated,
)
from host.runtime import context, rpc_spans
from host.runtime import pollables as pl
from host.runtime.context import Span
from host.runtime.session import HostFunc, Kind, Session, Suspend
from host.store.base import Store
from host.tracecontext import TraceContext
from host.values import Case, Some, from_json, parse_value, to_json
from host.values.types import STRING, FuncSig, RecordT, TupleT, Value, WitType

AWAIT_PREFIX = "rpc:"
SEND_PREFIX = "rpc-send:"


class RpcFailure(HostError):
    """A call could not be made: ``case`` is the rpc-error case (``not-found``,
    ``denied``, ``protocol-error``, ``remote-internal-error``)."""

    def __init__(self, case: str, message: str) -> None:
        super().__init__(message)
        self.case = case


class AgentCalls(Protocol):
    """What the runtime needs of the service layer to call another agent."""

    def enqueue_agent_call(
        self,
        caller: AgentId,
        target: RpcTarget,
        method: str,
        input: Value,
        key: str,
        awaiting: bool,
        trace: TraceContext | None = None,
    ) -> AgentId:
        """Create the callee on first use, queue its ``invoke`` (principal: the caller;
        trace context: ``trace``, the caller's) under ``key`` (an existing one with that
        key is kept) and wake it; RpcFailure for an unknown type, a failed callee or an
        agent awaiting itself."""

    def enqueue_worker_call(
        self,
        caller: AgentId,
        callee: AgentId,
        function: str,
        params: list[Value],
        key: str,
        awaiting: bool,
        trace: TraceContext | None = None,
    ) -> AgentId:
        """golem:rpc 0.2.2: queue ``function`` (an export name) of agent ``callee`` with
        these wit-values (typed by the export's parameters), as enqueue_agent_call."""

    def rpc_target_id(self, target: RpcTarget) -> str:
        """The id of the agent ``target`` names (``<component id>/<agent id>``), for the
        rpc-connection span; the agent type's name if it names none."""

    def callee_result_type(self, component_hash: str, function: str) -> WitType | None:
        """The result type of ``function`` of the callee's component version
        (``result<data-value, agent-error>``)."""

    def agent_method_outcome(
        self, component_hash: str, agent_name: str, method: str, result: Case
    ) -> Case:
        """golem:rpc 0.2.2: the answer to a ``<type>.{<method>}`` call to an agent."""


@dataclass(frozen=True)
class RpcTarget:
    """A ``wasm-rpc`` resource: which agent it calls."""

    agent_type: str
    constructor: Value
    phantom: Value  # option<uuid> as given: None or Some({high-bits, low-bits})
    config: Value = ()  # list<typed-agent-config-value>: used if the call creates it
    # Its rpc-connection span (host/runtime/rpc_spans.py), finished when it is dropped.
    span: Span | None = field(default=None, compare=False, repr=False)

    def on_drop(self, session: Session) -> None:
        rpc_spans.finish(session, self.span)


@dataclass(frozen=True)
class WorkerTarget:
    """A golem:rpc 0.2.2 ``wasm-rpc`` resource: the agent (by id) it calls functions of."""

    agent: AgentId
    span: Span | None = field(default=None, compare=False, repr=False)

    def on_drop(self, session: Session) -> None:
        rpc_spans.finish(session, self.span)


Target = RpcTarget | WorkerTarget


@dataclass
class FutureCall:
    """A ``future-invoke-result``: the caller's promise the outcome arrives on."""

    oplog_idx: int
    generic: bool = False
    span: Span | None = None  # its rpc-invocation span, finished when it is dropped

    def on_drop(self, session: Session) -> None:
        rpc_spans.finish(session, self.span)


def await_key(caller: AgentId, oplog_idx: int) -> str:
    return f"{AWAIT_PREFIX}{caller.component_id}:{oplog_idx}:{caller.name}"


def _promise_of_key(key: str) -> PromiseId | None:
    if not key.startswith(AWAIT_PREFIX):
        return None
    component, idx, name = key[len(AWAIT_PREFIX) :].split(":", 2)
    import uuid

    return PromiseId(AgentId(uuid.UUID(component), name), int(idx))


def is_call_promise(store: Store, promise: PromiseId) -> bool:
    """Whether ``promise`` is one an agent awaits another agent's method on (created by
    an awaited ``wasm-rpc`` call): internal, completed only by the callee's end."""
    try:
        (entry,) = store.read_oplog(promise.agent, promise.oplog_idx, 1)
    except (HostError, ValueError):
        return False
    if not isinstance(entry, PromiseCreated):
        return False
    return "[method]wasm-rpc." in entry.function and entry.function.endswith("invoke-and-await")


# -- the callee's side: its invocation ended ------------------------------------------------
def completion_for(
    store: Store,
    agent: AgentId,
    started: InvocationStarted,
    entry: InvocationFinished | InvocationFailed,
    component_hash: str | None = None,
) -> tuple[PromiseId, bytes] | None:
    """If another agent awaits this invocation, its promise and the outcome to complete
    it with: the executor hands both to ``finish_invocation``, so the callee's end and
    the caller's completion are one transaction (a crash cannot leave the caller waiting
    on a callee that finished)."""
    promise = _promise_of_key(started.idempotency_key or "")
    if promise is None:
        return None
    failed = isinstance(entry, InvocationFailed)
    payload = {
        "agent": str(agent),
        "component": component_hash or store.get_agent(agent).component_hash,
        "function": started.function,
        # An agent's `invoke`: its method (WAVE), for golem:rpc 0.2.2 callers.
        "method": started.params[0] if started.function.endswith("{invoke}") else None,
        "result": entry.result if isinstance(entry, InvocationFinished) else None,
        "error": entry.error if isinstance(entry, InvocationFailed) else None,
        "failed": failed,
    }
    return promise, json.dumps(payload).encode()


def invocation_ended(
    completes: tuple[PromiseId, bytes] | None, wake: Callable[[AgentId], None]
) -> None:
    """After an invocation's end was committed: wake the agent awaiting it, if one does.
    ``completes`` is what :func:`completion_for` gave for that end (its promise was
    completed in that same commit), so the invocation's record is not read again: the
    key it came from is the started entry's, the record's own."""
    if completes is not None:
        wake(completes[0].agent)


def _fail_own_promise(session: Session, idx: int, failure: RpcFailure) -> None:
    payload = {"rpc-error": [failure.case, str(failure)]}
    session.store.complete_promise(PromiseId(session.agent, idx), json.dumps(payload).encode())


def _outcome(session: Session, idx: int, generic: bool) -> Case | None:
    """The call's result once promise ``idx`` is completed (None while the callee runs):
    ``result<data-value, rpc-error>`` for an agent method, or for a ``generic`` call
    (golem:rpc 0.2.2) ``result<wit-value, rpc-error>``, the function's result wrapped in
    a one-tuple, or an empty record for a function without one, as Golem 1.4 answers."""
    record = session.store.get_promise(PromiseId(session.agent, idx))
    if not record.completed:
        return None
    payload = json.loads(record.data or b"{}")
    if "rpc-error" in payload:
        case, message = payload["rpc-error"]
        return Case("err", Case(case, message))
    if payload.get("failed", payload.get("error") is not None):
        return Case("err", Case("remote-internal-error", payload.get("error") or "failed"))
    calls: AgentCalls = session.agent_calls
    ty = calls.callee_result_type(payload["component"], payload["function"])
    text = payload.get("result")
    if generic and payload.get("method") and ty is not None and text is not None:
        method = parse_value(payload["method"], STRING)
        assert isinstance(method, str)
        answered = parse_value(text, ty)
        assert isinstance(answered, Case)
        name = str(payload["agent"]).partition("/")[2]  # "<component id>/<agent name>"
        return calls.agent_method_outcome(payload["component"], name, method, answered)
    if generic:
        if ty is None or text is None:
            return Case("ok", wit_value_from_value({}, RecordT(())))
        value = parse_value(text, ty)
        return Case("ok", wit_value_from_value((value,), TupleT((ty,))))
    if ty is None or text is None:
        return Case("err", Case("protocol-error", "the callee's method answered no result"))
    result = parse_value(text, ty)
    assert isinstance(result, Case)
    if result.name == "ok":
        return Case("ok", result.value)
    return Case("err", Case("remote-agent-error", result.value))


# -- the caller's side ---------------------------------------------------------------------
def _enqueue(
    session: Session,
    target: Target,
    method: str,
    input: Value,
    key: str,
    awaiting: bool,
    span: Span | None,
) -> AgentId:
    calls: AgentCalls | None = session.agent_calls
    if calls is None:
        raise RpcFailure("denied", "agent-to-agent calls need an agent of this host")
    # The callee's invocation is in the caller's trace, a child of the call's
    # rpc-invocation span (of the current span when an older oplog has none).
    trace = context.passed_on(session, span)
    if isinstance(target, WorkerTarget):
        assert isinstance(input, list)
        return calls.enqueue_worker_call(
            session.agent, target.agent, method, input, key, awaiting, trace
        )
    return calls.enqueue_agent_call(session.agent, target, method, input, key, awaiting, trace)


def _start_awaited(
    session: Session, name: str, target: Target, method: str, input: Value
) -> tuple[int, Span | None]:
    """The caller's promise of an awaited call and the call's rpc-invocation span
    (recorded just before the promise, committed with it): created live (and the
    callee's invocation queued), or met again on replay (queued again only if it is
    still open)."""
    key = await_key(session.agent, rpc_spans.next_entry_index(session))
    span = rpc_spans.start_invocation(session, target.span, method, key)
    session.skip_markers()
    if session.replaying:
        entry = session.next_recorded(name)
        if not isinstance(entry, PromiseCreated):
            raise HostError(f"{name}: the oplog holds a {type(entry).__name__} here")
        idx = session.cursor
    else:
        first, pending = session.pending()
        entry = PromiseCreated(function=name)
        promise = session.store.create_promise(
            session.agent, [*pending, entry], first, session.current_function
        )
        session.mark_persisted(entry)
        idx = promise.oplog_idx
    promise_id = PromiseId(session.agent, idx)
    if not session.replaying and not session.store.get_promise(promise_id).completed:
        try:
            _enqueue(session, target, method, input, await_key(session.agent, idx), True, span)
        except RpcFailure as failure:
            _fail_own_promise(session, idx, failure)
    return idx, span


def _record(session: Session, name: str, request: Any, value: Value, ty: WitType | None) -> None:
    response = None if ty is None else to_json(value, ty, compact_bytes=True)
    session.record(HostCall(name, request, response))


def _recorded(session: Session, name: str, ty: WitType | None) -> tuple[bool, Value]:
    """(True, the recorded result) while replaying, else (False, None)."""
    session.skip_markers()
    if not session.replaying:
        return False, None
    entry = session.next_recorded(name)
    assert isinstance(entry, HostCall)
    return True, None if ty is None else from_json(entry.response, ty, compact_bytes=True)


def _invoke_and_await(sig: FuncSig) -> HostFunc:
    name = sig.name

    def impl(session: Session, target: Target, method: str, input: Value) -> Value:
        idx, span = _start_awaited(session, name, target, method, input)
        replayed, value = _recorded(session, name, sig.result)
        if not replayed:
            value = _outcome(session, idx, isinstance(target, WorkerTarget))
            if value is None:
                raise Suspend((idx,), None)
            _record(session, name, [method], value, sig.result)
        rpc_spans.finish(session, span)  # the call is over
        return value

    return HostFunc(impl, Kind.PURE)  # records its own entries


def _invoke(sig: FuncSig) -> HostFunc:
    name = sig.name

    def impl(session: Session, target: Target, method: str, input: Value) -> Value:
        agent = session.agent
        # The key names the HostCall's index, the entry after the span's start.
        at = rpc_spans.next_entry_index(session)
        span = rpc_spans.start_invocation(
            session, target.span, method, f"{SEND_PREFIX}{agent.component_id}:{at}:{agent.name}"
        )
        replayed, value = _recorded(session, name, sig.result)
        if not replayed:
            # The span (and the caller's entries before it) committed first: the callee,
            # which may run at once, reads the spans it inherits from there.
            session.flush()
            key = f"{SEND_PREFIX}{agent.component_id}:{session.next_index}:{agent.name}"
            try:
                _enqueue(session, target, method, input, key, False, span)
                value = Case("ok", None)
            except RpcFailure as failure:
                value = Case("err", Case(failure.case, str(failure)))
            _record(session, name, [method], value, sig.result)
        rpc_spans.finish(session, span)  # sent: the call is over for the caller
        if not replayed:
            session.flush()
        return value

    return HostFunc(impl, Kind.PURE)


def _async_invoke(sig: FuncSig) -> HostFunc:
    def impl(session: Session, target: Target, method: str, input: Value) -> FutureCall:
        idx, span = _start_awaited(session, sig.name, target, method, input)
        return FutureCall(idx, isinstance(target, WorkerTarget), span)

    return HostFunc(impl, Kind.PURE)


def _future_get(session: Session, future: FutureCall) -> Some | None:
    outcome = _outcome(session, future.oplog_idx, future.generic)
    return None if outcome is None else Some(outcome)


def _constructor(
    session: Session, agent_type: str, constructor: Value, phantom: Value, config: Value
) -> RpcTarget:
    target = RpcTarget(agent_type, constructor, phantom, config)
    calls: AgentCalls | None = session.agent_calls
    target_id = agent_type if calls is None else calls.rpc_target_id(target)
    span = rpc_spans.start_connection(session, target_id)
    return RpcTarget(agent_type, constructor, phantom, config, span)


def _constructor_0_2_2(session: Session, agent_id: dict[str, Any]) -> WorkerTarget:
    from host.runtime.golem_workers import id_from

    agent = id_from(agent_id)
    return WorkerTarget(agent, rpc_spans.start_connection(session, str(agent)))


FUNCS: dict[str, Callable[[FuncSig], HostFunc]] = {
    "[constructor]wasm-rpc": lambda sig: HostFunc(_constructor),
    "[method]wasm-rpc.invoke-and-await": _invoke_and_await,
    "[method]wasm-rpc.invoke": _invoke,
    "[method]wasm-rpc.async-invoke-and-await": _async_invoke,
    # schedule-invocation and cancellation-token: host/runtime/agent_schedule.py
    "[method]future-invoke-result.subscribe": lambda sig: HostFunc(
        lambda s, f: pl.PromisePollable(f.oplog_idx)
    ),
    "[method]future-invoke-result.get": lambda sig: HostFunc(_future_get, Kind.READ),
    # The callee's invocation goes on (Golem's cancel likewise only drops the future).
    "[method]future-invoke-result.cancel": lambda sig: HostFunc(lambda s, f: None),
}

# golem:rpc/types@0.2.2 (Golem 1.4): the same calls by export name with wit-value params.
FUNCS_0_2_2: dict[str, Callable[[FuncSig], HostFunc]] = {
    **{k: v for k, v in FUNCS.items() if k != "[method]future-invoke-result.cancel"},
    "[constructor]wasm-rpc": lambda sig: HostFunc(_constructor_0_2_2),
}

__all__ = [
    "FUNCS",
    "FUNCS_0_2_2",
    "AgentCalls",
    "RpcFailure",
    "RpcTarget",
    "invocation_ended",
    "is_call_promise",
]
