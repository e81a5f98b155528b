"""Leases on the PostgreSQL store, judged on the database's clock.

Same rules as the SQLite store's (host/store/sqlite_leases.py: renew while running, fence
stale owners with ``agents.lease_epoch``), but expiry needs no contender-side timing: every
host sharing the database reads one clock, the server's. A lease row holds ``expires_at =
clock_timestamp() + ttl`` written by the server itself at each acquisition and renewal; a
contender takes the lease over once ``expires_at <= clock_timestamp()``, again on the
server. No host's wall clock enters, so hosts on machines whose clocks disagree still
agree on who holds what. An owner on this machine whose process is dead is stale at once,
as on SQLite.

Every acquisition, renewal and release takes the agent's advisory lock
(host/store/postgres_db.py, "Isolation"), as does every runner write with its fencing
check, so a takeover cannot interleave with the old owner's write: the write either
commits before the takeover or sees the new token and raises LeaseLost.
"""

from __future__ import annotations

from typing import Any

import psycopg

from host.errors import LeaseLost
from host.ids import AgentId
from host.store.postgres_db import PostgresDatabase, agent_key
from host.store.sqlite_leases import _owner_alive


class PostgresLeases(PostgresDatabase):
    """Leases on agents (the rules are in this module's docstring)."""

    def __init__(self, url: str) -> None:
        # The fencing token this store holds per agent, as (owner, token).
        self._tokens: dict[AgentId, tuple[str, int]] = {}
        super().__init__(url)

    def acquire_lease(self, agent: AgentId, owner: str, ttl_s: float) -> str | None:
        with self._tx("acquire_lease") as db:
            self._lock(db, agent)
            db.execute(
                "SELECT owner, expires_at > clock_timestamp() FROM leases "
                "WHERE component_id = %s AND name = %s",
                agent_key(agent),
            )
            row = db.fetchone()
            if row is not None and row[0] != owner and row[1] and _owner_alive(str(row[0])):
                return str(row[0])
            renewal = row is not None and row[0] == owner
            if renewal:
                db.execute(
                    "SELECT lease_epoch FROM agents WHERE component_id = %s AND name = %s",
                    agent_key(agent),
                )
            else:  # a new owner: the previous one (if any) is fenced off
                db.execute(
                    "UPDATE agents SET lease_epoch = lease_epoch + 1 "
                    "WHERE component_id = %s AND name = %s RETURNING lease_epoch",
                    agent_key(agent),
                )
            epoch = db.fetchone()
            db.execute(
                "INSERT INTO leases (component_id, name, owner, expires_at, heartbeat, ttl_ms) "
                "VALUES (%s, %s, %s, clock_timestamp() + %s * interval '1 millisecond', 0, %s) "
                "ON CONFLICT (component_id, name) DO UPDATE SET owner = EXCLUDED.owner, "
                "expires_at = EXCLUDED.expires_at, ttl_ms = EXCLUDED.ttl_ms, "
                "heartbeat = CASE WHEN leases.owner = EXCLUDED.owner "
                "THEN leases.heartbeat + 1 ELSE 0 END",
                (*agent_key(agent), owner, int(ttl_s * 1e3), int(ttl_s * 1e3)),
            )
        if epoch is not None:  # None: no such agent (yet); nothing of it to fence
            self._tokens[agent] = (owner, int(epoch[0]))
        return None

    def renew_lease(self, agent: AgentId, owner: str, ttl_s: float) -> bool:
        with self._tx("renew_lease") as db:
            self._lock(db, agent)
            token = self._tokens.get(agent)
            if token is not None and token[0] == owner:
                try:
                    self._fence(db, agent)
                except LeaseLost:
                    return False
            db.execute(
                "UPDATE leases SET heartbeat = heartbeat + 1, ttl_ms = %s, "
                "expires_at = clock_timestamp() + %s * interval '1 millisecond' "
                "WHERE component_id = %s AND name = %s AND owner = %s",
                (int(ttl_s * 1e3), int(ttl_s * 1e3), *agent_key(agent), owner),
            )
            return bool(db.rowcount == 1)

    def release_lease(self, agent: AgentId, owner: str) -> None:
        with self._tx("release_lease") as db:
            self._lock(db, agent)
            db.execute(
                "DELETE FROM leases WHERE component_id = %s AND name = %s AND owner = %s",
                (*agent_key(agent), owner),
            )
        token = self._tokens.get(agent)
        if token is not None and token[0] == owner:
            del self._tokens[agent]

    def _fence(self, db: psycopg.Cursor[Any], agent: AgentId) -> None:
        """Take the agent's lock, then LeaseLost if this store holds a lease token for the
        agent and another owner has acquired the lease since."""
        self._lock(db, agent)
        token = self._tokens.get(agent)
        if token is None:
            return  # not run under a lease of this store: nothing to fence
        db.execute(
            "SELECT lease_epoch FROM agents WHERE component_id = %s AND name = %s",
            agent_key(agent),
        )
        row = db.fetchone()
        if row is not None and int(row[0]) != token[1]:
            raise LeaseLost(str(agent), token[1], int(row[0]))
