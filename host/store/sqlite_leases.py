"""Leases (issue "Nothing lost, nobody let in, part 2", F6). Several host processes, on
several machines whose clocks disagree, may share one database; an agent is run by the
one holding its lease. Three rules keep a side effect from running twice:

* **Renew while running.** The holder renews the lease (:meth:`SqliteStore.renew_lease`)
  every third of its TTL for as long as it runs the agent (the executor's heartbeat
  thread), not only when an invocation starts, so a long invocation keeps it.
* **Never trust another process's wall clock.** A renewal bumps the row's ``heartbeat``
  counter. A contender never compares the holder's ``expires_at`` (written with the
  holder's clock, kept for people only) with its own clock: it remembers the
  ``(owner, heartbeat)`` pair it saw and when, on its *own monotonic* clock, it first
  saw it; the lease is stale once that pair stayed unchanged for a full TTL (the longer
  of the contender's and the holder's, a duration each: no clock offset enters). An
  owner on this machine whose pid is dead is stale at once, as before. The price: a
  process that finds a lease abandoned by another machine waits one TTL from its first
  look before it takes it over.
* **Fence stale owners.** Every acquisition by a new owner bumps the agent's fencing
  token ``agents.lease_epoch``; this store remembers the token it got (per agent, in
  ``_tokens``, until it releases the lease) and every transaction that writes the
  agent's oplog or run state (append, create_promise, complete_promise's journal,
  suspend, start_invocation, finish_invocation, set_status) first checks, in the same
  transaction, that the token is still current, else raises
  :class:`~host.errors.LeaseLost` and writes nothing. A runner that stalled past its
  TTL (a paused VM, a long GC, a lost network) and was taken over cannot write again.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Protocol

from host.errors import (
    LeaseLost,
)
from host.ids import AgentId
from host.store.sqlite_db import SqliteDatabase, _key


class Clock(Protocol):
    """The clocks the store reads for leases (the :mod:`time` module by default)."""

    def time_ns(self) -> int: ...

    def monotonic(self) -> float: ...


class SqliteLeases(SqliteDatabase):
    """Leases on agents (the rules are in this module's docstring)."""

    def __init__(self, path: Path | str, *, clock: Clock = time) -> None:
        """``clock`` is a test seam for leases (a skewed wall clock, a monotonic clock a
        test advances); the default is the :mod:`time` module."""
        self.clock = clock
        # The fencing token this store holds per agent, as (owner, token), and another
        # owner's lease as this store last saw it, as (owner, heartbeat, this store's
        # monotonic time when it first saw that pair).
        self._tokens: dict[AgentId, tuple[str, int]] = {}
        self._seen: dict[AgentId, tuple[str, int, float]] = {}
        super().__init__(path)

    # The rules are in the module docstring: renewals bump a heartbeat counter, a
    # contender times an unchanged (owner, heartbeat) on its own monotonic clock, and a
    # new owner bumps the agent's fencing token, which every runner write checks.
    def acquire_lease(self, agent: AgentId, owner: str, ttl_s: float) -> str | None:
        now = self.clock.monotonic()
        with self._tx("acquire_lease") as db:
            row = db.execute(
                "SELECT owner, heartbeat, ttl_ms FROM leases WHERE component_id = ? AND name = ?",
                _key(agent),
            ).fetchone()
            if row is not None and row[0] != owner:
                holder, heartbeat, held_ttl_ms = str(row[0]), int(row[1]), int(row[2])
                if not self._stale(agent, holder, heartbeat, max(ttl_s, held_ttl_ms / 1e3), now):
                    return holder
            renewal = row is not None and row[0] == owner
            if not renewal:  # a new owner: the previous one (if any) is fenced off
                db.execute(
                    "UPDATE agents SET lease_epoch = lease_epoch + 1 "
                    "WHERE component_id = ? AND name = ?",
                    _key(agent),
                )
            epoch = db.execute(
                "SELECT lease_epoch FROM agents WHERE component_id = ? AND name = ?", _key(agent)
            ).fetchone()
            db.execute(
                "INSERT OR REPLACE INTO leases "
                "(component_id, name, owner, expires_at, heartbeat, ttl_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    *_key(agent),
                    owner,
                    self._expires_at(ttl_s),
                    int(row[1]) + 1 if renewal else 0,
                    int(ttl_s * 1e3),
                ),
            )
        self._seen.pop(agent, None)
        if epoch is not None:  # None: no such agent (yet); nothing of it to fence
            self._tokens[agent] = (owner, int(epoch[0]))
        return None

    def renew_lease(self, agent: AgentId, owner: str, ttl_s: float) -> bool:
        with self._tx("renew_lease") as db:
            token = self._tokens.get(agent)
            if token is not None and token[0] == owner:
                try:
                    self._fence(db, agent)
                except LeaseLost:
                    return False
            cur = db.execute(
                "UPDATE leases SET heartbeat = heartbeat + 1, expires_at = ?, ttl_ms = ? "
                "WHERE component_id = ? AND name = ? AND owner = ?",
                (self._expires_at(ttl_s), int(ttl_s * 1e3), *_key(agent), owner),
            )
            return cur.rowcount == 1

    def release_lease(self, agent: AgentId, owner: str) -> None:
        with self._tx("release_lease") as db:
            db.execute(
                "DELETE FROM leases WHERE component_id = ? AND name = ? AND owner = ?",
                (*_key(agent), owner),
            )
        token = self._tokens.get(agent)
        if token is not None and token[0] == owner:
            del self._tokens[agent]

    def _expires_at(self, ttl_s: float) -> int:
        """For people reading the table only: no process compares another's expiry."""
        return self.clock.time_ns() + int(ttl_s * 1e9)

    def _stale(self, agent: AgentId, owner: str, heartbeat: int, ttl_s: float, now: float) -> bool:
        """Whether another owner's lease is stale, judged on this store's clock only."""
        if not _owner_alive(owner):
            return True  # a dead process on this machine: stale at once
        seen = self._seen.get(agent)
        if seen is None or seen[:2] != (owner, heartbeat):
            self._seen[agent] = (owner, heartbeat, now)  # it moved (or is new to us)
            return False
        return now - seen[2] >= ttl_s

    def _fence(self, db: sqlite3.Connection, agent: AgentId) -> None:
        """LeaseLost if this store holds a lease token for the agent and another owner
        has acquired the lease since (the token is no longer the agent's)."""
        token = self._tokens.get(agent)
        if token is None:
            return  # not run under a lease of this store: nothing to fence
        row = db.execute(
            "SELECT lease_epoch FROM agents WHERE component_id = ? AND name = ?", _key(agent)
        ).fetchone()
        if row is not None and int(row[0]) != token[1]:
            raise LeaseLost(str(agent), token[1], int(row[0]))


def lease_owner() -> str:
    """This process's lease owner name: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_alive(owner: str) -> bool:
    """False for a lease owner that is a dead process on this machine (stale at once);
    True otherwise (elsewhere, the heartbeat decides)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
