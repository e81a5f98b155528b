"""Components, limits, agent types and the invocation queue on SQL, written once for both
stores (registering a component, whose next version number each store guards its own
way, stays in host/store/sqlite_catalog.py and postgres_catalog.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from host.errors import AgentNotFound, ComponentNotFound, IdempotencyKeyReused, NotFound
from host.ids import AgentId
from host.store.base import AgentStatus, ComponentRecord, InvocationRecord, InvocationState
from host.store.sql_dialect import SqlDialect, _decode, _key


class SqlCatalog(SqlDialect):
    """Components, limits, agent types and the invocation queue."""

    def set_agent_types(self, hash: str, types_json: str) -> None:
        with self._tx("set_agent_types") as db:
            db.execute(
                self._sql(
                    "INSERT INTO agent_types (hash, types) VALUES (?, ?) "
                    "ON CONFLICT (hash) DO UPDATE SET types = EXCLUDED.types"
                ),
                (hash, types_json),
            )

    def get_agent_types(self, hash: str) -> str | None:
        with self._read() as db:
            row = db.execute(
                self._sql("SELECT types FROM agent_types WHERE hash = ?"), (hash,)
            ).fetchone()
        return None if row is None else str(row[0])

    def _component(self, db: Any, ref: str) -> ComponentRecord:
        row = db.execute(
            self._sql(
                "SELECT id, name, version, hash, size, created_at FROM components "
                "WHERE id = ? OR name = ? ORDER BY version DESC LIMIT 1"
            ),
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
                self._sql(
                    "SELECT id, name, version, hash, size, created_at FROM components c "
                    "WHERE version = (SELECT MAX(version) FROM components WHERE id = c.id) "
                    "ORDER BY name"
                )
            ).fetchall()
        return [ComponentRecord(*r) for r in rows]

    def list_component_versions(self, component_id: str) -> list[ComponentRecord]:
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    "SELECT id, name, version, hash, size, created_at FROM components "
                    "WHERE id = ? ORDER BY version"
                ),
                (component_id,),
            ).fetchall()
        return [ComponentRecord(*r) for r in rows]

    def set_limits(self, scope: str, limits: dict[str, object]) -> None:
        with self._tx("set_limits") as db:
            if limits:
                db.execute(
                    self._sql(
                        "INSERT INTO limits (scope, data) VALUES (?, ?) "
                        "ON CONFLICT (scope) DO UPDATE SET data = EXCLUDED.data"
                    ),
                    (scope, self._json(limits)),
                )
            else:
                db.execute(self._sql("DELETE FROM limits WHERE scope = ?"), (scope,))

    def get_limits(self, scope: str) -> dict[str, object]:
        with self._read() as db:
            row = db.execute(
                self._sql("SELECT data FROM limits WHERE scope = ?"), (scope,)
            ).fetchone()
        return {} if row is None else dict(self._unjson(row[0]))

    def get_limits_of(self, scopes: Sequence[str]) -> list[dict[str, object]]:
        where, args = self._any("scope", scopes)
        with self._read() as db:
            rows = db.execute(
                self._sql(f"SELECT scope, data FROM limits WHERE {where}"), args
            ).fetchall()
        found = {str(scope): dict(self._unjson(data)) for scope, data in rows}
        return [found.get(scope, {}) for scope in scopes]

    # -- host-wide named retry policies (host/retry_policy_json.py's JSON form) --------
    def set_retry_policy(self, name: str, data: dict[str, object]) -> None:
        with self._tx("set_retry_policy") as db:
            db.execute(
                self._sql(
                    "INSERT INTO retry_policies (name, data, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, "
                    "updated_at = EXCLUDED.updated_at"
                ),
                (name, self._json(data), time.time_ns()),
            )

    def remove_retry_policy(self, name: str) -> bool:
        with self._tx("remove_retry_policy") as db:
            cur = db.execute(self._sql("DELETE FROM retry_policies WHERE name = ?"), (name,))
            return bool(cur.rowcount)

    def list_retry_policies(self) -> list[dict[str, object]]:
        with self._read() as db:
            rows = db.execute(self._sql("SELECT data FROM retry_policies ORDER BY name")).fetchall()
        return [dict(self._unjson(row[0])) for row in rows]

    # -- the invocation queue ---------------------------------------------------------
    _INV_COLS = (
        "component_id, name, seq, invocation_id, function, params, idempotency_key, state, "
        "result, error, created_at, traceparent, tracestate"
    )

    def _inv_row(self, row: Sequence[object]) -> InvocationRecord:
        cid, name, seq, iid, fn, params, key, state, result, error, created, trace, tstate = row
        return InvocationRecord(
            agent=AgentId(uuid.UUID(str(cid)), str(name)),
            seq=int(str(seq)),
            invocation_id=str(iid),
            function=str(fn),
            params=tuple(str(p) for p in self._unjson(params)),
            idempotency_key=None if key is None else str(key),
            state=_decode(InvocationState, state, f"invocation {iid}"),
            result=None if result is None else str(result),
            error=None if error is None else str(error),
            created_at=int(str(created)),
            traceparent=None if trace is None else str(trace),
            tracestate=None if tstate is None else str(tstate),
        )

    def enqueue(
        self,
        agent: AgentId,
        invocation_id: str,
        function: str,
        params: Sequence[str],
        idempotency_key: str | None,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> InvocationRecord:
        with self._tx("enqueue") as db:
            self._lock_agents(db, agent)
            self._require_agent(db, agent)
            if idempotency_key is not None:
                row = db.execute(
                    self._sql(
                        f"SELECT {self._INV_COLS} FROM invocations WHERE component_id = ? "
                        "AND name = ? AND idempotency_key = ?"
                    ),
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
                self._sql(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM invocations "
                    "WHERE component_id = ? AND name = ?"
                ),
                _key(agent),
            ).fetchone()[0]
            db.execute(
                self._sql(
                    f"INSERT INTO invocations ({self._INV_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                ),
                (
                    *_key(agent),
                    seq,
                    invocation_id,
                    function,
                    self._json(list(params)),
                    idempotency_key,
                    InvocationState.QUEUED,
                    None,
                    None,
                    time.time_ns(),
                    traceparent,
                    tracestate,
                ),
            )
            row = db.execute(
                self._sql(f"SELECT {self._INV_COLS} FROM invocations WHERE invocation_id = ?"),
                (invocation_id,),
            ).fetchone()
            self._notify(db, agent, work=True)
            return self._inv_row(row)

    def get_invocation(self, invocation_id: str) -> InvocationRecord:
        with self._read() as db:
            row = db.execute(
                self._sql(f"SELECT {self._INV_COLS} FROM invocations WHERE invocation_id = ?"),
                (invocation_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"invocation {invocation_id} does not exist")
        return self._inv_row(row)

    def list_invocations(
        self, agent: AgentId, states: Sequence[str] | None = None
    ) -> list[InvocationRecord]:
        sql = f"SELECT {self._INV_COLS} FROM invocations WHERE component_id = ? AND name = ?"
        args: list[object] = [*_key(agent)]
        if states:
            where, values = self._any("state", states)
            sql += f" AND {where}"
            args += values
        with self._read() as db:
            rows = db.execute(self._sql(sql + " ORDER BY seq"), args).fetchall()
        return [self._inv_row(r) for r in rows]

    def open_invocations(self, component_id: str | None = None) -> list[InvocationRecord]:
        where, args = self._any("state", [InvocationState.QUEUED, InvocationState.STARTED])
        sql = f"SELECT {self._INV_COLS} FROM invocations WHERE {where}"
        if component_id is not None:
            sql += " AND component_id = ?"
            args.append(component_id)
        with self._read() as db:
            rows = db.execute(self._sql(sql + " ORDER BY component_id, name, seq"), args).fetchall()
        return [self._inv_row(r) for r in rows]

    def _require_agent(self, db: Any, agent: AgentId) -> AgentStatus:
        row = db.execute(
            self._sql("SELECT status FROM agents WHERE component_id = ? AND name = ?"), _key(agent)
        ).fetchone()
        if row is None:
            raise AgentNotFound(str(agent))
        return _decode(AgentStatus, row[0], f"agent {agent}")


__all__ = ["SqlCatalog"]
