"""The embedded default store: one SQLite database file.

Every public method runs as one ``BEGIN IMMEDIATE`` transaction on a
per-thread connection, so two host processes sharing the file serialize their
writes instead of failing half way. Each transaction is labelled with the method
that runs it (``self._tx("suspend")``) and ends in :meth:`SqliteStore._commit`,
the one place a subclass can hook a commit (:mod:`host.store.crashpoint` does).

Leases (issue "Nothing lost, nobody let in, part 2", F6). Several host processes, on
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

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

from host import oplog
from host.clock import steady_ns
from host.errors import (
    AgentNotFound,
    ComponentNotFound,
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    LeaseLost,
    OplogConflict,
    PromiseNotFound,
    StoreError,
)
from host.ids import AgentId, PromiseId
from host.oplog import Entry, InvocationFailed, InvocationFinished, InvocationStarted, Suspended
from host.store.base import (
    AgentRecord,
    AgentStatus,
    ComponentRecord,
    InvocationRecord,
    InvocationState,
    Journal,
    PromiseRecord,
    Store,
)
from host.store.migrations import MIGRATIONS

# SQLite errors that mean the store cannot be used as it is (disk full, read-only, the
# file gone or damaged), not a bug in agent-host: StoreError (503, exit code 6) saying so.
_UNUSABLE = (
    "database or disk is full",
    "attempt to write a readonly database",
    "disk i/o error",
    "unable to open database file",
    "database disk image is malformed",
    "file is not a database",
    "readonly database",
)

RESTORE_ADVICE = (
    "stop every agent-host process using it (the server, workers) and restore the store "
    "from a backup taken with `agent-host backup`; do not delete or replace the database "
    "or its -wal file while a process has it open"
)


def store_error(path: Path, exc: sqlite3.Error) -> StoreError | None:
    """The StoreError a SQLite error raised on the store ``path`` stands for, or None when
    it is not about the store being unusable (an IntegrityError is a bug, not an outage)."""
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
        return None
    if not any(marker in text.lower() for marker in _UNUSABLE):
        return None
    if "full" in text.lower():
        what = "the disk (or the database's size limit) is full: free space and retry"
    elif "readonly" in text.lower():
        what = (
            "the database is read-only to this process: make the file and its directory "
            "writable and retry"
        )
    else:
        what = RESTORE_ADVICE
    return StoreError(f"the store {path} cannot be used: {text}; {what}")


@contextmanager
def _unusable_as_store_error(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        mapped = store_error(path, exc)
        if mapped is None:
            raise
        raise mapped from exc


class Clock(Protocol):
    """The clocks the store reads for leases (the :mod:`time` module by default)."""

    def time_ns(self) -> int: ...

    def monotonic(self) -> float: ...


class SqliteStore(Store):
    def __init__(self, path: Path | str, *, clock: Clock = time) -> None:
        """``clock`` is a test seam for leases (a skewed wall clock, a monotonic clock a
        test advances); the default is the :mod:`time` module."""
        self.path = Path(path)
        self.clock = clock
        # Leases (module docstring): the fencing token this store holds per agent, as
        # (owner, token), and another owner's lease as this store last saw it, as
        # (owner, heartbeat, this store's monotonic time when it first saw that pair).
        self._tokens: dict[AgentId, tuple[str, int]] = {}
        self._seen: dict[AgentId, tuple[str, int, float]] = {}
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # (st_dev, st_ino) of the database file and of its -wal file as this process first
        # saw them; None until seen. SQLite keeps writing to the files it opened, so a
        # deleted or replaced -wal makes every later commit vanish (see _check_files).
        self._identity: dict[str, tuple[int, int] | None] = {"db": None, "wal": None}
        self._broken: str | None = None
        try:
            with self._tx("__init__") as db:
                self._migrate(db)
        except (sqlite3.DatabaseError, StoreError) as exc:
            cause = exc.__cause__ if isinstance(exc, StoreError) else exc
            if not isinstance(cause, sqlite3.DatabaseError):
                raise  # a StoreError of its own (a newer schema, a bad setting)
            raise StoreError(
                f"cannot open the store {self.path}: {cause}. If the file is damaged, "
                + RESTORE_ADVICE
            ) from None

    # -- plumbing ---------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so the write lock
            # is taken up front and a transaction never fails half way on SQLITE_BUSY.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # WAL: readers (inspection commands, a server's GETs) never block the writer,
            # and a process killed mid-transaction leaves the database consistent.
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed transaction survives power loss, not just a process crash.
            # Commits are rare (side effects, suspensions, invocation ends), so this is cheap.
            # AGENT_HOST_SQLITE_SYNC=NORMAL trades power-loss safety for speed (benchmarks'
            # set-up); a process crash loses nothing either way in WAL mode.
            sync = os.environ.get("AGENT_HOST_SQLITE_SYNC", "FULL").upper()
            if sync not in ("FULL", "NORMAL"):
                raise StoreError(f"AGENT_HOST_SQLITE_SYNC must be FULL or NORMAL, not {sync!r}")
            conn.execute(f"PRAGMA synchronous={sync}")
            # Another host process may hold the write lock briefly: wait instead of failing.
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _file_id(self, suffix: str) -> tuple[int, int] | None:
        try:
            st = os.stat(f"{self.path}{suffix}")
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _check_files(self, db: sqlite3.Connection | None = None) -> None:
        """StoreError if the database file or its -wal file is not the one this process
        opened (deleted, or replaced by a copy). SQLite keeps using the files it has open,
        so commits would still "succeed" into a file nobody will ever read again: every
        write is refused from then on, loudly, instead of acknowledged and lost."""
        if self._broken is not None:
            raise StoreError(self._broken)
        seen = {"db": self._file_id(""), "wal": self._file_id("-wal")}
        with self._lock:
            for name, now in seen.items():
                if self._identity[name] is None:
                    self._identity[name] = now  # first sight (the -wal appears with a write)
            changed = [name for name, now in seen.items() if now != self._identity[name]]
            if not changed:
                return
            saved = ""
            if changed == ["wal"] and seen["wal"] is None and db is not None:
                # The -wal file was deleted but this connection still has it open: a
                # checkpoint copies the commits it holds into the database file.
                try:
                    busy, _, _ = db.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
                    if not busy:
                        saved = (
                            " agent-host copied the commits it still held into the database "
                            "file (a checkpoint), so acknowledged work is kept there;"
                        )
                except sqlite3.Error:
                    pass
            files = " and ".join(
                f"{self.path}{'-wal' if n == 'wal' else ''} was "
                + ("deleted" if seen[n] is None else "replaced")
                for n in changed
            )
            self._broken = (
                f"the store's {files} while this process had it open: SQLite would keep "
                "writing to the old file and every later commit would be lost, so this "
                f"process refuses to write.{saved} To recover, " + RESTORE_ADVICE
            )
        raise StoreError(self._broken)

    @contextmanager
    def _tx(self, method: str) -> Iterator[sqlite3.Connection]:
        """One write transaction of the store method named ``method`` (the public method,
        or ``__init__`` for the schema migration when the store is opened).

        SQLite errors that mean the store is unusable (disk full, read-only, I/O error,
        damage) leave here as StoreError; so does a write after the database or its -wal
        file was deleted or replaced under this process (:meth:`_check_files`)."""
        with _unusable_as_store_error(self.path):
            db = self._conn()
            self._check_files(db)
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled back already (disk full)
                    db.execute("ROLLBACK")
                raise
            else:
                self._commit(db, method)
            # A commit that landed in a -wal file deleted meanwhile is not durable: say so
            # rather than acknowledge it.
            self._check_files(db)

    def _commit(self, db: sqlite3.Connection, method: str) -> None:
        """Commit ``method``'s transaction (every write transaction ends here)."""
        db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with _unusable_as_store_error(self.path):
            db = self._conn()
            db.execute("BEGIN")
            try:
                yield db
            finally:
                db.execute("COMMIT")

    # -- integrity and backup -------------------------------------------------------
    def health(self) -> None:
        """A cheap read of the store: StoreError if it is unusable (its files deleted or
        replaced under this process, a damaged schema, an I/O error)."""
        with self._read() as db:
            db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()
            db.execute("SELECT component_id FROM agents LIMIT 1").fetchall()
        self._check_files()

    def verify(self) -> None:
        """SQLite's ``PRAGMA quick_check`` over the whole file: StoreError naming what is
        wrong if the database is damaged (a torn ``cp`` of a live store, say)."""
        with self._read() as db:
            rows = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            shown = "; ".join(rows[:5]) + (f" (and {len(rows) - 5} more)" if len(rows) > 5 else "")
            raise StoreError(
                f"the store {self.path} is damaged (SQLite quick_check: {shown}); " + RESTORE_ADVICE
            )

    def backup(self, dest: Path) -> None:
        """A consistent copy of the database at ``dest`` (which must not exist), taken
        with SQLite's online backup API: safe while other connections and processes
        write, unlike copying the file. Written next to ``dest`` and renamed into place
        once it passes ``PRAGMA integrity_check``."""
        if dest.exists():
            raise InvalidInput(f"{dest} already exists: give a new file name for the backup")
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with _unusable_as_store_error(self.path):
                self._check_files()
                source = sqlite3.connect(self.path)
                target = sqlite3.connect(tmp)
                try:
                    source.execute("PRAGMA busy_timeout=10000")
                    # pages=-1: every page in one step, under one read transaction, so
                    # the copy is one snapshot however busy the writers are.
                    source.backup(target, pages=-1)
                    rows = [r[0] for r in target.execute("PRAGMA integrity_check")]
                    if rows != ["ok"]:
                        raise StoreError(
                            f"the backup of {self.path} fails SQLite's integrity check "
                            f"({'; '.join(rows[:5])}): the store itself may be damaged"
                        )
                    target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                finally:
                    target.close()
                    source.close()
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, dest)
            fd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            tmp.unlink(missing_ok=True)

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
        )
        done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
        newest = max(MIGRATIONS)
        if done and max(done) > newest:
            raise StoreError(
                f"the store {self.path} has schema version {max(done)}, newer than this "
                f"agent-host understands ({newest}); upgrade agent-host"
            )
        for version in sorted(MIGRATIONS):
            if version in done:
                continue
            for statement in MIGRATIONS[version]:
                db.execute(statement)
            # Recorded in the same transaction as the schema change itself.
            db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time_ns()))

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            # SQLite removes the -wal file when the last connection closes: a store used
            # again after close() sees new files, legitimately.
            self._identity = {"db": None, "wal": None}
        self._local = threading.local()

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
                cid, version = str(uuid.uuid4()), 1
            db.execute(
                "INSERT INTO components (id, name, version, hash, size, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (cid, name, version, hash, size, time.time_ns()),
            )
            return self._component(db, cid)

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

    def retry(self, agent: AgentId) -> str | None:
        with self._tx("retry") as db:
            status = self._require_agent(db, agent)
            if status != AgentStatus.FAILED:
                raise Conflict(f"agent {agent} is {status}, not failed: nothing to retry")
            row = db.execute(
                "SELECT idx, entry FROM oplog WHERE component_id = ? AND name = ? "
                "ORDER BY idx DESC LIMIT 1",
                _key(agent),
            ).fetchone()
            last = oplog.decode(row[1])
            invocation = None
            if isinstance(last, InvocationFailed):
                invocation = last.invocation_id
                self._append(db, agent, row[0] + 1, [oplog.Retried(invocation)])
                db.execute(
                    "UPDATE invocations SET state = ?, error = NULL, finished_at = NULL "
                    "WHERE invocation_id = ?",
                    (InvocationState.STARTED, invocation),
                )
            # Otherwise it failed while replaying (a divergence, an instantiation error):
            # nothing was recorded, and the next replay simply tries again.
            db.execute(
                "UPDATE agents SET status = ? WHERE component_id = ? AND name = ?",
                (AgentStatus.RUNNING, *_key(agent)),
            )
            return invocation

    def interrupt(self, agent: AgentId) -> AgentStatus:
        with self._tx("interrupt") as db:
            status = self._require_agent(db, agent)
            if status == AgentStatus.RUNNING:
                raise Conflict(
                    f"agent {agent} is running an invocation; agent-host can interrupt an "
                    "agent only between invocations or while it is suspended"
                )
            if status in (AgentStatus.IDLE, AgentStatus.SUSPENDED):
                db.execute(
                    "UPDATE agents SET status = ? WHERE component_id = ? AND name = ?",
                    (AgentStatus.INTERRUPTED, *_key(agent)),
                )
            return status

    def resume(self, agent: AgentId) -> None:
        with self._tx("resume") as db:
            status = self._require_agent(db, agent)
            if status != AgentStatus.INTERRUPTED:
                raise Conflict(f"agent {agent} is {status}, not interrupted")
            # Due now: a replay re-checks whatever it was waiting for and runs its queue.
            db.execute(
                "UPDATE agents SET status = ?, wake_at_ns = 0 WHERE component_id = ? AND name = ?",
                (AgentStatus.SUSPENDED, *_key(agent)),
            )

    # -- agents -------------------------------------------------------------------
    _AGENT_COLS = (
        "component_id, name, component_hash, status, created_at, last_error, "
        "waiting_promises, wake_at_ns, "
        "(SELECT COALESCE(MAX(idx), 0) FROM oplog o WHERE o.component_id = a.component_id "
        "AND o.name = a.name)"
    )

    @staticmethod
    def _agent_row(row: Sequence[object]) -> AgentRecord:
        cid, name, chash, status, created, err, waiting, wake, length = row
        agent = AgentId(uuid.UUID(str(cid)), str(name))
        return AgentRecord(
            agent=agent,
            component_hash=str(chash),
            status=_decode(AgentStatus, status, f"agent {agent}"),
            created_at=int(str(created)),
            last_error=None if err is None else str(err),
            waiting_promises=tuple(json.loads(str(waiting))) if waiting else (),
            wake_at_ns=None if wake is None else int(str(wake)),
            oplog_length=int(str(length)),
        )

    def create_agent(self, agent: AgentId, component_hash: str, created: Entry) -> bool:
        with self._tx("create_agent") as db:
            exists = db.execute(
                "SELECT 1 FROM agents WHERE component_id = ? AND name = ?", _key(agent)
            ).fetchone()
            if exists:
                return False
            db.execute(
                "INSERT INTO agents (component_id, name, component_hash, status, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (*_key(agent), component_hash, AgentStatus.IDLE, time.time_ns()),
            )
            self._append(db, agent, 1, [created])
            return True

    def get_agent(self, agent: AgentId) -> AgentRecord:
        with self._read() as db:
            row = db.execute(
                f"SELECT {self._AGENT_COLS} FROM agents a WHERE component_id = ? AND name = ?",
                _key(agent),
            ).fetchone()
        if row is None:
            raise AgentNotFound(str(agent))
        return self._agent_row(row)

    def agent_marks(self, agents: Sequence[AgentId]) -> dict[AgentId, tuple[str, int]]:
        marks: dict[AgentId, tuple[str, int]] = {}
        wanted = list(agents)
        with self._read() as db:
            for start in range(0, len(wanted), 400):  # 800 parameters a query at most
                chunk = wanted[start : start + 400]
                pairs = ",".join("(?, ?)" for _ in chunk)
                rows = db.execute(
                    "SELECT component_id, name, status, (SELECT COALESCE(MAX(idx), 0) FROM "
                    "oplog o WHERE o.component_id = a.component_id AND o.name = a.name) "
                    f"FROM agents a WHERE (component_id, name) IN (VALUES {pairs})",
                    [v for agent in chunk for v in _key(agent)],
                ).fetchall()
                for cid, name, status, length in rows:
                    marks[AgentId(uuid.UUID(str(cid)), str(name))] = (str(status), int(length))
        return marks

    def list_agents(
        self, component_id: str | None = None, status: str | None = None
    ) -> list[AgentRecord]:
        sql = f"SELECT {self._AGENT_COLS} FROM agents a WHERE 1=1"
        args: list[object] = []
        if component_id is not None:
            sql += " AND component_id = ?"
            args.append(component_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY component_id, name", args).fetchall()
        return [self._agent_row(r) for r in rows]

    def delete_agent(self, agent: AgentId) -> None:
        with self._tx("delete_agent") as db:
            self._require_agent(db, agent)
            for table in ("oplog", "promises", "invocations", "leases", "agents"):
                db.execute(f"DELETE FROM {table} WHERE component_id = ? AND name = ?", _key(agent))

    def set_component_hash(self, agent: AgentId, component_hash: str) -> None:
        with self._tx("set_component_hash") as db:
            self._require_agent(db, agent)
            db.execute(
                "UPDATE agents SET component_hash = ? WHERE component_id = ? AND name = ?",
                (component_hash, *_key(agent)),
            )

    def set_status(self, agent: AgentId, status: AgentStatus, error: str | None = None) -> None:
        status = AgentStatus(status)  # ValueError for a string that is no status
        with self._tx("set_status") as db:
            self._fence(db, agent)
            self._require_agent(db, agent)
            db.execute(
                "UPDATE agents SET status = ?, last_error = COALESCE(?, last_error) "
                "WHERE component_id = ? AND name = ?",
                (status, error, *_key(agent)),
            )

    def _require_agent(self, db: sqlite3.Connection, agent: AgentId) -> AgentStatus:
        row = db.execute(
            "SELECT status FROM agents WHERE component_id = ? AND name = ?", _key(agent)
        ).fetchone()
        if row is None:
            raise AgentNotFound(str(agent))
        return _decode(AgentStatus, row[0], f"agent {agent}")

    # -- oplog --------------------------------------------------------------------
    def _append(
        self, db: sqlite3.Connection, agent: AgentId, first: int, entries: Sequence[Entry]
    ) -> None:
        rows = [(*_key(agent), first + i, oplog.encode(e)) for i, e in enumerate(entries)]
        try:
            db.executemany(
                "INSERT INTO oplog (component_id, name, idx, entry) VALUES (?, ?, ?, ?)", rows
            )
        except sqlite3.IntegrityError:
            raise OplogConflict(str(agent), first) from None

    def append(self, agent: AgentId, first_index: int, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        with self._tx("append") as db:
            self._fence(db, agent)
            self._append(db, agent, first_index, entries)

    def read_oplog(self, agent: AgentId, start: int = 1, count: int | None = None) -> list[Entry]:
        with self._read() as db:
            rows = db.execute(
                "SELECT entry FROM oplog WHERE component_id = ? AND name = ? AND idx >= ? "
                "ORDER BY idx LIMIT ?",
                (*_key(agent), start, -1 if count is None else count),
            ).fetchall()
        return [oplog.decode(r[0]) for r in rows]

    def read_oplog_raw(self, agent: AgentId) -> list[tuple[int, str]]:
        """(index, stored text) of every entry, undecoded: for integrity checks."""
        with self._read() as db:
            rows = db.execute(
                "SELECT idx, entry FROM oplog WHERE component_id = ? AND name = ? ORDER BY idx",
                _key(agent),
            ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def oplog_length(self, agent: AgentId) -> int:
        with self._read() as db:
            row = db.execute(
                "SELECT COALESCE(MAX(idx), 0) FROM oplog WHERE component_id = ? AND name = ?",
                _key(agent),
            ).fetchone()
        return int(row[0])

    # -- promises -----------------------------------------------------------------
    def create_promise(
        self,
        agent: AgentId,
        pending: Sequence[Entry],
        first_index: int,
        function: str | None,
        secret_hash: str | None = None,
    ) -> PromiseId:
        idx = first_index + len(pending) - 1
        with self._tx("create_promise") as db:
            self._fence(db, agent)
            self._append(db, agent, first_index, pending)
            db.execute(
                "INSERT INTO promises (component_id, name, idx, created_at, function, "
                "secret_hash) VALUES (?, ?, ?, ?, ?, ?)",
                (*_key(agent), idx, time.time_ns(), function, secret_hash),
            )
        return PromiseId(agent, idx)

    def promise_secret_hash(self, promise: PromiseId) -> str | None:
        with self._read() as db:
            row = db.execute(
                "SELECT secret_hash FROM promises "
                "WHERE component_id = ? AND name = ? AND idx = ? AND deleted = 0",
                _promise_key(promise),
            ).fetchone()
        if row is None:
            raise PromiseNotFound(str(promise))
        return None if row[0] is None else str(row[0])

    @staticmethod
    def _promise_row(row: Sequence[object]) -> PromiseRecord:
        cid, name, idx, created, function, completed, data, completed_at = row
        return PromiseRecord(
            id=PromiseId(AgentId(uuid.UUID(str(cid)), str(name)), int(str(idx))),
            created_at=int(str(created)),
            function=None if function is None else str(function),
            completed=bool(completed),
            data=None if data is None else bytes(data),  # type: ignore[call-overload]
            completed_at=None if completed_at is None else int(str(completed_at)),
        )

    _PROMISE_COLS = "component_id, name, idx, created_at, function, completed, data, completed_at"

    def get_promise(self, promise: PromiseId) -> PromiseRecord:
        with self._read() as db:
            row = db.execute(
                f"SELECT {self._PROMISE_COLS} FROM promises "
                "WHERE component_id = ? AND name = ? AND idx = ? AND deleted = 0",
                _promise_key(promise),
            ).fetchone()
        if row is None:
            raise PromiseNotFound(str(promise))
        return self._promise_row(row)

    def complete_promise(
        self, promise: PromiseId, data: bytes, journal: Journal | None = None
    ) -> bool:
        with self._tx("complete_promise") as db:
            if journal is not None:
                self._fence(db, journal[0])
            row = db.execute(
                "SELECT completed FROM promises "
                "WHERE component_id = ? AND name = ? AND idx = ? AND deleted = 0",
                _promise_key(promise),
            ).fetchone()
            if row is None:
                raise PromiseNotFound(str(promise))
            if journal is not None:
                agent, first, entries = journal
                self._append(db, agent, first, entries(not row[0]))
            if row[0]:
                return False
            db.execute(
                "UPDATE promises SET completed = 1, data = ?, completed_at = ? "
                "WHERE component_id = ? AND name = ? AND idx = ?",
                (data, time.time_ns(), *_key(promise.agent), promise.oplog_idx),
            )
            # Wake the owner in the same transaction: a suspension either committed before
            # this (and sees the wake-up) or runs after it (and sees the completion).
            owner = db.execute(
                "SELECT status, waiting_promises FROM agents WHERE component_id = ? AND name = ?",
                _key(promise.agent),
            ).fetchone()
            if (
                owner
                and owner[0] == AgentStatus.SUSPENDED
                and promise.oplog_idx in json.loads(owner[1] or "[]")
            ):
                db.execute(
                    "UPDATE agents SET wake_at_ns = 0 WHERE component_id = ? AND name = ?",
                    _key(promise.agent),
                )
            return True

    def delete_promise(self, promise: PromiseId) -> None:
        with self._tx("delete_promise") as db:
            cur = db.execute(
                "UPDATE promises SET deleted = 1 "
                "WHERE component_id = ? AND name = ? AND idx = ? AND deleted = 0",
                _promise_key(promise),
            )
            if cur.rowcount == 0:
                raise PromiseNotFound(str(promise))

    def list_promises(
        self, agent: AgentId | None = None, pending_only: bool = True
    ) -> list[PromiseRecord]:
        sql = f"SELECT {self._PROMISE_COLS} FROM promises WHERE deleted = 0"
        args: list[object] = []
        if agent is not None:
            sql += " AND component_id = ? AND name = ?"
            args += _key(agent)
        if pending_only:
            sql += " AND completed = 0"
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY component_id, name, idx", args).fetchall()
        return [self._promise_row(r) for r in rows]

    def count_pending_promises(self, agent: AgentId) -> int:
        # One COUNT over the partial index promises_pending (migration 5), not a list of
        # every pending promise per create-promise (F15).
        with self._read() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM promises "
                "WHERE component_id = ? AND name = ? AND completed = 0 AND deleted = 0",
                _key(agent),
            ).fetchone()
        return int(row[0])

    def deleted_promise_indexes(self, agent: AgentId) -> set[int]:
        """The oplog indexes of the agent's promises that were deleted (by the guest's
        delete-promise or by an operator): their rows stay, marked, as the record."""
        with self._read() as db:
            rows = db.execute(
                "SELECT idx FROM promises WHERE component_id = ? AND name = ? AND deleted = 1",
                _key(agent),
            ).fetchall()
        return {int(r[0]) for r in rows}

    # -- execution transitions -------------------------------------------------------
    def suspend(
        self, agent: AgentId, pending: Sequence[Entry], first_index: int, entry: Suspended
    ) -> bool:
        with self._tx("suspend") as db:
            self._fence(db, agent)
            for idx in entry.promises:
                row = db.execute(
                    "SELECT completed FROM promises WHERE component_id = ? AND name = ? "
                    "AND idx = ?",
                    (*_key(agent), idx),
                ).fetchone()
                if row is None or row[0]:
                    return False  # completed (or gone) meanwhile: do not suspend
            if entry.wake_at_ns is not None and entry.wake_at_ns <= steady_ns():
                return False
            self._append(db, agent, first_index, [*pending, entry])
            db.execute(
                "UPDATE agents SET status = ?, waiting_promises = ?, wake_at_ns = ? "
                "WHERE component_id = ? AND name = ?",
                (
                    AgentStatus.SUSPENDED,
                    json.dumps(list(entry.promises)),
                    entry.wake_at_ns,
                    *_key(agent),
                ),
            )
            return True

    def start_invocation(
        self, agent: AgentId, pending: Sequence[Entry], first_index: int, entry: InvocationStarted
    ) -> bool:
        with self._tx("start_invocation") as db:
            self._fence(db, agent)
            if self._require_agent(db, agent) == AgentStatus.INTERRUPTED:
                return False  # interrupted between two invocations: start nothing
            self._append(db, agent, first_index, [*pending, entry])
            db.execute(
                "UPDATE invocations SET state = ? WHERE invocation_id = ?",
                (InvocationState.STARTED, entry.invocation_id),
            )
            db.execute(
                "UPDATE agents SET status = ?, waiting_promises = NULL, wake_at_ns = NULL "
                "WHERE component_id = ? AND name = ?",
                (AgentStatus.RUNNING, *_key(agent)),
            )
            return True

    def finish_invocation(
        self,
        agent: AgentId,
        pending: Sequence[Entry],
        first_index: int,
        entry: InvocationFinished | InvocationFailed,
    ) -> None:
        with self._tx("finish_invocation") as db:
            self._fence(db, agent)
            self._append(db, agent, first_index, [*pending, entry])
            if isinstance(entry, InvocationFinished):
                db.execute(
                    "UPDATE invocations SET state = ?, result = ?, finished_at = ? "
                    "WHERE invocation_id = ?",
                    (InvocationState.DONE, entry.result, time.time_ns(), entry.invocation_id),
                )
                status, error = AgentStatus.IDLE, None
            else:
                db.execute(
                    "UPDATE invocations SET state = ?, error = ?, finished_at = ? "
                    "WHERE invocation_id = ?",
                    (InvocationState.FAILED, entry.error, time.time_ns(), entry.invocation_id),
                )
                status, error = AgentStatus.FAILED, entry.error
            db.execute(
                "UPDATE agents SET status = ?, last_error = ?, waiting_promises = NULL, "
                "wake_at_ns = NULL WHERE component_id = ? AND name = ?",
                (status, error, *_key(agent)),
            )

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

    # -- scheduling ---------------------------------------------------------------
    def runnable_agents(self, now_ns: int) -> list[AgentId]:
        with self._read() as db:
            rows = db.execute(
                "SELECT component_id, name FROM agents a WHERE "
                "(status = ? AND wake_at_ns IS NOT NULL AND wake_at_ns <= ?) "
                "OR status = ? "
                "OR (status = ? AND EXISTS (SELECT 1 FROM invocations i WHERE "
                "i.component_id = a.component_id AND i.name = a.name AND i.state = ?)) "
                "ORDER BY component_id, name",
                (
                    AgentStatus.SUSPENDED,
                    now_ns,
                    AgentStatus.RUNNING,
                    AgentStatus.IDLE,
                    InvocationState.QUEUED,
                ),
            ).fetchall()
        return [AgentId(uuid.UUID(r[0]), r[1]) for r in rows]

    # -- leases -------------------------------------------------------------------
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


_Enum = TypeVar("_Enum", AgentStatus, InvocationState)


def _decode(kind: type[_Enum], value: object, what: str) -> _Enum:
    """A stored status or state as its enum member; StoreError for one this host does not know."""
    try:
        return kind(str(value))
    except ValueError:
        raise StoreError(
            f"the store gives {what} the {kind.__name__} {value!r}, which this agent-host does "
            f"not know (expected one of: {', '.join(kind)}); the database is damaged or was "
            "written by a newer agent-host"
        ) from None


def _key(agent: AgentId) -> tuple[str, str]:
    return str(agent.component_id), agent.name


def _promise_key(promise: PromiseId) -> tuple[str, str, int]:
    # SQLite integers are signed 64-bit: a larger oplog index (a u64 on the wire) names no
    # promise, rather than overflowing the query.
    if not 0 <= promise.oplog_idx < 2**63:
        raise PromiseNotFound(str(promise))
    return (*_key(promise.agent), promise.oplog_idx)


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
