"""Leases (issue "Nothing lost, nobody let in, part 2", F6; held per process since issue
13). Several host processes, on several machines whose clocks disagree, may share one
database; an agent is run by the process holding its lease. The rules:

* **Leases are held per process.** Each host process (a lease *owner*,
  :func:`lease_owner`) has one row in ``processes`` with a ``heartbeat`` counter; a row
  of ``leases`` says which process holds an agent. A process that runs agents for long
  (the server) keeps an agent's lease after a run, in memory and in that row, for as
  long as it lives (host/runtime/executor.py): a resume costs no lease transaction.
* **Renew the process, not each agent.** The holder bumps its process row's heartbeat
  (:meth:`SqliteLeases.renew_owner`) every third of its TTL, whatever the number of
  agents it holds and however long a guest runs. A process that stops (released with
  :meth:`SqliteLeases.release_owner`) frees all its leases in one transaction.
* **Never trust another process's wall clock.** A contender never compares the holder's
  ``expires_at`` (written with the holder's clock, kept for people only) with its own
  clock: it remembers the holder process's heartbeat it saw and when, on its *own
  monotonic* clock, it first saw it; the holder is stale once its heartbeat stayed
  unchanged for a full TTL (the longer of the contender's and the holder's, a duration
  each: no clock offset enters). A holder on this machine whose pid is dead, or with no
  process row, is stale at once. A stale process loses all its leases at once: the
  contender deletes its process row and its leases and bumps the fencing token of each
  of its agents, in the transaction that takes the agent it wanted. The price: a process
  that finds a holder abandoned on another machine waits one TTL from its first look.
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

from host.ids import AgentId
from host.store.sql_leases import SqlLeases
from host.store.sqlite_db import SqliteDatabase, _key


class Clock(Protocol):
    """The clocks the store reads for leases (the :mod:`time` module by default)."""

    def time_ns(self) -> int: ...

    def monotonic(self) -> float: ...


class SqliteLeases(SqliteDatabase, SqlLeases):
    """Leases on agents, held per process (the rules are in this module's docstring)."""

    def __init__(self, path: Path | str, *, clock: Clock = time) -> None:
        """``clock`` is a test seam for leases (a skewed wall clock, a monotonic clock a
        test advances); the default is the :mod:`time` module."""
        self.clock = clock
        # The fencing token this store holds per agent, as (owner, token), and each other
        # process holding a lease as this store last saw it, as (heartbeat, this store's
        # monotonic time when it first saw that heartbeat).
        self._tokens: dict[AgentId, tuple[str, int]] = {}
        self._seen: dict[str, tuple[int, float]] = {}
        super().__init__(path)

    def acquire_lease(self, agent: AgentId, owner: str, ttl_s: float) -> str | None:
        now = self.clock.monotonic()
        with self._tx("acquire_lease") as db:
            self._beat(db, owner, ttl_s)
            row = db.execute(
                "SELECT owner FROM leases WHERE component_id = ? AND name = ?", _key(agent)
            ).fetchone()
            if row is not None and row[0] != owner:
                holder = str(row[0])
                proc = db.execute(
                    "SELECT heartbeat, ttl_ms FROM processes WHERE owner = ?", (holder,)
                ).fetchone()
                if proc is not None and not self._stale(
                    holder, int(proc[0]), max(ttl_s, int(proc[1]) / 1e3), now
                ):
                    return holder
                self._evict(db, holder)
                self._seen.pop(holder, None)
                row = None
            if row is None:  # a new owner: the previous one (if any) is fenced off
                db.execute(
                    "UPDATE agents SET lease_epoch = lease_epoch + 1 "
                    "WHERE component_id = ? AND name = ?",
                    _key(agent),
                )
                db.execute(
                    "INSERT OR REPLACE INTO leases "
                    "(component_id, name, owner, expires_at, heartbeat, ttl_ms) "
                    "VALUES (?, ?, ?, ?, 0, ?)",
                    (*_key(agent), owner, self._expires_at(ttl_s), int(ttl_s * 1e3)),
                )
            epoch = db.execute(
                "SELECT lease_epoch FROM agents WHERE component_id = ? AND name = ?", _key(agent)
            ).fetchone()
        if epoch is not None:  # None: no such agent (yet); nothing of it to fence
            self._tokens[agent] = (owner, int(epoch[0]))
        return None

    def lease_holder(self, agent: AgentId, owner: str) -> str | None:
        """A holder on this machine with a live pid that renewed its process row on time
        (the row's expiry is written with this machine's clock, so comparing it is sound
        here; renewed every third of its TTL, it stays over half a TTL ahead): a read,
        where a failing acquire_lease would be a write that other processes' writes
        queue behind (SQLite's one write lock, slept on by the busy handler). Any other
        holder, and one late to renew (hung?), is judged by acquire_lease's rules."""
        with self._read() as db:
            row = db.execute(
                "SELECT l.owner, p.expires_at, p.ttl_ms FROM leases l LEFT JOIN processes p "
                "ON p.owner = l.owner WHERE l.component_id = ? AND l.name = ?",
                _key(agent),
            ).fetchone()
        if row is None or row[0] == owner or row[1] is None:
            return None
        holder = str(row[0])
        if holder.partition(":")[0] != socket.gethostname() or not _owner_alive(holder):
            return None
        ahead_ns = int(row[1]) - self.clock.time_ns()
        return holder if ahead_ns >= int(row[2]) * 500_000 else None  # half the TTL

    def _beat(self, db: sqlite3.Connection, owner: str, ttl_s: float) -> None:
        """The owner's process row, made or renewed (inside the caller's transaction)."""
        db.execute(
            "INSERT INTO processes (owner, heartbeat, ttl_ms, expires_at, started_at) "
            "VALUES (?, 0, ?, ?, ?) ON CONFLICT (owner) DO UPDATE SET "
            "heartbeat = heartbeat + 1, ttl_ms = excluded.ttl_ms, expires_at = excluded.expires_at",
            (owner, int(ttl_s * 1e3), self._expires_at(ttl_s), self.clock.time_ns()),
        )

    def _renew(self, db: sqlite3.Connection, owner: str, ttl_s: float) -> bool:
        """Bump the owner's heartbeat; False if it has no process row (evicted as stale,
        or released): a renewal never revives leases that were taken away."""
        cur = db.execute(
            "UPDATE processes SET heartbeat = heartbeat + 1, ttl_ms = ?, expires_at = ? "
            "WHERE owner = ?",
            (int(ttl_s * 1e3), self._expires_at(ttl_s), owner),
        )
        return cur.rowcount == 1

    @staticmethod
    def _evict(db: sqlite3.Connection, holder: str) -> None:
        """A stale process loses every lease it holds, its agents fenced (in the caller's
        transaction)."""
        db.execute(
            "UPDATE agents SET lease_epoch = lease_epoch + 1 WHERE EXISTS (SELECT 1 FROM "
            "leases l WHERE l.owner = ? AND l.component_id = agents.component_id "
            "AND l.name = agents.name)",
            (holder,),
        )
        db.execute("DELETE FROM leases WHERE owner = ?", (holder,))
        db.execute("DELETE FROM processes WHERE owner = ?", (holder,))

    def _expires_at(self, ttl_s: float) -> int:
        """For people reading the table only: no process compares another's expiry."""
        return self.clock.time_ns() + int(ttl_s * 1e9)

    def _stale(self, owner: str, heartbeat: int, ttl_s: float, now: float) -> bool:
        """Whether another process holding leases is stale, judged on this store's clock."""
        if not _owner_alive(owner):
            return True  # a dead process on this machine: stale at once
        seen = self._seen.get(owner)
        if seen is None or seen[0] != heartbeat:
            self._seen[owner] = (heartbeat, now)  # it moved (or is new to us)
            return False
        return now - seen[1] >= ttl_s


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
