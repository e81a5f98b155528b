"""Forking an agent on the PostgreSQL store (a mixin of
:class:`host.store.postgres.PostgresStore`): the copy's oplog, promises and status in
one transaction, under both agents' advisory locks (the rules are
:meth:`host.store.base.Store.fork_agent`'s)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from psycopg.types.json import Jsonb

from host import oplog
from host.errors import AgentExists, AgentNotFound, InvalidInput
from host.ids import AgentId, PromiseId
from host.oplog import Entry, InvocationStarted
from host.store.base import AgentStatus, InvocationState
from host.store.postgres_db import agent_key
from host.store.postgres_oplog import PostgresOplog


class PostgresFork(PostgresOplog):
    """``fork_agent`` for the PostgreSQL store."""

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
            self._lock(db, source, target)
            row = db.execute(
                "SELECT component_hash FROM agents WHERE component_id = %s AND name = %s",
                agent_key(source),
            ).fetchone()
            if row is None:
                raise AgentNotFound(str(source))
            if db.execute(
                "SELECT 1 FROM agents WHERE component_id = %s AND name = %s", agent_key(target)
            ).fetchone():
                raise AgentExists(str(target))
            (length,) = db.execute(
                "SELECT COALESCE(MAX(idx), 0) FROM oplog WHERE component_id = %s AND name = %s",
                agent_key(source),
            ).fetchone()
            if not 1 <= cut_off <= int(length):
                raise InvalidInput(
                    f"cannot fork {source} at oplog index {cut_off}: its oplog has "
                    f"entries 1..{length}"
                )
            db.execute(
                "INSERT INTO agents (component_id, name, component_hash, status, created_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (
                    *agent_key(target),
                    row[0],
                    AgentStatus.IDLE if resume is None else AgentStatus.RUNNING,
                    time.time_ns(),
                ),
            )
            db.execute(
                "INSERT INTO oplog (component_id, name, idx, entry, data, kind) "
                "SELECT %s, %s, idx, entry, data, kind "
                "FROM oplog WHERE component_id = %s AND name = %s AND idx <= %s",
                (*agent_key(target), *agent_key(source), cut_off),
            )
            db.executemany(
                "UPDATE oplog SET entry = %s WHERE component_id = %s AND name = %s AND idx = %s",
                [(oplog.encode(e), *agent_key(target), i) for i, e in (replace or {}).items()],
            )
            self._append(db, target, cut_off + 1, tail)
            if resume is not None:
                db.execute(
                    f"INSERT INTO invocations ({self._INV_COLS}) VALUES "
                    "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    (
                        *agent_key(target),
                        1,
                        resume.invocation_id,
                        resume.function,
                        Jsonb(list(resume.params)),
                        resume.idempotency_key,
                        InvocationState.STARTED,
                        None,
                        None,
                        time.time_ns(),
                    ),
                )
            promises = db.execute(
                "SELECT idx, created_at, function, completed, data, completed_at, deleted, "
                "secret_hash FROM promises WHERE component_id = %s AND name = %s AND idx <= %s",
                (*agent_key(source), cut_off),
            ).fetchall()
            db.executemany(
                "INSERT INTO promises (component_id, name, idx, created_at, function, completed, "
                "data, completed_at, deleted, secret_hash) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        *agent_key(target),
                        *row[:7],
                        secret_hash(PromiseId(target, int(row[0])))
                        if row[7] is not None and secret_hash is not None
                        else None,
                    )
                    for row in promises
                ],
            )
