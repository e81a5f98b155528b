"""The PostgreSQL store's components, limits, agent types and invocation queue (split
from host/store/postgres.py to keep modules small; the same semantics as the SQLite
store's)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from host.errors import ComponentNotFound, IdempotencyKeyReused
from host.ids import AgentId
from host.store.base import AgentStatus, ComponentRecord, InvocationRecord, InvocationState
from host.store.postgres_db import agent_key
from host.store.postgres_leases import PostgresLeases
from host.store.sqlite_db import _decode


class PostgresCatalog(PostgresLeases):
    """Components, limits, agent types and the invocation queue."""

    # -- components ---------------------------------------------------------------
    def add_component(self, name: str, hash: str, size: int) -> ComponentRecord:
        with self._tx("add_component") as db:
            # One registration per name at a time (the next version number, a new id).
            db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 1))", (name,))
            row = db.execute(
                "SELECT id, version FROM components WHERE name = %s ORDER BY version DESC LIMIT 1",
                (name,),
            ).fetchone()
            if row is not None:
                cid, version = row[0], row[1] + 1
                same = db.execute(
                    "SELECT version FROM components WHERE id = %s AND version = %s AND hash = %s",
                    (cid, row[1], hash),
                ).fetchone()
                if same:  # the same bytes again: nothing new to register
                    return self._component(db, cid)
            else:
                cid, version = str(uuid.uuid4()), 1
            db.execute(
                "INSERT INTO components (id, name, version, hash, size, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (cid, name, version, hash, size, time.time_ns()),
            )
            return self._component(db, cid)

    def set_agent_types(self, hash: str, types_json: str) -> None:
        with self._tx("set_agent_types") as db:
            db.execute(
                "INSERT INTO agent_types (hash, types) VALUES (%s, %s) "
                "ON CONFLICT (hash) DO UPDATE SET types = EXCLUDED.types",
                (hash, types_json),
            )

    def get_agent_types(self, hash: str) -> str | None:
        with self._read() as db:
            row = db.execute("SELECT types FROM agent_types WHERE hash = %s", (hash,)).fetchone()
        return None if row is None else str(row[0])

    def _component(self, db: Any, ref: str) -> ComponentRecord:
        row = db.execute(
            "SELECT id, name, version, hash, size, created_at FROM components "
            "WHERE id = %s OR name = %s ORDER BY version DESC LIMIT 1",
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
                "WHERE id = %s ORDER BY version",
                (component_id,),
            ).fetchall()
        return [ComponentRecord(*r) for r in rows]

    def set_limits(self, scope: str, limits: dict[str, object]) -> None:
        with self._tx("set_limits") as db:
            if limits:
                db.execute(
                    "INSERT INTO limits (scope, data) VALUES (%s, %s) "
                    "ON CONFLICT (scope) DO UPDATE SET data = EXCLUDED.data",
                    (scope, Jsonb(limits)),
                )
            else:
                db.execute("DELETE FROM limits WHERE scope = %s", (scope,))

    def get_limits(self, scope: str) -> dict[str, object]:
        with self._read() as db:
            row = db.execute("SELECT data FROM limits WHERE scope = %s", (scope,)).fetchone()
        return {} if row is None else dict(row[0])

    def get_limits_of(self, scopes: Sequence[str]) -> list[dict[str, object]]:
        with self._read() as db:
            rows = db.execute(
                "SELECT scope, data FROM limits WHERE scope = ANY(%s)", (list(scopes),)
            ).fetchall()
        found = {str(scope): dict(data) for scope, data in rows}
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
            params=tuple(str(p) for p in params),  # type: ignore[attr-defined]
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
            self._lock_agents(db, agent)
            self._require_agent(db, agent)
            if idempotency_key is not None:
                row = db.execute(
                    f"SELECT {self._INV_COLS} FROM invocations WHERE component_id = %s "
                    "AND name = %s AND idempotency_key = %s",
                    (*agent_key(agent), idempotency_key),
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
                "WHERE component_id = %s AND name = %s",
                agent_key(agent),
            ).fetchone()[0]
            db.execute(
                f"INSERT INTO invocations ({self._INV_COLS}) VALUES ({', '.join(['%s'] * 11)})",
                (
                    *agent_key(agent),
                    seq,
                    invocation_id,
                    function,
                    Jsonb(list(params)),
                    idempotency_key,
                    InvocationState.QUEUED,
                    None,
                    None,
                    time.time_ns(),
                ),
            )
            row = db.execute(
                f"SELECT {self._INV_COLS} FROM invocations WHERE invocation_id = %s",
                (invocation_id,),
            ).fetchone()
            self._notify(db, agent, work=True)
            return self._inv_row(row)

    def get_invocation(self, invocation_id: str) -> InvocationRecord:
        with self._read() as db:
            row = db.execute(
                f"SELECT {self._INV_COLS} FROM invocations WHERE invocation_id = %s",
                (invocation_id,),
            ).fetchone()
        if row is None:
            from host.errors import NotFound

            raise NotFound(f"invocation {invocation_id} does not exist")
        return self._inv_row(row)

    def list_invocations(
        self, agent: AgentId, states: Sequence[str] | None = None
    ) -> list[InvocationRecord]:
        sql = f"SELECT {self._INV_COLS} FROM invocations WHERE component_id = %s AND name = %s"
        args: list[object] = [*agent_key(agent)]
        if states:
            sql += " AND state = ANY(%s)"
            args.append([str(state) for state in states])
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY seq", args).fetchall()
        return [self._inv_row(r) for r in rows]

    def open_invocations(self, component_id: str | None = None) -> list[InvocationRecord]:
        sql = f"SELECT {self._INV_COLS} FROM invocations WHERE state = ANY(%s)"
        args: list[object] = [[str(InvocationState.QUEUED), str(InvocationState.STARTED)]]
        if component_id is not None:
            sql += " AND component_id = %s"
            args.append(component_id)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY component_id, name, seq", args).fetchall()
        return [self._inv_row(r) for r in rows]

    def _require_agent(self, db: Any, agent: AgentId) -> AgentStatus:
        row = db.execute(
            "SELECT status FROM agents WHERE component_id = %s AND name = %s", agent_key(agent)
        ).fetchone()
        if row is None:
            from host.errors import AgentNotFound

            raise AgentNotFound(str(agent))
        return _decode(AgentStatus, row[0], f"agent {agent}")
