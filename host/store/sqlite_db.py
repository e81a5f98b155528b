"""The SQLite file under the store: connections, transactions, migrations, the checks
that the file is still the one this process opened, integrity and backup.

Every public store method runs as one ``BEGIN IMMEDIATE`` transaction on a
per-thread connection (:meth:`SqliteDatabase._tx`), labelled with the method that runs
it and ending in :meth:`SqliteDatabase._commit`, the one place a subclass can hook a
commit (:mod:`host.store.crashpoint` does).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from host.errors import (
    InvalidInput,
    PromiseNotFound,
    StoreError,
)
from host.ids import AgentId, PromiseId
from host.store.base import (
    AgentStatus,
    InvocationState,
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


class SqliteDatabase:
    """The database file: per-thread connections, labelled transactions, the schema's
    migrations, file-identity checks, integrity and backup."""

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
