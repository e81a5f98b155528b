"""The SQLite file under the store: connections, transactions, migrations, the checks
that the file is still the one this process opened, integrity and backup.

Reads run on a per-thread connection (WAL: they never wait for the writer). Every
public writing store method is one *item* of a **group commit** (:meth:`SqliteDatabase._tx`,
issue 13 item 1): all of this process's writes go through one writer connection, and the
items that arrive while one is being written join the same ``BEGIN IMMEDIATE``
transaction, committed once (one fsync per batch instead of one per write).

* **Durability is unchanged**: a caller's ``_tx`` returns only once the batch holding its
  item committed; if the commit fails, every item of the batch fails with that error.
* **One item cannot poison the others**: each item runs inside its own ``SAVEPOINT``; an
  item that raises is rolled back to its savepoint (its error goes to its caller alone)
  and the batch goes on. Only an error after which SQLite itself rolled back the whole
  transaction (disk full) fails every item of the batch, as it must.
* **No waiting for a batch to fill**: the batch is committed as soon as no other thread
  is queued to join it (leader/follower, no timer), so a lone write costs what it cost
  before; under load, the time one commit's fsync takes is when the next batch gathers.
  A batch holds at most :data:`MAX_BATCH` items.
* The items run on their callers' threads, one at a time, under the writer's lock (SQLite
  has one writer per file anyway): no hand-over to a writer thread on the way in or out,
  and an item's body keeps raising its own exceptions. Several processes on one file still
  serialize on SQLite's write lock, batch by batch.

A batch ends in :meth:`SqliteDatabase._commit`, labelled with its items' methods joined by
``+``, the one place a subclass can hook a commit (:mod:`host.store.crashpoint` does).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from host.errors import (
    InvalidInput,
    StoreError,
)
from host.ids import AgentId
from host.store.migrations import MIGRATIONS
from host.store.migrations import apply as apply_migrations

# Named here too for the modules that import them from this one (they live in sql_dialect).
from host.store.sql_dialect import _decode as _decode
from host.store.sql_dialect import _key as _key
from host.store.sql_dialect import _promise_key as _promise_key
from host.store.sqlite_checkpoint import Checkpointer
from host.store.sqlite_lock import BUSY_TIMEOUT_S, begin_immediate

MAX_BATCH = 64  # items in one group commit at most

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


class SqliteDatabase:
    """The database file: per-thread connections, labelled transactions, the schema's
    migrations, file-identity checks, integrity and backup."""

    # -- SQLite's side of host/store/sql_dialect.py's hooks --------------------------
    _PH = "?"
    _TRUE, _FALSE = "1", "0"  # the partial indexes say "completed = 0": so must queries
    _NO_LIMIT: int | None = -1
    # The partial index, which SQLite's planner does not pick on its own.
    _RESUME_INDEX = "INDEXED BY oplog_resume "
    _UNIQUE_VIOLATION: type[Exception] = sqlite3.IntegrityError

    @staticmethod
    def _json(value: object) -> object:
        return json.dumps(value, sort_keys=True)

    @staticmethod
    def _unjson(raw: object) -> Any:
        return json.loads(str(raw))

    @staticmethod
    def _any(column: str, values: Sequence[object]) -> tuple[str, list[object]]:
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def _lock_agents(self, db: sqlite3.Connection, *agents: AgentId) -> None:
        """Nothing to take: the file's one writer (BEGIN IMMEDIATE) serializes writes."""

    def _notify(self, db: sqlite3.Connection, agent: AgentId, work: bool) -> None:
        """Nothing to send: other processes on the file are woken over host/store/wakeup.py."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # (st_dev, st_ino) of the database file and of its -wal file as this process first
        # saw them; None until seen. SQLite keeps writing to the files it opened, so a
        # deleted or replaced -wal makes every later commit vanish (see _check_files).
        self._identity: dict[str, tuple[int, int] | None] = {"db": None, "wal": None}
        self._broken: str | None = None
        # The group commit (module docstring): one writer connection, the batch open on
        # it, how many threads wait to join it, and the thread running an item now.
        self._writer: sqlite3.Connection | None = None
        self._wcond = threading.Condition(threading.Lock())
        self._batch: _Batch | None = None
        self._joining = 0
        self._joining_lock = threading.Lock()
        self._writing: int | None = None
        # The writer does not checkpoint inside its commits; this does, on its own thread
        # (host/store/sqlite_checkpoint.py).
        self.checkpointer = Checkpointer(self._checkpoint_conn)
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
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _writer_conn(self) -> sqlite3.Connection:
        """The one connection every write transaction of this store runs on (under
        ``_wcond``)."""
        if self._writer is None:
            writer = self._connect()
            # Its BEGIN IMMEDIATE waits in begin_immediate, with shorter sleeps than
            # SQLite's busy handler (host/store/sqlite_lock.py).
            writer.execute("PRAGMA busy_timeout=0")
            # Its COMMIT never runs a checkpoint (several fsyncs, on a completion's path):
            # the checkpointer's thread does (host/store/sqlite_checkpoint.py).
            writer.execute("PRAGMA wal_autocheckpoint=0")
            self._writer = writer
        return self._writer

    def _connect(self) -> sqlite3.Connection:
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
        with self._lock:
            self._all.append(conn)
        return conn

    def _checkpoint_conn(self) -> sqlite3.Connection:
        # Not one of _all: close() stops the checkpointer, which closes its own.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=0")  # PASSIVE never waits anyway
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
                    db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
                    try:
                        busy, _, _ = db.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
                    finally:
                        if db is self._writer:
                            db.execute("PRAGMA busy_timeout=0")
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
        """One item of a group commit (module docstring) for the store method named
        ``method`` (the public method, or ``__init__`` for the schema migration when the
        store is opened): the body runs in its own savepoint of the batch's transaction,
        and this returns once the batch committed.

        SQLite errors that mean the store is unusable (disk full, read-only, I/O error,
        damage) leave here as StoreError; so does a write after the database or its -wal
        file was deleted or replaced under this process (:meth:`_check_files`)."""
        me = threading.get_ident()
        if self._writing == me:
            raise RuntimeError(f"store method {method} writes inside another write transaction")
        with _unusable_as_store_error(self.path):
            with self._joining_lock:
                self._joining += 1
            with self._wcond:
                with self._joining_lock:
                    self._joining -= 1
                batch = self._open_batch()
                db = self._writer_conn()
                db.execute("SAVEPOINT item")
                self._writing = me
                try:
                    yield db
                except BaseException as exc:
                    self._writing = None
                    if db.in_transaction:  # undo this item only; the batch goes on
                        db.execute("ROLLBACK TO item")
                        db.execute("RELEASE item")
                    else:  # SQLite rolled the whole batch back (disk full): all of it fails
                        self._fail_batch(batch, exc)
                    self._settle(batch)
                    raise
                self._writing = None
                db.execute("RELEASE item")
                batch.methods.append(method)
                self._settle(batch)
                while not batch.done:
                    self._wcond.wait()
                    self._settle(batch)
                if batch.error is not None:
                    raise batch.error

    def _open_batch(self) -> _Batch:
        """The open batch (under ``_wcond``), begun now if there is none."""
        if self._batch is None:
            db = self._writer_conn()
            self._check_files(db)
            begin_immediate(db)
            self._batch = _Batch()
        return self._batch

    def _settle(self, batch: _Batch) -> None:
        """Commit the open batch if nobody is queued to join it or it is full (under
        ``_wcond``); every item waiting on it is told."""
        if batch is not self._batch:
            return
        with self._joining_lock:
            joining = self._joining
        if joining and len(batch.methods) < MAX_BATCH:
            return  # the last of those queued now commits it
        self._batch = None
        db = self._writer_conn()
        try:
            if batch.methods:
                self._commit(db, "+".join(batch.methods))
                self.checkpointer.committed()
            else:
                db.execute("ROLLBACK")  # every item of it failed: nothing to commit
            # A commit that landed in a -wal file deleted meanwhile is not durable: say
            # so rather than acknowledge it.
            self._check_files(db)
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            mapped = store_error(self.path, exc) if isinstance(exc, sqlite3.Error) else None
            batch.error = mapped or exc
        batch.done = True
        self._wcond.notify_all()

    def _fail_batch(self, batch: _Batch, exc: BaseException) -> None:
        """SQLite rolled the batch's transaction back: every item in it is lost."""
        if batch is self._batch:
            self._batch = None
        mapped = store_error(self.path, exc) if isinstance(exc, sqlite3.Error) else None
        batch.error = mapped or StoreError(
            f"the store {self.path} rolled back a write transaction: {exc}"
        )
        batch.done = True
        self._wcond.notify_all()

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
        apply_migrations(
            db,
            MIGRATIONS,
            (v for v in sorted(MIGRATIONS) if v not in done),
            lambda version: db.execute(
                "INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time_ns())
            ),
        )

    def close(self) -> None:
        self.checkpointer.close()
        self.checkpointer = Checkpointer(self._checkpoint_conn)  # for a use after close()
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._writer = None
            # SQLite removes the -wal file when the last connection closes: a store used
            # again after close() sees new files, legitimately.
            self._identity = {"db": None, "wal": None}
        self._local = threading.local()


class _Batch:
    """The items of one group commit: their methods; once committed (or failed), done
    and the error its items raise (None: committed)."""

    __slots__ = ("done", "error", "methods")

    def __init__(self) -> None:
        self.methods: list[str] = []
        self.done = False
        self.error: BaseException | None = None
