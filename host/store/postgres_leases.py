"""Leases on the PostgreSQL store, held per process and judged on the database's clock.

Same rules as the SQLite store's (host/store/sqlite_leases.py: leases held per process,
one heartbeat per process, a stale process loses all its leases at once, stale owners
fenced with ``agents.lease_epoch``), but expiry needs no contender-side timing: every
host sharing the database reads one clock, the server's. A process row holds
``expires_at = clock_timestamp() + ttl`` written by the server itself at each heartbeat;
a contender takes a lease over once its holder's process row has ``expires_at <=
clock_timestamp()`` (or is gone), again on the server. No host's wall clock enters, so
hosts on machines whose clocks disagree still agree on who holds what. A holder on this
machine whose process is dead is stale at once, as on SQLite.

Every acquisition, renewal of one agent's lease and release takes the agent's advisory
lock (host/store/postgres_db.py, "Isolation"), as does every runner write with its
fencing check, so a takeover cannot interleave with the old owner's write: the write
either commits before the takeover or sees the new token and raises LeaseLost. Evicting
a stale process bumps the tokens of all its agents without their locks: its in-flight
write of one of them (under that agent's lock, token read before the bump) still commits
before any new owner, which takes that lock to acquire, reads the agent.
"""

from __future__ import annotations

from typing import Any

import psycopg

from host.ids import AgentId
from host.store.postgres_db import PostgresDatabase, agent_key
from host.store.sql_leases import SqlLeases
from host.store.sqlite_leases import _owner_alive


class PostgresLeases(PostgresDatabase, SqlLeases):
    """Leases on agents (the rules are in this module's docstring)."""

    def __init__(self, url: str) -> None:
        # The fencing token this store holds per agent, as (owner, token).
        self._tokens: dict[AgentId, tuple[str, int]] = {}
        super().__init__(url)

    def lease_holder(self, agent: AgentId, owner: str) -> str | None:
        """The holder acquire_lease would refuse for (alive by the database's clock and,
        on this machine, by its pid), read without a transaction's lock or write."""
        with self._read("lease_holder") as db:
            db.execute(
                "SELECT l.owner, p.expires_at > clock_timestamp() FROM leases l "
                "LEFT JOIN processes p ON p.owner = l.owner "
                "WHERE l.component_id = %s AND l.name = %s",
                agent_key(agent),
            )
            row = db.fetchone()
        if row is None or row[0] == owner or not row[1] or not _owner_alive(str(row[0])):
            return None
        return str(row[0])

    def acquire_lease(self, agent: AgentId, owner: str, ttl_s: float) -> str | None:
        with self._tx("acquire_lease") as db:
            self._lock_agents(db, agent)
            self._beat(db, owner, ttl_s)
            db.execute(
                "SELECT l.owner, p.expires_at > clock_timestamp() FROM leases l "
                "LEFT JOIN processes p ON p.owner = l.owner "
                "WHERE l.component_id = %s AND l.name = %s",
                agent_key(agent),
            )
            row = db.fetchone()
            if row is not None and row[0] != owner:
                if row[1] and _owner_alive(str(row[0])):
                    return str(row[0])
                self._evict(db, str(row[0]))
                row = None
            if row is None:  # a new owner: the previous one (if any) is fenced off
                db.execute(
                    "UPDATE agents SET lease_epoch = lease_epoch + 1 "
                    "WHERE component_id = %s AND name = %s RETURNING lease_epoch",
                    agent_key(agent),
                )
                epoch = db.fetchone()
                db.execute(
                    "INSERT INTO leases (component_id, name, owner, expires_at, heartbeat, "
                    "ttl_ms) VALUES (%s, %s, %s, clock_timestamp() + %s * interval "
                    "'1 millisecond', 0, %s) ON CONFLICT (component_id, name) DO UPDATE SET "
                    "owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, "
                    "ttl_ms = EXCLUDED.ttl_ms, heartbeat = 0",
                    (*agent_key(agent), owner, int(ttl_s * 1e3), int(ttl_s * 1e3)),
                )
            else:
                db.execute(
                    "SELECT lease_epoch FROM agents WHERE component_id = %s AND name = %s",
                    agent_key(agent),
                )
                epoch = db.fetchone()
        if epoch is not None:  # None: no such agent (yet); nothing of it to fence
            self._tokens[agent] = (owner, int(epoch[0]))
        return None

    @staticmethod
    def _beat(db: psycopg.Cursor[Any], owner: str, ttl_s: float) -> None:
        """The owner's process row, made or renewed (inside the caller's transaction)."""
        db.execute(
            "INSERT INTO processes (owner, heartbeat, ttl_ms, expires_at, started_at) "
            "VALUES (%s, 0, %s, clock_timestamp() + %s * interval '1 millisecond', "
            "clock_timestamp()) ON CONFLICT (owner) DO UPDATE SET "
            "heartbeat = processes.heartbeat + 1, ttl_ms = EXCLUDED.ttl_ms, "
            "expires_at = EXCLUDED.expires_at",
            (owner, int(ttl_s * 1e3), int(ttl_s * 1e3)),
        )

    @staticmethod
    def _renew(db: psycopg.Cursor[Any], owner: str, ttl_s: float) -> bool:
        """Bump the owner's heartbeat; False if it has no process row (evicted as stale,
        or released): a renewal never revives leases that were taken away."""
        db.execute(
            "UPDATE processes SET heartbeat = heartbeat + 1, ttl_ms = %s, "
            "expires_at = clock_timestamp() + %s * interval '1 millisecond' WHERE owner = %s",
            (int(ttl_s * 1e3), int(ttl_s * 1e3), owner),
        )
        return bool(db.rowcount == 1)

    @staticmethod
    def _evict(db: psycopg.Cursor[Any], holder: str) -> None:
        """A stale process loses every lease it holds, its agents fenced (in the caller's
        transaction; see the module docstring on locking)."""
        db.execute(
            "UPDATE agents a SET lease_epoch = lease_epoch + 1 FROM leases l "
            "WHERE l.owner = %s AND l.component_id = a.component_id AND l.name = a.name",
            (holder,),
        )
        db.execute("DELETE FROM leases WHERE owner = %s", (holder,))
        db.execute("DELETE FROM processes WHERE owner = %s", (holder,))
