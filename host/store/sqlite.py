"""The embedded default store: one SQLite database file (the store's use cases; the file
itself is :mod:`host.store.sqlite_db`, leases are :mod:`host.store.sqlite_leases`).

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
from collections.abc import Callable, Sequence

from host import oplog
from host.clock import steady_ns
from host.errors import (
    AgentExists,
    AgentNotFound,
    ComponentNotFound,
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    OplogConflict,
    PromiseNotFound,
)
from host.ids import AgentId, PromiseId
from host.oplog import Entry, InvocationFailed, InvocationFinished, InvocationStarted, Suspended
from host.store.base import (
    AgentRecord,
    AgentStatus,
    ComponentRecord,
    InvocationRecord,
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
from host.store.sqlite_leases import Clock, SqliteLeases, lease_owner
from host.store.wakeup import SqliteWakeups


class SqliteStore(SqliteWakeups, SqliteLeases, Store):
    """The :class:`~host.store.base.Store` on one SQLite file (with the local wake-up
    channel of host/store/wakeup.py between the processes sharing it)."""

    # -- components ---------------------------------------------------------------
    def add_component(self, name: str, hash: str, size: int) -> ComponentRecord:
        with self._tx("add_component") as db:
            row = db.execute(
                "SELECT id, MAX(version) FROM components WHERE name = ?", (name,)
            ).fetchone()
            if row[0] is not None:
                cid, version = row[0], row[1] + 1
                same = db.execute(
                    "SELECT version FROM components WHERE id = ? AND version = ? AND hash = ?",
                    (cid, row[1], hash),
                ).fetchone()
                if same:  # the same bytes again: nothing new to register
                    return self._component(db, cid)
            else:
                cid, version = str(uuid.uuid4()), 1
            db.execute(
                "INSERT INTO components (id, name, version, hash, size, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (cid, name, version, hash, size, time.time_ns()),
            )
            return self._component(db, cid)

    def set_agent_types(self, hash: str, types_json: str) -> None:
        with self._tx("set_agent_types") as db:
            db.execute(
                "INSERT OR REPLACE INTO agent_types (hash, types) VALUES (?, ?)",
                (hash, types_json),
            )

    def get_agent_types(self, hash: str) -> str | None:
        with self._read() as db:
            row = db.execute("SELECT types FROM agent_types WHERE hash = ?", (hash,)).fetchone()
        return None if row is None else str(row[0])

    def _component(self, db: sqlite3.Connection, ref: str) -> ComponentRecord:
        row = db.execute(
            "SELECT id, name, version, hash, size, created_at FROM components "
            "WHERE id = ? OR name = ? ORDER BY version DESC LIMIT 1",
            (ref, ref),
        ).fetchone()
        if row is None:
            raise ComponentNotFound(ref)
        return ComponentRecord(*row)

    def get_component(self, ref: str) -> ComponentRecord:
        with self._read() as db:
            return self._component(db, ref)

    def list_components(self) -> list[ComponentRecord]:
        with self._read() as db:
            rows = db.execute(
                "SELECT id, name, version, hash, size, created_at FROM components c "
                "WHERE version = (SELECT MAX(version) FROM components WHERE id = c.id) "
                "ORDER BY name"
            ).fetchall()
        return [ComponentRecord(*r) for r in rows]

    def list_component_versions(self, component_id: str) -> list[ComponentRecord]:
        with self._read() as db:
            rows = db.execute(
                "SELECT id, name, version, hash, size, created_at FROM components "
                "WHERE id = ? ORDER BY version",
                (component_id,),
            ).fetchall()
        return [ComponentRecord(*r) for r in rows]

    def set_limits(self, scope: str, limits: dict[str, object]) -> None:
        with self._tx("set_limits") as db:
            if limits:
                db.execute(
                    "INSERT OR REPLACE INTO limits (scope, data) VALUES (?, ?)",
                    (scope, json.dumps(limits, sort_keys=True)),
                )
            else:
                db.execute("DELETE FROM limits WHERE scope = ?", (scope,))

    def get_limits(self, scope: str) -> dict[str, object]:
        with self._read() as db:
            row = db.execute("SELECT data FROM limits WHERE scope = ?", (scope,)).fetchone()
        return {} if row is None else dict(json.loads(row[0]))

    def retry(self, agent: AgentId) -> str | None:
        with self._tx("retry") as db:
            status = self._require_agent(db, agent)
            if status != AgentStatus.FAILED:
                raise Conflict(f"agent {agent} is {status}, not failed: nothing to retry")
            row = db.execute(
                "SELECT idx, entry FROM oplog WHERE component_id = ? AND name = ? "
                "ORDER BY idx DESC LIMIT 1",
                _key(agent),
            ).fetchone()
            last = oplog.decode(row[1])
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
                (*_key(target), row[0], AgentStatus.IDLE, time.time_ns()),
            )
            db.execute(
                "INSERT INTO oplog (component_id, name, idx, entry) SELECT ?, ?, idx, entry "
                "FROM oplog WHERE component_id = ? AND name = ? AND idx <= ?",
                (*_key(target), *_key(source), cut_off),
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

    def _require_agent(self, db: sqlite3.Connection, agent: AgentId) -> AgentStatus:
        row = db.execute(
            "SELECT status FROM agents WHERE component_id = ? AND name = ?", _key(agent)
        ).fetchone()
        if row is None:
            raise AgentNotFound(str(agent))
        return _decode(AgentStatus, row[0], f"agent {agent}")

    # -- oplog --------------------------------------------------------------------
    def _append(
        self, db: sqlite3.Connection, agent: AgentId, first: int, entries: Sequence[Entry]
    ) -> None:
        rows = [(*_key(agent), first + i, oplog.encode(e)) for i, e in enumerate(entries)]
        try:
            db.executemany(
                "INSERT INTO oplog (component_id, name, idx, entry) VALUES (?, ?, ?, ?)", rows
            )
        except sqlite3.IntegrityError:
            raise OplogConflict(str(agent), first) from None

    def append(
        self,
        agent: AgentId,
        first_index: int,
        entries: Sequence[Entry],
        *,
        component_hash: str | None = None,
    ) -> None:
        if not entries:
            return
        with self._tx("append") as db:
            self._fence(db, agent)
            self._append(db, agent, first_index, entries)
            if component_hash is not None:
                db.execute(
                    "UPDATE agents SET component_hash = ? WHERE component_id = ? AND name = ?",
                    (component_hash, *_key(agent)),
                )

    def read_oplog(self, agent: AgentId, start: int = 1, count: int | None = None) -> list[Entry]:
        with self._read() as db:
            rows = db.execute(
                "SELECT entry FROM oplog WHERE component_id = ? AND name = ? AND idx >= ? "
                "ORDER BY idx LIMIT ?",
                (*_key(agent), start, -1 if count is None else count),
            ).fetchall()
        return [oplog.decode(r[0]) for r in rows]

    def read_oplog_raw(self, agent: AgentId) -> list[tuple[int, str]]:
        """(index, stored text) of every entry, undecoded: for integrity checks."""
        with self._read() as db:
            rows = db.execute(
                "SELECT idx, entry FROM oplog WHERE component_id = ? AND name = ? ORDER BY idx",
                _key(agent),
            ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def oplog_length(self, agent: AgentId) -> int:
        with self._read() as db:
            row = db.execute(
                "SELECT COALESCE(MAX(idx), 0) FROM oplog WHERE component_id = ? AND name = ?",
                _key(agent),
            ).fetchone()
        return int(row[0])

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

    # -- the invocation queue ---------------------------------------------------------
    _INV_COLS = (
        "component_id, name, seq, invocation_id, function, params, idempotency_key, state, "
        "result, error, created_at"
    )

    @staticmethod
    def _inv_row(row: Sequence[object]) -> InvocationRecord:
        cid, name, seq, iid, fn, params, key, state, result, error, created = row
        return InvocationRecord(
            agent=AgentId(uuid.UUID(str(cid)), str(name)),
            seq=int(str(seq)),
            invocation_id=str(iid),
            function=str(fn),
            params=tuple(json.loads(str(params))),
            idempotency_key=None if key is None else str(key),
            state=_decode(InvocationState, state, f"invocation {iid}"),
            result=None if result is None else str(result),
            error=None if error is None else str(error),
            created_at=int(str(created)),
        )

    def enqueue(
        self,
        agent: AgentId,
        invocation_id: str,
        function: str,
        params: Sequence[str],
        idempotency_key: str | None,
    ) -> InvocationRecord:
        with self._tx("enqueue") as db:
            self._require_agent(db, agent)
            if idempotency_key is not None:
                row = db.execute(
                    f"SELECT {self._INV_COLS} FROM invocations WHERE component_id = ? "
                    "AND name = ? AND idempotency_key = ?",
                    (*_key(agent), idempotency_key),
                ).fetchone()
                if row is not None:
                    first = self._inv_row(row)
                    if first.function != function or first.params != tuple(params):
                        raise IdempotencyKeyReused(
                            idempotency_key,
                            str(agent),
                            first.function,
                            first.invocation_id,
                            function,
                        )
                    return first
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM invocations "
                "WHERE component_id = ? AND name = ?",
                _key(agent),
            ).fetchone()[0]
            db.execute(
                f"INSERT INTO invocations ({self._INV_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    *_key(agent),
                    seq,
                    invocation_id,
                    function,
                    json.dumps(list(params)),
                    idempotency_key,
                    InvocationState.QUEUED,
                    None,
                    None,
                    time.time_ns(),
                ),
            )
            row = db.execute(
                f"SELECT {self._INV_COLS} FROM invocations WHERE invocation_id = ?",
                (invocation_id,),
            ).fetchone()
            return self._inv_row(row)

    def get_invocation(self, invocation_id: str) -> InvocationRecord:
        with self._read() as db:
            row = db.execute(
                f"SELECT {self._INV_COLS} FROM invocations WHERE invocation_id = ?",
                (invocation_id,),
            ).fetchone()
        if row is None:
            from host.errors import NotFound

            raise NotFound(f"invocation {invocation_id} does not exist")
        return self._inv_row(row)

    def list_invocations(
        self, agent: AgentId, states: Sequence[str] | None = None
    ) -> list[InvocationRecord]:
        sql = f"SELECT {self._INV_COLS} FROM invocations WHERE component_id = ? AND name = ?"
        args: list[object] = [*_key(agent)]
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += list(states)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY seq", args).fetchall()
        return [self._inv_row(r) for r in rows]

    def first_entries(self, component_id: str | None = None) -> dict[AgentId, Entry]:
        sql = "SELECT component_id, name, entry FROM oplog WHERE idx = 1"
        args: list[object] = []
        if component_id is not None:
            sql += " AND component_id = ?"
            args.append(component_id)
        with self._read() as db:
            rows = db.execute(sql, args).fetchall()
        return {AgentId(uuid.UUID(str(c)), str(n)): oplog.decode(e) for c, n, e in rows}

    def open_invocations(self, component_id: str | None = None) -> list[InvocationRecord]:
        sql = f"SELECT {self._INV_COLS} FROM invocations WHERE state IN (?, ?)"
        args: list[object] = [InvocationState.QUEUED, InvocationState.STARTED]
        if component_id is not None:
            sql += " AND component_id = ?"
            args.append(component_id)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY component_id, name, seq", args).fetchall()
        return [self._inv_row(r) for r in rows]

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
