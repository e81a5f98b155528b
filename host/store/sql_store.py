"""The store's use cases on SQL, written once for both stores: agents, promises and the
execution transitions, each one transaction (``self._tx``, labelled with its method).
The stores differ only in the hooks of :mod:`host.store.sql_dialect`: on PostgreSQL
every transaction that writes an agent's rows first takes that agent's advisory lock
(``_lock_agents``; ``_fence`` takes it too) and the ones that give an agent work or end
an invocation ``_notify`` other hosts; on SQLite both are nothing, the file's one writer
serializing what the locks serialize."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from host.clock import steady_ns
from host.errors import AgentNotFound, PromiseNotFound
from host.ids import AgentId, PromiseId
from host.oplog import Entry, InvocationFailed, InvocationFinished, InvocationStarted, Suspended
from host.store.base import (
    AgentRecord,
    AgentStatus,
    InvocationState,
    Journal,
    PromiseRecord,
)
from host.store.sql_dialect import _decode, _key, _promise_key
from host.store.sql_transitions import AgentTransitions


class SqlStore(AgentTransitions):
    """The agents, promises and transitions of a SQL store (mixed into
    :class:`~host.store.sqlite.SqliteStore` and :class:`~host.store.postgres.PostgresStore`)."""

    # -- agents -------------------------------------------------------------------
    _AGENT_COLS = (
        "component_id, name, component_hash, status, created_at, last_error, "
        "waiting_promises, wake_at_ns, retry_count, component_version, "
        "(SELECT COALESCE(MAX(idx), 0) FROM oplog o WHERE o.component_id = a.component_id "
        "AND o.name = a.name)"
    )

    def _agent_row(self, row: Sequence[object]) -> AgentRecord:
        cid, name, chash, status, created, err, waiting, wake, retries, version, length = row
        agent = AgentId(uuid.UUID(str(cid)), str(name))
        return AgentRecord(
            agent=agent,
            component_hash=str(chash),
            status=_decode(AgentStatus, status, f"agent {agent}"),
            created_at=int(str(created)),
            last_error=None if err is None else str(err),
            waiting_promises=tuple(int(i) for i in self._unjson(waiting)) if waiting else (),
            wake_at_ns=None if wake is None else int(str(wake)),
            retry_count=int(str(retries)),
            component_version=int(str(version)),
            oplog_length=int(str(length)),
        )

    def create_agent(
        self, agent: AgentId, component_hash: str, created: Entry, component_version: int = 0
    ) -> bool:
        with self._tx("create_agent") as db:
            self._lock_agents(db, agent)
            exists = db.execute(
                self._sql("SELECT 1 FROM agents WHERE component_id = ? AND name = ?"), _key(agent)
            ).fetchone()
            if exists:
                return False
            db.execute(
                self._sql(
                    "INSERT INTO agents (component_id, name, component_hash, component_version, "
                    "status, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (*_key(agent), component_hash, component_version, AgentStatus.IDLE, time.time_ns()),
            )
            self._append(db, agent, 1, [created])
            return True

    def get_agent(self, agent: AgentId) -> AgentRecord:
        with self._read() as db:
            row = db.execute(
                self._sql(
                    f"SELECT {self._AGENT_COLS} FROM agents a WHERE component_id = ? AND name = ?"
                ),
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
                    self._sql(
                        "SELECT component_id, name, status, (SELECT COALESCE(MAX(idx), 0) FROM "
                        "oplog o WHERE o.component_id = a.component_id AND o.name = a.name) "
                        f"FROM agents a WHERE (component_id, name) IN (VALUES {pairs})"
                    ),
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
            rows = db.execute(self._sql(sql + " ORDER BY component_id, name"), args).fetchall()
        return [self._agent_row(r) for r in rows]

    def delete_agent(self, agent: AgentId) -> None:
        with self._tx("delete_agent") as db:
            self._lock_agents(db, agent)
            self._require_agent(db, agent)
            for table in ("oplog", "promises", "invocations", "leases", "agents"):
                db.execute(
                    self._sql(f"DELETE FROM {table} WHERE component_id = ? AND name = ?"),
                    _key(agent),
                )

    def set_component_hash(
        self, agent: AgentId, component_hash: str, component_version: int | None = None
    ) -> None:
        with self._tx("set_component_hash") as db:
            self._lock_agents(db, agent)
            self._require_agent(db, agent)
            self._set_agent(
                db,
                agent,
                "component_hash = ?, component_version = COALESCE(?, component_version)",
                component_hash,
                component_version,
            )

    def set_status(self, agent: AgentId, status: AgentStatus, error: str | None = None) -> None:
        status = AgentStatus(status)  # ValueError for a string that is no status
        with self._tx("set_status") as db:
            self._fence(db, agent)
            self._require_agent(db, agent)
            self._set_agent(
                db, agent, "status = ?, last_error = COALESCE(?, last_error)", status, error
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
                self._sql(
                    "INSERT INTO promises (component_id, name, idx, created_at, function, "
                    "secret_hash) VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (*_key(agent), idx, time.time_ns(), function, secret_hash),
            )
        return PromiseId(agent, idx)

    def promise_secret_hash(self, promise: PromiseId) -> str | None:
        with self._read() as db:
            row = db.execute(
                self._sql(
                    "SELECT secret_hash FROM promises "
                    "WHERE component_id = ? AND name = ? AND idx = ? "
                    f"AND deleted = {self._FALSE}"
                ),
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
                self._sql(
                    f"SELECT {self._PROMISE_COLS} FROM promises "
                    "WHERE component_id = ? AND name = ? AND idx = ? "
                    f"AND deleted = {self._FALSE}"
                ),
                _promise_key(promise),
            ).fetchone()
        if row is None:
            raise PromiseNotFound(str(promise))
        return self._promise_row(row)

    def complete_promise(
        self, promise: PromiseId, data: bytes, journal: Journal | None = None
    ) -> bool:
        with self._tx("complete_promise") as db:
            # Both agents' locks in one sorted step (no deadlock), then the fencing check.
            self._lock_agents(db, promise.agent, *(() if journal is None else (journal[0],)))
            if journal is not None:
                self._fence(db, journal[0])
            row = db.execute(
                self._sql(
                    "SELECT completed FROM promises "
                    "WHERE component_id = ? AND name = ? AND idx = ? "
                    f"AND deleted = {self._FALSE}"
                ),
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

    def _complete(self, db: Any, promise: PromiseId, data: bytes) -> None:
        """Complete a pending promise and wake its owner (inside the caller's transaction,
        which holds the owner's lock)."""
        db.execute(
            self._sql(
                f"UPDATE promises SET completed = {self._TRUE}, data = ?, completed_at = ? "
                "WHERE component_id = ? AND name = ? AND idx = ?"
            ),
            (data, time.time_ns(), *_key(promise.agent), promise.oplog_idx),
        )
        # Wake the owner in the same transaction: a suspension either committed before
        # this (and sees the wake-up) or runs after it (and sees the completion).
        owner = db.execute(
            self._sql(
                "SELECT status, waiting_promises FROM agents WHERE component_id = ? AND name = ?"
            ),
            _key(promise.agent),
        ).fetchone()
        if (
            owner
            and owner[0] == AgentStatus.SUSPENDED
            and owner[1]
            and promise.oplog_idx in self._unjson(owner[1])
        ):
            self._set_agent(db, promise.agent, "wake_at_ns = 0")
            self._notify(db, promise.agent, work=True)

    def delete_promise(self, promise: PromiseId) -> None:
        with self._tx("delete_promise") as db:
            self._lock_agents(db, promise.agent)
            cur = db.execute(
                self._sql(
                    f"UPDATE promises SET deleted = {self._TRUE} "
                    "WHERE component_id = ? AND name = ? AND idx = ? "
                    f"AND deleted = {self._FALSE}"
                ),
                _promise_key(promise),
            )
            if cur.rowcount == 0:
                raise PromiseNotFound(str(promise))

    def list_promises(
        self, agent: AgentId | None = None, pending_only: bool = True
    ) -> list[PromiseRecord]:
        sql = f"SELECT {self._PROMISE_COLS} FROM promises WHERE deleted = {self._FALSE}"
        args: list[object] = []
        if agent is not None:
            sql += " AND component_id = ? AND name = ?"
            args += _key(agent)
        if pending_only:
            sql += f" AND completed = {self._FALSE}"
        with self._read() as db:
            rows = db.execute(self._sql(sql + " ORDER BY component_id, name, idx"), args).fetchall()
        return [self._promise_row(r) for r in rows]

    def count_pending_promises(self, agent: AgentId) -> int:
        # One COUNT over the partial index promises_pending (migration 5), not a list of
        # every pending promise per create-promise (F15).
        with self._read() as db:
            row = db.execute(
                self._sql(
                    "SELECT COUNT(*) FROM promises "
                    f"WHERE component_id = ? AND name = ? AND completed = {self._FALSE} "
                    f"AND deleted = {self._FALSE}"
                ),
                _key(agent),
            ).fetchone()
        return int(row[0])

    def deleted_promise_indexes(self, agent: AgentId) -> set[int]:
        """The oplog indexes of the agent's promises that were deleted (by the guest's
        delete-promise or by an operator): their rows stay, marked, as the record."""
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    "SELECT idx FROM promises WHERE component_id = ? AND name = ? "
                    f"AND deleted = {self._TRUE}"
                ),
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
                    self._sql(
                        "SELECT completed FROM promises WHERE component_id = ? AND name = ? "
                        "AND idx = ?"
                    ),
                    (*_key(agent), idx),
                ).fetchone()
                if row is None or row[0]:
                    return False  # completed (or gone) meanwhile: do not suspend
            if entry.wake_at_ns is not None and entry.wake_at_ns <= steady_ns():
                return False
            self._append(db, agent, first_index, [*pending, entry])
            self._set_agent(
                db,
                agent,
                "status = ?, waiting_promises = ?, wake_at_ns = ?",
                AgentStatus.SUSPENDED,
                self._json(list(entry.promises)),
                entry.wake_at_ns,
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
                self._sql("UPDATE invocations SET state = ? WHERE invocation_id = ?"),
                (InvocationState.STARTED, entry.invocation_id),
            )
            self._set_agent(
                db,
                agent,
                "status = ?, waiting_promises = NULL, wake_at_ns = NULL",
                AgentStatus.RUNNING,
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
            if completes is not None:  # both agents' locks in one sorted step
                self._lock_agents(db, agent, completes[0].agent)
            self._fence(db, agent)
            self._append(db, agent, first_index, [*pending, entry])
            if completes is not None:
                promise, data = completes
                row = db.execute(
                    self._sql(
                        "SELECT completed FROM promises "
                        "WHERE component_id = ? AND name = ? AND idx = ? "
                        f"AND deleted = {self._FALSE}"
                    ),
                    _promise_key(promise),
                ).fetchone()
                if row is not None and not row[0]:
                    self._complete(db, promise, data)
            if isinstance(entry, InvocationFinished):
                db.execute(
                    self._sql(
                        "UPDATE invocations SET state = ?, result = ?, finished_at = ? "
                        "WHERE invocation_id = ?"
                    ),
                    (InvocationState.DONE, entry.result, time.time_ns(), entry.invocation_id),
                )
                status, error = AgentStatus.IDLE, None
                ended = "status = ?, last_error = ?, waiting_promises = NULL, wake_at_ns = NULL"
                ended += ", retry_count = 0"  # a success ends the run of retries
            else:
                db.execute(
                    self._sql(
                        "UPDATE invocations SET state = ?, error = ?, finished_at = ? "
                        "WHERE invocation_id = ?"
                    ),
                    (InvocationState.FAILED, entry.error, time.time_ns(), entry.invocation_id),
                )
                status, error = AgentStatus.FAILED, entry.error
                ended = "status = ?, last_error = ?, waiting_promises = NULL, wake_at_ns = NULL"
            self._set_agent(db, agent, ended, status, error)
            self._notify(db, agent, work=False)  # held waits for its result look now

    # -- scheduling ---------------------------------------------------------------
    def runnable_agents(self, now_ns: int) -> list[AgentId]:
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    "SELECT component_id, name FROM agents a WHERE "
                    "(status IN (?, ?) AND wake_at_ns IS NOT NULL AND wake_at_ns <= ?) "
                    "OR status = ? "
                    "OR (status = ? AND EXISTS (SELECT 1 FROM invocations i WHERE "
                    "i.component_id = a.component_id AND i.name = a.name AND i.state = ?)) "
                    "ORDER BY component_id, name"
                ),
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


__all__ = ["SqlStore"]
