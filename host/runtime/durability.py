"""golem:durability/durability@1.5.0: durable functions the guest wraps itself.

An SDK-level durable function (golem-rust's ``Durability``, a custom host-like function
in a guest) brackets its own side effect: ``begin-durable-function``, then
``current-durable-execution-state``; live, it does the work and
``persist-durable-function-invocation`` records request and response; on replay it asks
``read-persisted-durable-function-invocation`` for the recorded response instead of
doing the work again; ``end-durable-function`` closes the bracket. Golem's semantics
(its executor's durable_host/durability.rs, read for facts):

* ``begin``: for ``write-remote`` with idempotence mode off, and ``write-remote-batched
  (none)``, a BeginRemoteWrite is committed before the effect and its index returned; on
  replay a begin whose EndRemoteWrite never came means the effect may have happened:
  non-idempotent, the invocation fails (NotIdempotent); a batched write with idempotence
  on re-runs live with the first attempt deleted (a Jump). Other types record nothing and
  return the oplog index reached.
* ``end``: closes such a bracket (EndRemoteWrite), and commits for the remote-write types
  or when ``forced-commit`` is set.
* ``is-live``: whether replay has reached the end of the oplog (no recorded entry left).
* ``persist``: records a :class:`~host.oplog.DurableFunctionCall` (Golem: a HostCall with
  a custom function name). Not under persist-nothing (golem-rust does not persist there,
  and replay runs that zone live), and never while replaying: the oplog already holds
  what that call would write.
* ``read-persisted``: the next entry, which must be a DurableFunctionCall, else a
  :class:`~host.errors.Divergence` naming what was recorded there; refused live and
  under persist-nothing.

Every function is PURE for :func:`host.replay.host_call`: each moves the cursor itself,
as the atomic-region controls do. A scratch session (the host reading a component's
definition, no agent) records and commits nothing: a durable function there just runs.
"""

from __future__ import annotations

from typing import Any

from host.errors import Divergence
from host.oplog import BeginRemoteWrite, DurableFunctionCall, EndRemoteWrite, describe
from host.replay import PERSIST_NOTHING, NotIdempotent
from host.runtime import pollables as pl
from host.runtime.golem import GuestError
from host.runtime.session import HostFunc, Session
from host.values import Case, from_json, to_json
from host.values.types import FuncSig, RecordT, WitType

INTERFACE = "golem:durability/durability@1.5.0"
READ_PERSISTED = "read-persisted-durable-function-invocation"
REMOTE_TYPES = ("write-remote", "write-remote-batched", "write-remote-transaction")


class LazyPollable:
    """The lazy-initialized-pollable resource: empty (always ready) until ``set``."""

    def __init__(self) -> None:
        self.inner: pl.Pollable | None = None


def _bracketed(session: Session, function_type: Case) -> bool:
    """Whether the function is bracketed by BeginRemoteWrite / EndRemoteWrite."""
    if function_type.name == "write-remote":
        return not session.idempotent
    return function_type.name == "write-remote-batched" and function_type.value is None


def _begin(session: Session, function_type: Case) -> int:
    session.skip_markers()
    if session.scratch or not _bracketed(session, function_type):
        # The oplog index reached: the last entry written, or the last one replayed.
        return session.cursor if session.replaying else session.next_index - 1
    name = f"{INTERFACE}.begin-durable-function({function_type.name})"
    if not session.replaying:
        begin = session.record(BeginRemoteWrite(name))
        session.flush()
        return begin
    session._take(BeginRemoteWrite, name)
    begin = session.cursor
    done = any(
        isinstance(e, EndRemoteWrite) and e.begin_index == begin for _, e in session._ahead()
    )
    if done:
        return begin
    session.go_live()  # what follows (the failure, or the second attempt) is recorded live
    if function_type.name == "write-remote-batched" and session.idempotent:
        session.delete_from(begin + 1)  # the first attempt's entries are not replayed again
        return begin
    raise NotIdempotent(
        f"agent {session.agent}: a durable function ({function_type.name}, begun at oplog "
        f"index {begin}) with idempotence mode off did not complete before the agent "
        "stopped; it may have happened, so it is not retried (Golem: non-idempotent remote "
        "write operation was not completed, cannot retry)"
    )


def _end(session: Session, function_type: Case, begin: int, forced_commit: bool) -> None:
    if session.scratch:
        return  # reading the component's definition: nothing is recorded, nothing committed
    session.skip_markers()
    if _bracketed(session, function_type):
        if session.replaying:
            entry = session._take(EndRemoteWrite, f"end-durable-function({begin})")
            if entry.begin_index != begin:
                raise Divergence(
                    str(session.agent), session.cursor, describe(entry), f"end of {begin}"
                )
            return
        session.record(EndRemoteWrite(begin))
    if session.replaying:
        return
    if function_type.name in REMOTE_TYPES or forced_commit:
        session.flush()


def _state(session: Session) -> dict[str, Any]:
    session.skip_markers()
    return {
        "is-live": not session.replaying,
        "persistence-level": Case(session.persistence_level, None),
    }


def _persist(sig: FuncSig) -> HostFunc:
    vat = sig.params[1][1]
    fty = sig.params[3][1]

    def persist(session: Session, name: str, request: Any, response: Any, ftype: Case) -> None:
        if session.persistence_level == PERSIST_NOTHING or session.scratch:
            return
        session.skip_markers()
        if session.replaying:
            raise GuestError(
                f"persist-durable-function-invocation({name!r}) was called while agent "
                f"{session.agent} replays (current-durable-execution-state answers is-live "
                f"false): the oplog already holds its result; call {READ_PERSISTED}"
            )
        session.record(
            DurableFunctionCall(
                name, to_json(request, vat), to_json(response, vat), to_json(ftype, fty)
            )
        )

    return HostFunc(persist)


def _read_persisted(sig: FuncSig) -> HostFunc:
    result = sig.result
    assert isinstance(result, RecordT), f"{READ_PERSISTED} returns a record, not {result}"
    types: dict[str, WitType] = dict(result.fields)

    def read(session: Session) -> dict[str, Any]:
        if session.persistence_level == PERSIST_NOTHING:
            raise GuestError(
                f"{READ_PERSISTED}: agent {session.agent} is in a persist-nothing zone, "
                "where nothing was persisted to read (Golem: trying to replay a durable "
                "invocation in a PersistNothing block)"
            )
        session.skip_markers()
        if not session.replaying:
            raise GuestError(
                f"{READ_PERSISTED}: agent {session.agent} is live (current-durable-execution-"
                "state answers is-live true), there is no persisted invocation to read: do "
                "the work and persist-durable-function-invocation"
            )
        entry = session._take(DurableFunctionCall, READ_PERSISTED)
        return {
            "timestamp": {
                "seconds": entry.timestamp // 10**9,
                "nanoseconds": entry.timestamp % 10**9,
            },
            "function-name": entry.function,
            "response": from_json(entry.response, types["response"]),
            "function-type": from_json(entry.function_type, types["function-type"]),
            "entry-version": "v2",
        }

    return HostFunc(read)


def _subscribe(session: Session, lazy: LazyPollable) -> pl.Pollable:
    return lazy.inner if lazy.inner is not None else pl.ReadyPollable()


def _set(session: Session, lazy: LazyPollable, pollable: pl.Pollable) -> None:
    lazy.inner = pollable


FIXED: dict[str, HostFunc] = {
    # Golem records a metric; there is nothing to record here.
    "observe-function-call": HostFunc(lambda s, iface, function: None),
    "begin-durable-function": HostFunc(_begin),
    "end-durable-function": HostFunc(_end),
    "current-durable-execution-state": HostFunc(_state),
    "[constructor]lazy-initialized-pollable": HostFunc(lambda s: LazyPollable()),
    "[method]lazy-initialized-pollable.set": HostFunc(_set),
    "[method]lazy-initialized-pollable.subscribe": HostFunc(_subscribe),
}


def provided(func: str, sig: FuncSig) -> HostFunc | None:
    """golem:durability's ``func``, or None for a name it does not declare."""
    if func == "persist-durable-function-invocation":
        return _persist(sig)
    if func == READ_PERSISTED:
        return _read_persisted(sig)
    return FIXED.get(func)
