"""The lease rules both SQL stores run the same way, written once: renewing and releasing
leases and the fencing check of every runner write (the rules are
host/store/sqlite_leases.py's docstring; how a holder is judged stale differs, and stays
in sqlite_leases.py and postgres_leases.py). On PostgreSQL each first takes the agent's
advisory lock (``_lock_agents``), as the module docstring of postgres_leases.py says."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from host.errors import LeaseLost
from host.ids import AgentId
from host.store.sql_dialect import SqlDialect, _key


class SqlLeases(SqlDialect):
    """Renewal, release and fencing of the leases this store holds (``_tokens``)."""

    # The fencing token this store holds per agent, as (owner, token) (set by each store).
    _tokens: dict[AgentId, tuple[str, int]]

    if TYPE_CHECKING:  # each store's own (the clock that writes the expiry differs)

        def _renew(self, db: Any, owner: str, ttl_s: float) -> bool:
            """Bump the owner's heartbeat; False if it has no process row (evicted as
            stale, or released): a renewal never revives leases that were taken away."""
            raise NotImplementedError

    def renew_lease(self, agent: AgentId, owner: str, ttl_s: float) -> bool:
        with self._tx("renew_lease") as db:
            self._lock_agents(db, agent)
            token = self._tokens.get(agent)
            if token is not None and token[0] == owner:
                try:
                    self._fence(db, agent)
                except LeaseLost:
                    return False
            if not self._renew(db, owner, ttl_s):
                return False  # judged stale and evicted: its leases are gone
            held = db.execute(
                self._sql("SELECT 1 FROM leases WHERE component_id = ? AND name = ? AND owner = ?"),
                (*_key(agent), owner),
            ).fetchone()
            return held is not None

    def renew_owner(self, owner: str, ttl_s: float) -> bool:
        with self._tx("renew_owner") as db:
            return self._renew(db, owner, ttl_s)

    def release_lease(self, agent: AgentId, owner: str) -> None:
        with self._tx("release_lease") as db:
            self._lock_agents(db, agent)
            db.execute(
                self._sql("DELETE FROM leases WHERE component_id = ? AND name = ? AND owner = ?"),
                (*_key(agent), owner),
            )
        token = self._tokens.get(agent)
        if token is not None and token[0] == owner:
            del self._tokens[agent]

    def release_owner(self, owner: str) -> None:
        with self._tx("release_owner") as db:
            db.execute(self._sql("DELETE FROM leases WHERE owner = ?"), (owner,))
            db.execute(self._sql("DELETE FROM processes WHERE owner = ?"), (owner,))
        for agent, token in list(self._tokens.items()):
            if token[0] == owner:
                del self._tokens[agent]

    def _fence(self, db: Any, agent: AgentId) -> None:
        """Take the agent's lock, then LeaseLost if this store holds a lease token for the
        agent and another owner has acquired the lease since (the token is no longer the
        agent's)."""
        self._lock_agents(db, agent)
        token = self._tokens.get(agent)
        if token is None:
            return  # not run under a lease of this store: nothing to fence
        row = db.execute(
            self._sql("SELECT lease_epoch FROM agents WHERE component_id = ? AND name = ?"),
            _key(agent),
        ).fetchone()
        if row is not None and int(row[0]) != token[1]:
            raise LeaseLost(str(agent), token[1], int(row[0]))


__all__ = ["SqlLeases"]
