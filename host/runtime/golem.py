"""Golem's host API (golem:api/host) for every linked generation.

One implementation serves all generations: the shape of a promise id
(``worker-id`` in 0.2.0 .. 1.1.6, ``agent-id`` in 1.1.7 and 1.3.0) and of the
retry policy is read from the function's own type at link time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from host.errors import HostError, PromiseNotFound
from host.ids import AgentId, PromiseId
from host.oplog import ChangePersistenceLevel, HostCall, Jump, PromiseCreated
from host.runtime import golem_retry, golem_workers
from host.runtime import pollables as pl
from host.runtime import promise_payloads as pp
from host.runtime.failures import DEFAULT_RETRY_POLICY
from host.runtime.promise_payloads import StoredPayload
from host.runtime.session import HostFunc, Kind, LimitExceeded, Session, Suspend
from host.secrets import matches
from host.values import Case, Some, bytes_to_json, from_json, to_json
from host.values.types import BOOL, F64, U32, U64, FuncSig, OptionT, RecordT, WitType

INTERFACE = "golem:api/host"
# Generations whose types agent-host knows; a component importing another version
# of golem:api/host is refused at registration.
GENERATIONS = ("0.2.0", "1.1.0", "1.1.6", "1.1.7", "1.3.0")


class GuestError(HostError):
    """The guest misused a host function; its invocation fails with this message."""


class PromiseHandle:
    """The get-promise-result resource: a handle on one of the agent's own promises."""

    def __init__(self, oplog_idx: int) -> None:
        self.oplog_idx = oplog_idx


# -- promise ids in their generation's shape ----------------------------------------------
def promise_id_from(value: dict[str, Any]) -> PromiseId:
    if "agent-id" in value:
        owner = value["agent-id"]
        name = owner["agent-id"]
    else:
        owner = value["worker-id"]
        name = owner["worker-name"]
    halves = owner["component-id"]["uuid"]
    return PromiseId(
        AgentId.from_halves(halves["high-bits"], halves["low-bits"], name), value["oplog-idx"]
    )


def promise_id_to(promise: PromiseId, ty: WitType | None) -> dict[str, Any]:
    assert isinstance(ty, RecordT), f"promise-id must be a record, not {ty}"
    high, low = promise.agent.uuid_halves
    component = {"uuid": {"high-bits": high, "low-bits": low}}
    field_names = {name for name, _ in ty.fields}
    if "agent-id" in field_names:
        owner = {"agent-id": {"component-id": component, "agent-id": promise.agent.name}}
    else:
        owner = {"worker-id": {"component-id": component, "worker-name": promise.agent.name}}
    return {**owner, "oplog-idx": promise.oplog_idx}


def _own_promise(session: Session, value: dict[str, Any], what: str) -> PromiseId:
    promise = promise_id_from(value)
    if promise.agent != session.agent:
        raise GuestError(
            f"agent {session.agent} tried to {what} promise {promise}, which belongs to "
            f"agent {promise.agent}: only the agent that created a promise may await it"
        )
    session.promise(promise.oplog_idx)  # PromiseNotFound for an unknown or deleted one
    return promise


# -- the functions -----------------------------------------------------------------------
def _create_promise(sig: FuncSig) -> HostFunc:
    def live(session: Session) -> dict[str, Any]:
        limit = session.limits.max_pending_promises
        if session.store.count_pending_promises(session.agent) >= limit:
            raise LimitExceeded(
                f"agent {session.agent} already has {limit} pending promises, its limit "
                "(max_pending_promises); complete some before creating more"
            )
        first, pending = session.pending()
        entry = PromiseCreated(function=sig.name)
        idx = first + len(pending)
        secret_hash = (
            session.secrets.hash_of(PromiseId(session.agent, idx)) if session.secrets else None
        )
        promise = session.store.create_promise(
            session.agent, [*pending, entry], first, session.current_function, secret_hash
        )
        session.mark_persisted(entry)
        return promise_id_to(promise, sig.result)

    def replay(session: Session, entry: Any, index: int) -> dict[str, Any]:
        return promise_id_to(PromiseId(session.agent, index), sig.result)

    return HostFunc(live, Kind.JOURNALED, replay=replay)


def _may_complete(session: Session, promise: PromiseId, secret: str | None) -> None:
    """The guest side of the completion model (host.secrets.CompletionPolicy). An
    internal promise (its owner awaits another agent's method on it) is the host's to
    complete: no guest may, secret or not."""
    from host.runtime.agent_rpc import is_call_promise

    if is_call_promise(session.store, promise):
        raise GuestError(
            f"agent {session.agent} may not complete promise {promise}: it is internal (its "
            "owner awaits another agent's method on it, and the host completes it when that "
            "call ends)"
        )
    if secret is not None:
        if not matches(secret, session.store.promise_secret_hash(promise)):
            raise GuestError(
                f"agent {session.agent} gave a wrong secret for promise {promise}: "
                "complete-with-secret needs the secret its owner handed out"
            )
        return
    policy = session.secrets.completion_policy if session.secrets else "open"
    if policy == "secret" and promise.agent != session.agent:
        raise GuestError(
            f"agent {session.agent} may not complete promise {promise} of agent "
            f"{promise.agent}: the server runs with --require-promise-secret, so "
            "completing another agent's promise needs its secret "
            f"({SECRETS_INTERFACE_V2} complete-with-secret)"
        )


def _complete_promise(sig: FuncSig, with_secret: bool = False) -> HostFunc:
    def live(session: Session, value: dict[str, Any], *rest: Any) -> bool:
        secret, data = rest if with_secret else (None, rest[0])
        if len(data) > session.limits.max_payload_bytes:
            raise LimitExceeded(
                f"a promise payload of {len(data)} bytes exceeds the limit of "
                f"{session.limits.max_payload_bytes} bytes (max_payload_bytes)"
            )
        promise = promise_id_from(value)
        _may_complete(session, promise, secret)
        first, pending = session.pending()
        name = sig.name
        # Never the secret: the oplog holds the promise and the payload only.
        request = [to_json(value, sig.params[0][1]), bytes_to_json(data)]

        made: list[HostCall] = []

        def journal(completed: bool) -> list[Any]:
            made.append(HostCall(name, request, completed))
            return [*pending, made[-1]]

        completed = session.store.complete_promise(
            promise, data, journal=(session.agent, first, journal)
        )
        session.mark_persisted(made[-1])
        if completed and session.on_promise_completed is not None:
            session.on_promise_completed(promise)
        return completed

    return HostFunc(live, Kind.JOURNALED)


def _await_promise(session: Session, value: dict[str, Any]) -> bytes:
    promise = _own_promise(session, value, "await")
    record = session.promise(promise.oplog_idx)
    seen = [record]  # what a parked thread's readiness check read

    def ready() -> bool:
        seen[0] = session.store.get_promise(promise)  # kept: not read again below
        return seen[0].completed

    while True:
        if record.completed:
            return StoredPayload(record.data or b"", promise.oplog_idx)
        if session.park is None:
            raise Suspend((promise.oplog_idx,), None)
        # Suspend, keeping the instance a while (host/runtime/parking.py).
        seen[0] = record
        parked = session.park((promise.oplog_idx,), None, None, ready)
        if not parked:
            raise Suspend((promise.oplog_idx,), None, committed=parked is None)
        record = seen[0] if seen[0].completed else session.promise(promise.oplog_idx)


def _poll_promise(session: Session, value: dict[str, Any]) -> Some | None:
    promise = _own_promise(session, value, "poll")
    record = session.promise(promise.oplog_idx)
    if not record.completed:
        return None
    return Some(StoredPayload(record.data or b"", promise.oplog_idx))


def _delete_promise(session: Session, value: dict[str, Any]) -> None:
    promise = _own_promise(session, value, "delete")
    session.promise_deleted(promise.oplog_idx)
    session.store.delete_promise(promise)


def _created_here(session: Session, promise: PromiseId) -> bool:
    """Whether the agent's own oplog holds the creation of ``promise``: a fact of the
    agent's history, the same on replay whatever has happened to the store since."""
    idx = promise.oplog_idx
    return (
        promise.agent == session.agent
        and 1 <= idx <= len(session.entries)
        and isinstance(session.entries[idx - 1], PromiseCreated)
    )


def _get_promise(session: Session, value: dict[str, Any]) -> PromiseHandle:
    # Not recorded: the handle is a function of the id, and what the guest learns through
    # it (get, a pollable's readiness) is recorded by those calls. So replay answers from
    # the oplog, never from the store, whose promise may since have been deleted.
    session.skip_markers()
    if not session.replaying:
        return PromiseHandle(_own_promise(session, value, "get").oplog_idx)
    promise = promise_id_from(value)
    if not _created_here(session, promise):  # the recorded run could not have got it
        raise GuestError(f"agent {session.agent} has no promise {promise} to get")
    return PromiseHandle(promise.oplog_idx)


def _result_get(session: Session, handle: PromiseHandle) -> Some | None:
    record = session.promise(handle.oplog_idx)
    if not record.completed:
        return None
    return Some(StoredPayload(record.data or b"", handle.oplog_idx))


def _default_retry_policy(sig: FuncSig) -> dict[str, Any]:
    full: dict[str, Any] = dict(DEFAULT_RETRY_POLICY)
    assert isinstance(sig.result, RecordT)
    return {name: full[name] for name, _ in sig.result.fields if name in full}


def _state_getter(key: str, default: Callable[[FuncSig], Any]) -> Callable[[FuncSig], HostFunc]:
    def make(sig: FuncSig) -> HostFunc:
        return HostFunc(lambda s: s.state.get(key, default(sig)), Kind.READ)

    return make


def _state_setter(key: str) -> Callable[[FuncSig], HostFunc]:
    def make(sig: FuncSig) -> HostFunc:
        def set_(session: Session, value: Any) -> None:
            session.state[key] = value

        return HostFunc(set_, Kind.STATE)

    return make


def _fixed(func: HostFunc) -> Callable[[FuncSig], HostFunc]:
    return lambda sig: func


def _idempotency_key(session: Session) -> dict[str, int]:
    value = uuid.uuid4().int
    return {"high-bits": value >> 64, "low-bits": value & 0xFFFF_FFFF_FFFF_FFFF}


def _set_idempotence(session: Session, value: bool) -> None:
    session.idempotent = value


R = Kind.READ
FUNCS: dict[str, Callable[[FuncSig], HostFunc]] = {
    "create-promise": _create_promise,
    "complete-promise": _complete_promise,
    # A payload's answer refers to the promise's row (host/runtime/promise_payloads.py).
    "await-promise": _fixed(HostFunc(_await_promise, R, pp.snapshot_bytes, pp.rebuild_bytes)),
    "poll-promise": _fixed(
        HostFunc(_poll_promise, R, pp.snapshot_maybe_bytes, pp.rebuild_maybe_bytes)
    ),
    "delete-promise": _fixed(HostFunc(_delete_promise, Kind.EFFECT)),
    "get-promise": _fixed(HostFunc(_get_promise)),
    "[method]get-promise-result.subscribe": _fixed(
        HostFunc(lambda s, h: pl.PromisePollable(h.oplog_idx))
    ),
    "[method]get-promise-result.get": _fixed(
        HostFunc(_result_get, R, pp.snapshot_maybe_bytes, pp.rebuild_maybe_bytes)
    ),
    "get-oplog-index": _fixed(HostFunc(lambda s: s.next_index - 1, R)),
    # Durability controls: cursor rules of host.replay (its docstring has them).
    "set-oplog-index": _fixed(HostFunc(lambda s, idx: s.jump_back(idx))),
    # Commits are synchronous (SQLite, synchronous=FULL): once flush returns the entries
    # are durable, which is all a single node can give for any number of replicas.
    "oplog-commit": _fixed(HostFunc(lambda s, replicas: s.flush())),
    "mark-begin-operation": _fixed(HostFunc(lambda s: s.begin_atomic_region())),
    "mark-end-operation": _fixed(HostFunc(lambda s, begin: s.end_atomic_region(begin))),
    "get-retry-policy": _state_getter("retry-policy", _default_retry_policy),
    "set-retry-policy": _state_setter("retry-policy"),
    "get-oplog-persistence-level": _fixed(HostFunc(lambda s: Case(s.persistence_level, None), R)),
    "set-oplog-persistence-level": _fixed(
        HostFunc(lambda s, level: s.set_persistence_level(level.name))
    ),
    "get-idempotence-mode": _fixed(HostFunc(lambda s: s.idempotent, R)),
    "set-idempotence-mode": _fixed(HostFunc(_set_idempotence, Kind.STATE)),
    # "persisted and committed, such that the key can be used in third-party systems".
    "generate-idempotency-key": _fixed(HostFunc(_idempotency_key, Kind.EFFECT)),
    # Metadata, enumeration, update, fork, revert and resolution (golem_workers.py).
    **golem_workers.FUNCS,
}


# -- recovery from a snapshot -------------------------------------------------------------
_POLICY_FIELDS: dict[str, WitType] = {
    "max-attempts": U32,
    "min-delay": U64,
    "max-delay": U64,
    "multiplier": F64,
    "max-jitter-factor": OptionT(F64),
}


def _policy_type(policy: dict[str, Any]) -> RecordT:
    """The retry-policy record of the guest's generation (0.2.0's has no jitter): the
    fields ``policy`` has."""
    return RecordT(tuple((k, _POLICY_FIELDS[k]) for k in policy if k in _POLICY_FIELDS))


def durable_state(session: Session) -> dict[str, Any]:
    """What :func:`restore_durable_state` rebuilds, as JSON, taken from a live session (kept
    in a snapshot's entry so recovery need not read the entries before it)."""
    state: dict[str, Any] = {
        "persistence-level": session.persistence_level,
        "idempotent": session.idempotent,
        "monotonic-floor": session.last_monotonic,
    }
    policy = session.state.get("retry-policy")
    if isinstance(policy, dict):
        state["retry-policy"] = to_json(policy, _policy_type(policy))
    named = golem_retry.to_state(session)
    if named is not None:
        state["retry-policies"] = named
    return state


def apply_durable_state(session: Session, state: dict[str, Any]) -> None:
    """Set what :func:`durable_state` took."""
    session.persistence_level = state["persistence-level"]
    session.idempotent = bool(state["idempotent"])
    session.last_monotonic = max(session.last_monotonic, int(state["monotonic-floor"]))
    policy = state.get("retry-policy")
    if isinstance(policy, dict):
        session.state["retry-policy"] = from_json(policy, _policy_type(policy), compact_bytes=True)
    golem_retry.from_state(session, state.get("retry-policies"))


def restore_durable_state(session: Session, upto: int) -> None:
    """Rebuild what the guest set through golem:api/host before oplog index ``upto`` (a
    snapshot the replay starts after): the retry policy, the idempotence mode and the
    persistence level, and the named retry policies of golem:api/retry@1.5.0. A snapshot
    holds the guest's memory, not the host's side of these, and the replay no longer
    visits the entries that set them, so they are read from those entries here, the last
    non-deleted one of each kind winning, as replaying them would."""
    deleted = [(e.start, e.end) for e in session.entries if isinstance(e, Jump)]
    for index, entry in enumerate(session.entries[:upto], start=1):
        if any(start <= index <= end for start, end in deleted):
            continue
        if isinstance(entry, ChangePersistenceLevel):
            session.persistence_level = entry.level
        elif isinstance(entry, HostCall) and entry.function.startswith(f"{INTERFACE}@"):
            _restore_call(session, entry)
        else:
            golem_retry.restore_entry(session, entry)


def _restore_call(session: Session, entry: HostCall) -> None:
    function = entry.function.rpartition(".")[2]
    if function not in ("set-retry-policy", "set-idempotence-mode") or len(entry.request) != 1:
        return
    value = entry.request[0]
    if function == "set-idempotence-mode":
        session.idempotent = bool(from_json(value, BOOL))
    elif isinstance(value, dict):
        session.state["retry-policy"] = from_json(value, _policy_type(value), compact_bytes=True)


def _promise_secret(session: Session, oplog_idx: int) -> str:
    promise = PromiseId(session.agent, oplog_idx)
    # Only a promise the agent created, which its own oplog shows, not the store: the
    # answer must be the same on replay after the promise was deleted.
    if not _created_here(session, promise):
        raise PromiseNotFound(str(promise))
    if session.secrets is None:
        raise GuestError("promise secrets are not available in this host")
    return session.secrets.secret(promise)


SECRETS_INTERFACE = "agent-host:promises/secrets@0.1.0"
# Pure: the secret is a function of the promise id and the host key (and whether the
# agent's oplog created that promise), never of the store's current state, so replay
# computes it again instead of reading it from the oplog, where it must never be written.
SECRETS_FUNCS: dict[str, HostFunc] = {"promise-secret": HostFunc(_promise_secret, Kind.PURE)}
SECRETS_INTERFACE_V2 = "agent-host:promises/secrets@0.2.0"
SECRETS_V2_FUNCS: dict[str, Callable[[FuncSig], HostFunc]] = {
    "promise-secret": _fixed(HostFunc(_promise_secret, Kind.PURE)),
    "complete-with-secret": lambda sig: _complete_promise(sig, with_secret=True),
}
