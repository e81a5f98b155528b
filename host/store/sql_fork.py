"""Forking an agent, written once for both SQL stores (the rules are
:meth:`host.store.base.Store.fork_agent`'s): the copy's oplog, promises and status in one
transaction, under both agents' locks on PostgreSQL (``_lock_agents``,
host/store/sql_dialect.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from host import oplog
from host.errors import AgentExists, AgentNotFound, InvalidInput
from host.ids import AgentId, PromiseId
from host.oplog import Entry, InvocationStarted
from host.store.base import AgentStatus, InvocationState
from host.store.sql_dialect import SqlDialect, _key


class SqlFork(SqlDialect):
    """``fork_agent`` for the SQL stores."""

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
        component: tuple[str, int] | None = None,
    ) -> None:
        with self._tx("fork_agent") as db:
            self._lock_agents(db, source, target)
            row = db.execute(
                self._sql(
                    "SELECT component_hash, component_version FROM agents "
                    "WHERE component_id = ? AND name = ?"
                ),
                _key(source),
            ).fetchone()
            if row is None:
                raise AgentNotFound(str(source))
            if db.execute(
                self._sql("SELECT 1 FROM agents WHERE component_id = ? AND name = ?"), _key(target)
            ).fetchone():
                raise AgentExists(str(target))
            (length,) = db.execute(
                self._sql(
                    "SELECT COALESCE(MAX(idx), 0) FROM oplog WHERE component_id = ? AND name = ?"
                ),
                _key(source),
            ).fetchone()
            if not 1 <= cut_off <= int(length):
                raise InvalidInput(
                    f"cannot fork {source} at oplog index {cut_off}: its oplog has "
                    f"entries 1..{length}"
                )
            db.execute(
                self._sql(
                    "INSERT INTO agents (component_id, name, component_hash, component_version, "
                    "status, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (
                    *_key(target),
                    *(component if component is not None else (row[0], row[1])),
                    AgentStatus.IDLE if resume is None else AgentStatus.RUNNING,
                    time.time_ns(),
                ),
            )
            db.execute(
                self._sql(
                    "INSERT INTO oplog (component_id, name, idx, entry, data, kind) "
                    "SELECT ?, ?, idx, entry, data, kind "
                    "FROM oplog WHERE component_id = ? AND name = ? AND idx <= ?"
                ),
                (*_key(target), *_key(source), cut_off),
            )
            db.executemany(
                self._sql(
                    "UPDATE oplog SET entry = ? WHERE component_id = ? AND name = ? AND idx = ?"
                ),
                [(oplog.encode(e), *_key(target), i) for i, e in (replace or {}).items()],
            )
            self._append(db, target, cut_off + 1, tail)
            if resume is not None:
                db.execute(
                    self._sql(
                        f"INSERT INTO invocations ({self._INV_COLS}) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                    ),
                    (
                        *_key(target),
                        1,
                        resume.invocation_id,
                        resume.function,
                        self._json(list(resume.params)),
                        resume.idempotency_key,
                        InvocationState.STARTED,
                        None,
                        None,
                        time.time_ns(),
                        resume.traceparent,
                        resume.tracestate,
                    ),
                )
            promises = db.execute(
                self._sql(
                    "SELECT idx, created_at, function, completed, data, completed_at, deleted, "
                    "secret_hash FROM promises WHERE component_id = ? AND name = ? AND idx <= ?"
                ),
                (*_key(source), cut_off),
            ).fetchall()
            db.executemany(
                self._sql(
                    "INSERT INTO promises (component_id, name, idx, created_at, function, "
                    "completed, data, completed_at, deleted, secret_hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
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


__all__ = ["SqlFork"]
