"""The embedded default store: one SQLite database file (the store's use cases; the file
itself is :mod:`host.store.sqlite_db`, leases are :mod:`host.store.sqlite_leases`,
components, limits and the invocation queue :mod:`host.store.sqlite_catalog`).

Every public method runs as one ``BEGIN IMMEDIATE`` transaction on a
per-thread connection, so two host processes sharing the file serialize their
writes instead of failing half way. Each transaction is labelled with the method
that runs it (``self._tx("suspend")``) and ends in :meth:`SqliteStore._commit`,
the one place a subclass can hook a commit (:mod:`host.store.crashpoint` does).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

from host import oplog
from host.clock import steady_ns
from host.errors import (
    AgentExists,
    AgentNotFound,
    Conflict,
    InvalidInput,
    PromiseNotFound,
)
from host.ids import AgentId, PromiseId
from host.oplog import Entry, InvocationFailed, InvocationFinished, InvocationStarted, Suspended
from host.oplog_codec import decode_row
from host.store.base import (
    AgentRecord,
    AgentStatus,
    InvocationState,
    Journal,
    PromiseRecord,
    Store,
)
from host.store.sqlite_db import (
    RESTORE_ADVICE,
    SqliteDatabase,
    _decode,
    _key,
    _promise_key,
    store_error,
)
from host.store.sqlite_leases import Clock, lease_owner
from host.store.sqlite_oplog import SqliteOplog
from host.store.wakeup import SqliteWakeups


class SqliteStore(SqliteWakeups, SqliteOplog, Store):
    """The :class:`~host.store.base.Store` on one SQLite file (with the local wake-up
    channel of host/store/wakeup.py between the processes sharing it)."""

    def retry(self, agent: AgentId) -> str | None:
        with self._tx("retry") as db:
            status = self._require_agent(db, agent)
            if status != AgentStatus.FAILED:
                raise Conflict(f"agent {agent} is {status}, not failed: nothing to retry")
            row = db.execute(
                "SELECT idx, entry, data FROM oplog WHERE component_id = ? AND name = ? "
                "ORDER BY idx DESC LIMIT 1",
                _key(agent),
            ).fetchone()
            last = decode_row(row[1], row[2])
            invocation = None
            if isinstance(last, InvocationFailed):
                invocation = last.invocation_id
                self._append(db, agent, row[0] + 1, [oplog.Retried(invocation)])
                db.execute(
                    "UPDATE invocations SET state = ?, error = NULL, finished_at = NULL "
                    "WHERE invocation_id = ?",
                    (InvocationState.STARTED, invocation),
                )
            # Otherwise it failed while replaying (a divergence, an instantiation error):
            # nothing was recorded, and the next replay simply tries again.
            db.execute(
                "UPDATE agents SET status = ?, retry_count = 0 WHERE component_id = ? AND name = ?",
                (AgentStatus.RUNNING, *_key(agent)),
            )
            return invocation

    def retry_later(
        self,
        agent: AgentId,
        pending: Sequence[Entry],
        first_index: int,
        failed: InvocationFailed,
        wake_at_ns: int,
    ) -> None:
        with self._tx("retry_later") as db:
            self._fence(db, agent)
            self._append(
                db, agent, first_index, [*pending, failed, oplog.Retried(failed.invocation_id)]
            )
            db.execute(
                "UPDATE invocations SET state = ?, error = NULL, finished_at = NULL "
                "WHERE invocation_id = ?",
                (InvocationState.STARTED, failed.invocation_id),
            )
            db.execute(
                "UPDATE agents SET status = ?, last_error = ?, waiting_promises = NULL, "
                "wake_at_ns = ?, retry_count = retry_count + 1 "
                "WHERE component_id = ? AND name = ?",
                (AgentStatus.RETRYING, failed.error, wake_at_ns, *_key(agent)),
            )

    def interrupt(self, agent: AgentId) -> AgentStatus:
        with self._tx("interrupt") as db:
            status = self._require_agent(db, agent)
            if status == AgentStatus.RUNNING:
                raise Conflict(
                    f"agent {agent} is running an invocation in another process; interrupt "
                    "it through the process that runs it (POST .../interrupt to its server)"
                )
            if status in (AgentStatus.IDLE, AgentStatus.SUSPENDED, AgentStatus.RETRYING):
                db.execute(
                    "UPDATE agents SET status = ? WHERE component_id = ? AND name = ?",
                    (AgentStatus.INTERRUPTED, *_key(agent)),
                )
            return status

    def resume(self, agent: AgentId) -> None:
        with self._tx("resume") as db:
            status = self._require_agent(db, agent)
            if status != AgentStatus.INTERRUPTED:
                raise Conflict(f"agent {agent} is {status}, not interrupted")
            # Due now: a replay re-checks whatever it was waiting for and runs its queue.
            db.execute(
                "UPDATE agents SET status = ?, wake_at_ns = 0 WHERE component_id = ? AND name = ?",
                (AgentStatus.SUSPENDED, *_key(agent)),
            )

    # -- agents -------------------------------------------------------------------
    _AGENT_COLS = (
        "component_id, name, component_hash, status, created_at, last_error, "
        "waiting_promises, wake_at_ns, retry_count, "
        "(SELECT COALESCE(MAX(idx), 0) FROM oplog o WHERE o.component_id = a.component_id "
        "AND o.name = a.name)"
    )

    @staticmethod
    def _agent_row(row: Sequence[object]) -> AgentRecord:
        cid, name, chash, status, created, err, waiting, wake, retries, length = row
        agent = AgentId(uuid.UUID(str(cid)), str(name))
        return AgentRecord(
            agent=agent,
            component_hash=str(chash),
            status=_decode(AgentStatus, status, f"agent {agent}"),
            created_at=int(str(created)),
            last_error=None if err is None else str(err),
            waiting_promises=tuple(json.loads(str(waiting))) if waiting else (),
            wake_at_ns=None if wake is None else int(str(wake)),
            retry_count=int(str(retries)),
            oplog_length=int(str(length)),
        )

    def create_agent(self, agent: AgentId, component_hash: str, created: Entry) -> bool:
        with self._tx("create_agent") as db:
            exists = db.execute(
                "SELECT 1 FROM agents WHERE component_id = ? AND name = ?", _key(agent)
            ).fetchone()
            if exists:
                return False
            db.execute(
                "INSERT INTO agents (component_id, name, component_hash, status, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (*_key(agent), component_hash, AgentStatus.IDLE, time.time_ns()),
            )
            self._append(db, agent, 1, [created])
            return True

    def fork_agent(
        self,
        source: AgentId,
        target: AgentId,
        cut_off: int,
        secret_hash: Callable[[PromiseId], str] | None = None,
        *,
        replace: Mapping[int, Entry] | None = None,
        tail: Sequence[Entry] = (),
        resume: InvocationStarted | None = None,
    ) -> None:
        with self._tx("fork_agent") as db:
            row = db.execute(
                "SELECT component_hash FROM agents WHERE component_id = ? AND name = ?",
                _key(source),
            ).fetchone()
            if row is None:
                raise AgentNotFound(str(source))
            if db.execute(
                "SELECT 1 FROM agents WHERE component_id = ? AND name = ?", _key(target)
            ).fetchone():
                raise AgentExists(str(target))
            (length,) = db.execute(
                "SELECT COALESCE(MAX(idx), 0) FROM oplog WHERE component_id = ? AND name = ?",
                _key(source),
            ).fetchone()
            if not 1 <= cut_off <= int(length):
                raise InvalidInput(
                    f"cannot fork {source} at oplog index {cut_off}: its oplog has "
                    f"entries 1..{length}"
                )
            db.execute(
                "INSERT INTO agents (component_id, name, component_hash, status, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    *_key(target),
                    row[0],
                    AgentStatus.IDLE if resume is None else AgentStatus.RUNNING,
                    time.time_ns(),
                ),
            )
            db.execute(
                "INSERT INTO oplog (component_id, name, idx, entry, data, kind) "
                "SELECT ?, ?, idx, entry, data, kind "
                "FROM oplog WHERE component_id = ? AND name = ? AND idx <= ?",
                (*_key(target), *_key(source), cut_off),
            )
            db.executemany(
                "UPDATE oplog SET entry = ? WHERE component_id = ? AND name = ? AND idx = ?",
                [(oplog.encode(e), *_key(target), i) for i, e in (replace or {}).items()],
            )
            self._append(db, target, cut_off + 1, tail)
            if resume is not None:
                db.execute(
                    f"INSERT INTO invocations ({self._INV_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        *_key(target),
                        1,
                        resume.invocation_id,
                        resume.function,
                        json.dumps(list(resume.params)),
                        resume.idempotency_key,
                        InvocationState.STARTED,
                        None,
                        None,
                        time.time_ns(),
                    ),
                )
            promises = db.execute(
                "SELECT idx, created_at, function, completed, data, completed_at, deleted, "
                "secret_hash FROM promises WHERE component_id = ? AND name = ? AND idx <= ?",
                (*_key(source), cut_off),
            ).fetchall()
            db.executemany(
                "INSERT INTO promises (component_id, name, idx, created_at, function, completed, "
                "data, completed_at, deleted, secret_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        *_key(target),
                        *row[:7],
                        secret_hash(PromiseId(target, int(row[0])))
                        if row[7] is not None and secret_hash is not None
                        else None,
                    )
                    for row in promises
                ],
            )

    def get_agent(self, agent: AgentId) -> AgentRecord:
        with self._read() as db:
            row = db.execute(
                f"SELECT {self._AGENT_COLS} FROM agents a WHERE component_id = ? AND name = ?",
                _key(agent),
            ).fetchone()
        if row is None:
            raise AgentNotFound(str(agent))
        return self._agent_row(row)

    def agent_marks(self, agents: Sequence[AgentId]) -> dict[AgentId, tuple[str, int]]:
        marks: dict[AgentId, tuple[str, int]] = {}
        wanted = list(agents)
        with self._read() as db:
            for start in range(0, len(wanted), 400):  # 800 parameters a query at most
                chunk = wanted[start : start + 400]
                pairs = ",".join("(?, ?)" for _ in chunk)
                rows = db.execute(
                    "SELECT component_id, name, status, (SELECT COALESCE(MAX(idx), 0) FROM "
                    "oplog o WHERE o.component_id = a.component_id AND o.name = a.name) "
                    f"FROM agents a WHERE (component_id, name) IN (VALUES {pairs})",
                    [v for agent in chunk for v in _key(agent)],
                ).fetchall()
                for cid, name, status, length in rows:
                    marks[AgentId(uuid.UUID(str(cid)), str(name))] = (str(status), int(length))
        return marks

    def list_agents(
        self, component_id: str | None = None, status: str | None = None
    ) -> list[AgentRecord]:
        sql = f"SELECT {self._AGENT_COLS} FROM agents a WHERE 1=1"
        args: list[object] = []
        if component_id is not None:
            sql += " AND component_id = ?"
            args.append(component_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY component_id, name", args).fetchall()
        return [self._agent_row(r) for r in rows]

    def delete_agent(self, agent: AgentId) -> None:
        with self._tx("delete_agent") as db:
            self._require_agent(db, agent)
            for table in ("oplog", "promises", "invocations", "leases", "agents"):
                db.execute(f"DELETE FROM {table} WHERE component_id = ? AND name = ?", _key(agent))

    def set_component_hash(self, agent: AgentId, component_hash: str) -> None:
        with self._tx("set_component_hash") as db:
            self._require_agent(db, agent)
            db.execute(
                "UPDATE agents SET component_hash = ? WHERE component_id = ? AND name = ?",
                (component_hash, *_key(agent)),
            )

    def set_status(self, agent: AgentId, status: AgentStatus, error: str | None = None) -> None:
        status = AgentStatus(status)  # ValueError for a string that is no status
        with self._tx("set_status") as db:
            self._fence(db, agent)
            self._require_agent(db, agent)
            db.execute(
                "UPDATE agents SET status = ?, last_error = COALESCE(?, last_error) "
                "WHERE component_id = ? AND name = ?",
                (status, error, *_key(agent)),
            )

    # -- promises -----------------------------------------------------------------
    def create_promise(
        self,
        agent: AgentId,
        pending: Sequence[Entry],
        first_index: int,
        function: str | None,
        secret_hash: str | None = None,
    ) -> PromiseId:
        idx = first_index + len(pending) - 1
        with self._tx("create_promise") as db:
            self._fence(db, agent)
            self._append(db, agent, first_index, pending)
            db.execute(
                "INSERT INTO promises (component_id, name, idx, created_at, function, "
                "secret_hash) VALUES (?, ?, ?, ?, ?, ?)",
                (*_key(agent), idx, time.time_ns(), function, secret_hash),
            )
        return PromiseId(agent, idx)

    def promise_secret_hash(self, promise: PromiseId) -> str | None:
        with self._read() as db:
            row = db.execute(
                "SELECT secret_hash FROM promises "
                "WHERE component_id = ? AND name = ? AND idx = ? AND deleted = 0",
                _promise_key(promise),
            ).fetchone()
        if row is None:
            raise PromiseNotFound(str(promise))
        return None if row[0] is None else str(row[0])

    @staticmethod
    def _promise_row(row: Sequence[object]) -> PromiseRecord:
        cid, name, idx, created, function, completed, data, completed_at = row
        return PromiseRecord(
            id=PromiseId(AgentId(uuid.UUID(str(cid)), str(name)), int(str(idx))),
            created_at=int(str(created)),
            function=None if function is None else str(function),
            completed=bool(completed),
            data=None if data is None else bytes(data),  # type: ignore[call-overload]
            completed_at=None if completed_at is None else int(str(completed_at)),
        )

    _PROMISE_COLS = "component_id, name, idx, created_at, function, completed, data, completed_at"

    def get_promise(self, promise: PromiseId) -> PromiseRecord:
        with self._read() as db:
            row = db.execute(
                f"SELECT {self._PROMISE_COLS} FROM promises "
                "WHERE component_id = ? AND name = ? AND idx = ? AND deleted = 0",
                _promise_key(promise),
            ).fetchone()
        if row is None:
            raise PromiseNotFound(str(promise))
        return self._promise_row(row)

    def complete_promise(
        self, promise: PromiseId, data: bytes, journal: Journal | None = None
    ) -> bool:
        with self._tx("complete_promise") as db:
            if journal is not None:
                self._fence(db, journal[0])
            row = db.execute(
                "SELECT completed FROM promises "
                "WHERE component_id = ? AND name = ? AND idx = ? AND deleted = 0",
                _promise_key(promise),
            ).fetchone()
            if row is None:
                raise PromiseNotFound(str(promise))
            if journal is not None:
                agent, first, entries = journal
                self._append(db, agent, first, entries(not row[0]))
            if row[0]:
                return False
            self._complete(db, promise, data)
            return True

    def _complete(self, db: sqlite3.Connection, promise: PromiseId, data: bytes) -> None:
        """Complete a pending promise and wake its owner (inside the caller's transaction)."""
        db.execute(
            "UPDATE promises SET completed = 1, data = ?, completed_at = ? "
            "WHERE component_id = ? AND name = ? AND idx = ?",
            (data, time.time_ns(), *_key(promise.agent), promise.oplog_idx),
        )
        # Wake the owner in the same transaction: a suspension either committed before
        # this (and sees the wake-up) or runs after it (and sees the completion).
        owner = db.execute(
            "SELECT status, waiting_promises FROM agents WHERE component_id = ? AND name = ?",
            _key(promise.agent),
        ).fetchone()
        if (
            owner
            and owner[0] == AgentStatus.SUSPENDED
            and promise.oplog_idx in json.loads(owner[1] or "[]")
        ):
            db.execute(
                "UPDATE agents SET wake_at_ns = 0 WHERE component_id = ? AND name = ?",
                _key(promise.agent),
            )

    def delete_promise(self, promise: PromiseId) -> None:
        with self._tx("delete_promise") as db:
            cur = db.execute(
                "UPDATE promises SET deleted = 1 "
                "WHERE component_id = ? AND name = ? AND idx = ? AND deleted = 0",
                _promise_key(promise),
            )
            if cur.rowcount == 0:
                raise PromiseNotFound(str(promise))

    def list_promises(
        self, agent: AgentId | None = None, pending_only: bool = True
    ) -> list[PromiseRecord]:
        sql = f"SELECT {self._PROMISE_COLS} FROM promises WHERE deleted = 0"
        args: list[object] = []
        if agent is not None:
            sql += " AND component_id = ? AND name = ?"
            args += _key(agent)
        if pending_only:
            sql += " AND completed = 0"
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY component_id, name, idx", args).fetchall()
        return [self._promise_row(r) for r in rows]

    def count_pending_promises(self, agent: AgentId) -> int:
        # One COUNT over the partial index promises_pending (migration 5), not a list of
        # every pending promise per create-promise (F15).
        with self._read() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM promises "
                "WHERE component_id = ? AND name = ? AND completed = 0 AND deleted = 0",
                _key(agent),
            ).fetchone()
        return int(row[0])

    def deleted_promise_indexes(self, agent: AgentId) -> set[int]:
        """The oplog indexes of the agent's promises that were deleted (by the guest's
        delete-promise or by an operator): their rows stay, marked, as the record."""
        with self._read() as db:
            rows = db.execute(
                "SELECT idx FROM promises WHERE component_id = ? AND name = ? AND deleted = 1",
                _key(agent),
            ).fetchall()
        return {int(r[0]) for r in rows}

    # -- execution transitions -------------------------------------------------------
    def suspend(
        self, agent: AgentId, pending: Sequence[Entry], first_index: int, entry: Suspended
    ) -> bool:
        with self._tx("suspend") as db:
            self._fence(db, agent)
            for idx in entry.promises:
                row = db.execute(
                    "SELECT completed FROM promises WHERE component_id = ? AND name = ? "
                    "AND idx = ?",
                    (*_key(agent), idx),
                ).fetchone()
                if row is None or row[0]:
                    return False  # completed (or gone) meanwhile: do not suspend
            if entry.wake_at_ns is not None and entry.wake_at_ns <= steady_ns():
                return False
            self._append(db, agent, first_index, [*pending, entry])
            db.execute(
                "UPDATE agents SET status = ?, waiting_promises = ?, wake_at_ns = ? "
                "WHERE component_id = ? AND name = ?",
                (
                    AgentStatus.SUSPENDED,
                    json.dumps(list(entry.promises)),
                    entry.wake_at_ns,
                    *_key(agent),
                ),
            )
            return True

    def start_invocation(
        self, agent: AgentId, pending: Sequence[Entry], first_index: int, entry: InvocationStarted
    ) -> bool:
        with self._tx("start_invocation") as db:
            self._fence(db, agent)
            if self._require_agent(db, agent) == AgentStatus.INTERRUPTED:
                return False  # interrupted between two invocations: start nothing
            self._append(db, agent, first_index, [*pending, entry])
            db.execute(
                "UPDATE invocations SET state = ? WHERE invocation_id = ?",
                (InvocationState.STARTED, entry.invocation_id),
            )
            db.execute(
                "UPDATE agents SET status = ?, waiting_promises = NULL, wake_at_ns = NULL "
                "WHERE component_id = ? AND name = ?",
                (AgentStatus.RUNNING, *_key(agent)),
            )
            return True

    def finish_invocation(
        self,
        agent: AgentId,
        pending: Sequence[Entry],
        first_index: int,
        entry: InvocationFinished | InvocationFailed,
        *,
        completes: tuple[PromiseId, bytes] | None = None,
    ) -> None:
        with self._tx("finish_invocation") as db:
            self._fence(db, agent)
            self._append(db, agent, first_index, [*pending, entry])
            if completes is not None:
                promise, data = completes
                row = db.execute(
                    "SELECT completed FROM promises "
                    "WHERE component_id = ? AND name = ? AND idx = ? AND deleted = 0",
                    _promise_key(promise),
                ).fetchone()
                if row is not None and not row[0]:
                    self._complete(db, promise, data)
            if isinstance(entry, InvocationFinished):
                db.execute(
                    "UPDATE invocations SET state = ?, result = ?, finished_at = ? "
                    "WHERE invocation_id = ?",
                    (InvocationState.DONE, entry.result, time.time_ns(), entry.invocation_id),
                )
                status, error = AgentStatus.IDLE, None
                db.execute(
                    "UPDATE agents SET retry_count = 0 WHERE component_id = ? AND name = ?",
                    _key(agent),
                )
            else:
                db.execute(
                    "UPDATE invocations SET state = ?, error = ?, finished_at = ? "
                    "WHERE invocation_id = ?",
                    (InvocationState.FAILED, entry.error, time.time_ns(), entry.invocation_id),
                )
                status, error = AgentStatus.FAILED, entry.error
            db.execute(
                "UPDATE agents SET status = ?, last_error = ?, waiting_promises = NULL, "
                "wake_at_ns = NULL WHERE component_id = ? AND name = ?",
                (status, error, *_key(agent)),
            )

    # -- scheduling ---------------------------------------------------------------
    def runnable_agents(self, now_ns: int) -> list[AgentId]:
        with self._read() as db:
            rows = db.execute(
                "SELECT component_id, name FROM agents a WHERE "
                "(status IN (?, ?) AND wake_at_ns IS NOT NULL AND wake_at_ns <= ?) "
                "OR status = ? "
                "OR (status = ? AND EXISTS (SELECT 1 FROM invocations i WHERE "
                "i.component_id = a.component_id AND i.name = a.name AND i.state = ?)) "
                "ORDER BY component_id, name",
                (
                    AgentStatus.SUSPENDED,
                    AgentStatus.RETRYING,
                    now_ns,
                    AgentStatus.RUNNING,
                    AgentStatus.IDLE,
                    InvocationState.QUEUED,
                ),
            ).fetchall()
        return [AgentId(uuid.UUID(r[0]), r[1]) for r in rows]


__all__ = ["Clock", "SqliteDatabase", "SqliteStore", "lease_owner", "store_error", "RESTORE_ADVICE"]
