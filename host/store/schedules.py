"""Scheduled invocations: calls an agent asked the host to enqueue at a later time.

``wasm-rpc.schedule-invocation`` / ``schedule-cancelable-invocation`` (golem:agent/host
1.5 and golem:rpc 0.2.2) store one row here, keyed by the caller's idempotency key for
the call (:mod:`host.runtime.agent_schedule`), so a caller that replays, or crashed
before its oplog entry was committed, stores nothing twice. The row holds the callee's
invocation ready to queue (function and canonical WAVE parameters); the scheduler's
scan (the timer path that also wakes sleeping agents) enqueues it once due.

A row moves ``waiting`` -> ``firing`` (claimed by the process that enqueues it) ->
``enqueued``, or ``waiting`` -> ``cancelled``. Cancelling is only possible while it
waits; a ``firing`` row left by a crash is fired again (the callee's invocation has the
same idempotency key, so it is queued once). The row also keeps the W3C trace context
the scheduler had (the caller's, or a REST request's ``traceparent`` / ``tracestate``):
the queued invocation carries it. Both stores run the same SQL: the only dialect
difference is the parameter mark (``_PH``).
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from host.ids import AgentId

WAITING = "waiting"
FIRING = "firing"
ENQUEUED = "enqueued"
CANCELLED = "cancelled"
FAILED = "failed"  # the callee could not be created or queued (logged)


@dataclass(frozen=True)
class ScheduledCall:
    """One scheduled invocation of ``callee``'s ``function`` with ``params`` (WAVE)."""

    key: str
    callee: AgentId
    function: str
    params: tuple[str, ...]
    due_at_ns: int  # wall clock, nanoseconds since the epoch
    caller: AgentId | None
    state: str = WAITING
    # The scheduler's W3C trace context, the queued invocation's (None: it starts its own;
    # also every row stored before the columns existed).
    traceparent: str | None = None
    tracestate: str | None = None


_COLS = (
    "call_key, component_id, name, function, params, due_at_ns, "
    "caller_component_id, caller_name, state, traceparent, tracestate"
)


def _row(row: Any) -> ScheduledCall:
    caller = None if row[6] is None else AgentId(uuid.UUID(row[6]), row[7])
    return ScheduledCall(
        key=row[0],
        callee=AgentId(uuid.UUID(row[1]), row[2]),
        function=row[3],
        params=tuple(json.loads(row[4])),
        due_at_ns=int(row[5]),
        caller=caller,
        state=row[8],
        traceparent=row[9],
        tracestate=row[10],
    )


class ScheduleStore:
    """The scheduled-invocation methods of a store (mixed into SqliteStore and
    PostgresStore, which provide ``_tx`` and ``_read``)."""

    _PH = "?"

    if TYPE_CHECKING:  # what the store classes provide (typed loosely: two drivers)

        def _tx(self, method: str) -> AbstractContextManager[Any]:
            raise NotImplementedError

        def _read(self) -> AbstractContextManager[Any]:
            raise NotImplementedError

    def _sql(self, text: str) -> str:
        """``text`` with its ``?`` marks in this store's spelling (host/store/sql_dialect.py)."""
        return text if self._PH == "?" else text.replace("?", self._PH)

    def add_schedule(self, call: ScheduledCall) -> bool:
        """Store ``call`` unless one with its key exists; whether it was new."""
        caller = call.caller
        with self._tx("add_schedule") as db:
            cur = db.execute(
                self._sql(
                    f"INSERT INTO scheduled_calls ({_COLS}, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
                ),
                (
                    call.key,
                    str(call.callee.component_id),
                    call.callee.name,
                    call.function,
                    json.dumps(list(call.params)),
                    call.due_at_ns,
                    None if caller is None else str(caller.component_id),
                    None if caller is None else caller.name,
                    WAITING,
                    call.traceparent,
                    call.tracestate,
                    time.time_ns(),
                ),
            )
            return bool(cur.rowcount)

    def get_schedule(self, key: str) -> ScheduledCall | None:
        with self._read() as db:
            row = db.execute(
                self._sql(f"SELECT {_COLS} FROM scheduled_calls WHERE call_key = ?"), (key,)
            ).fetchone()
        return None if row is None else _row(row)

    def list_schedules(self, caller: AgentId | None = None) -> list[ScheduledCall]:
        """Every scheduled call (of ``caller``), oldest first."""
        where, args = "", ()
        if caller is not None:
            where = " WHERE caller_component_id = ? AND caller_name = ?"
            args = (str(caller.component_id), caller.name)  # type: ignore[assignment]
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    f"SELECT {_COLS} FROM scheduled_calls{where} ORDER BY created_at, call_key"
                ),
                args,
            ).fetchall()
        return [_row(r) for r in rows]

    def due_schedules(self, now_ns: int) -> list[ScheduledCall]:
        """Calls due at ``now_ns`` that are waiting, or were claimed and not finished."""
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    f"SELECT {_COLS} FROM scheduled_calls WHERE state IN (?, ?) "
                    "AND due_at_ns <= ? ORDER BY due_at_ns, call_key"
                ),
                (WAITING, FIRING, now_ns),
            ).fetchall()
        return [_row(r) for r in rows]

    def move_schedule(self, key: str, from_states: tuple[str, ...], to: str) -> bool:
        """Set the call's state to ``to`` if it is in one of ``from_states``; whether it
        was (claiming, cancelling and finishing are all this one atomic step)."""
        marks = ", ".join("?" for _ in from_states)
        with self._tx("move_schedule") as db:
            cur = db.execute(
                self._sql(
                    "UPDATE scheduled_calls SET state = ? "
                    f"WHERE call_key = ? AND state IN ({marks})"
                ),
                (to, key, *from_states),
            )
            return bool(cur.rowcount)


__all__ = [
    "CANCELLED",
    "ENQUEUED",
    "FAILED",
    "FIRING",
    "WAITING",
    "ScheduleStore",
    "ScheduledCall",
]
