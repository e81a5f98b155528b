"""The SQLite store's components, limits, agent types and invocation queue (split from
host/store/sqlite.py to keep modules small; host/store/postgres_catalog.py is the
PostgreSQL store's)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Sequence

from host.errors import AgentNotFound, ComponentNotFound, IdempotencyKeyReused
from host.ids import AgentId
from host.store.base import (
    FIRST_VERSION,
    AgentStatus,
    ComponentRecord,
    InvocationRecord,
    InvocationState,
)
from host.store.sqlite_db import _decode, _key
from host.store.sqlite_leases import SqliteLeases


class SqliteCatalog(SqliteLeases):
    """Components, limits, agent types and the invocation queue."""

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
                cid, version = str(uuid.uuid4()), FIRST_VERSION
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

    def get_limits_of(self, scopes: Sequence[str]) -> list[dict[str, object]]:
        with self._read() as db:
            rows = db.execute(
                f"SELECT scope, data FROM limits WHERE scope IN ({','.join('?' * len(scopes))})",
                list(scopes),
            ).fetchall()
        found = {str(scope): dict(json.loads(data)) for scope, data in rows}
        return [found.get(scope, {}) for scope in scopes]

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

    def open_invocations(self, component_id: str | None = None) -> list[InvocationRecord]:
        sql = f"SELECT {self._INV_COLS} FROM invocations WHERE state IN (?, ?)"
        args: list[object] = [InvocationState.QUEUED, InvocationState.STARTED]
        if component_id is not None:
            sql += " AND component_id = ?"
            args.append(component_id)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY component_id, name, seq", args).fetchall()
        return [self._inv_row(r) for r in rows]

    def _require_agent(self, db: sqlite3.Connection, agent: AgentId) -> AgentStatus:
        row = db.execute(
            "SELECT status FROM agents WHERE component_id = ? AND name = ?", _key(agent)
        ).fetchone()
        if row is None:
            raise AgentNotFound(str(agent))
        return _decode(AgentStatus, row[0], f"agent {agent}")
