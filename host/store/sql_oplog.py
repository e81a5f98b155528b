"""An agent's oplog on SQL, written once for both stores: appending and reading its
entries, each row the JSON head and BLOB (BYTEA) of :mod:`host.oplog_codec`; the
transitions of host/store/sql_store.py append through :meth:`SqlOplog._append` inside
their own transactions."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from host.errors import OplogConflict, PromiseNotFound
from host.ids import AgentId, PromiseId
from host.oplog import Entry
from host.oplog_codec import decode_row, decode_rows, kind_of, take_row
from host.store.base import InvocationState
from host.store.oplog_migration import RESUME_KINDS_SQL
from host.store.sql_dialect import SqlDialect, _key, _promise_key


class SqlOplog(SqlDialect):
    """An agent's oplog rows (and a promise's payload, read beside them)."""

    def _append(self, db: Any, agent: AgentId, first: int, entries: Sequence[Entry]) -> None:
        key = _key(agent)
        rows = [(*key, first + i, *take_row(e), kind_of(e)) for i, e in enumerate(entries)]
        try:
            db.executemany(
                self._sql(
                    "INSERT INTO oplog (component_id, name, idx, entry, data, kind) "
                    "VALUES (?, ?, ?, ?, ?, ?)"
                ),
                rows,
            )
        except self._UNIQUE_VIOLATION:
            raise OplogConflict(str(agent), first) from None

    def append(
        self,
        agent: AgentId,
        first_index: int,
        entries: Sequence[Entry],
        *,
        component_hash: str | None = None,
        component_version: int | None = None,
        takes_invocation: str | None = None,
    ) -> None:
        if not entries:
            return
        with self._tx("append") as db:
            self._fence(db, agent)
            self._append(db, agent, first_index, entries)
            if takes_invocation is not None:
                db.execute(
                    self._sql(
                        "UPDATE invocations SET state = ?, finished_at = ? "
                        "WHERE invocation_id = ? AND state = ?"
                    ),
                    (
                        InvocationState.DONE,
                        time.time_ns(),
                        takes_invocation,
                        InvocationState.QUEUED,
                    ),
                )
            if component_hash is not None:
                db.execute(
                    self._sql(
                        "UPDATE agents SET component_hash = ?, "
                        "component_version = COALESCE(?, component_version) "
                        "WHERE component_id = ? AND name = ?"
                    ),
                    (component_hash, component_version, *_key(agent)),
                )

    def read_oplog(self, agent: AgentId, start: int = 1, count: int | None = None) -> list[Entry]:
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    "SELECT entry, data FROM oplog WHERE component_id = ? AND name = ? "
                    "AND idx >= ? ORDER BY idx LIMIT ?"
                ),
                (*_key(agent), start, self._NO_LIMIT if count is None else count),
            ).fetchall()
        return decode_rows(rows)

    def read_oplog_resume_kinds(self, agent: AgentId) -> list[tuple[int, Entry]]:
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    f"SELECT idx, entry, data FROM oplog {self._RESUME_INDEX}"
                    "WHERE component_id = ? AND name = ? "
                    f"AND kind IN {RESUME_KINDS_SQL} ORDER BY idx"
                ),
                _key(agent),
            ).fetchall()
        return [(int(i), decode_row(head, data)) for i, head, data in rows]

    def read_oplog_kinds(self, agent: AgentId, kinds: Sequence[str]) -> list[tuple[int, Entry]]:
        if not kinds:
            return []
        marks = ", ".join("?" for _ in kinds)
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    "SELECT idx, entry, data FROM oplog WHERE component_id = ? AND name = ? "
                    f"AND kind IN ({marks}) ORDER BY idx"
                ),
                (*_key(agent), *kinds),
            ).fetchall()
        return [(int(i), decode_row(head, data)) for i, head, data in rows]

    def read_oplog_raw(self, agent: AgentId) -> list[tuple[int, str, bytes | None]]:
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    "SELECT idx, entry, data FROM oplog WHERE component_id = ? AND name = ? "
                    "ORDER BY idx"
                ),
                _key(agent),
            ).fetchall()
        return [(int(r[0]), str(r[1]), None if r[2] is None else bytes(r[2])) for r in rows]

    def oplog_length(self, agent: AgentId) -> int:
        with self._read() as db:
            row = db.execute(
                self._sql(
                    "SELECT COALESCE(MAX(idx), 0) FROM oplog WHERE component_id = ? AND name = ?"
                ),
                _key(agent),
            ).fetchone()
        return int(row[0])

    def promise_payload(self, promise: PromiseId) -> bytes | None:
        with self._read() as db:
            row = db.execute(
                self._sql(
                    "SELECT completed, data FROM promises "
                    "WHERE component_id = ? AND name = ? AND idx = ?"
                ),
                _promise_key(promise),
            ).fetchone()
        if row is None:
            raise PromiseNotFound(str(promise))
        return bytes(row[1] or b"") if row[0] else None

    def first_entries(
        self, component_id: str | None = None, status: str | None = None
    ) -> dict[AgentId, Entry]:
        sql = "SELECT o.component_id, o.name, o.entry, o.data FROM oplog o WHERE o.idx = 1"
        args: list[object] = []
        if component_id is not None:
            sql += " AND o.component_id = ?"
            args.append(component_id)
        if status is not None:  # only the agents listed: not every agent's first entry
            sql += (
                " AND EXISTS (SELECT 1 FROM agents a WHERE a.component_id = o.component_id "
                "AND a.name = o.name AND a.status = ?)"
            )
            args.append(status)
        with self._read() as db:
            rows = db.execute(self._sql(sql), args).fetchall()
        return {AgentId(uuid.UUID(str(c)), str(n)): decode_row(e, d) for c, n, e, d in rows}


__all__ = ["SqlOplog"]
