"""The PostgreSQL database under :class:`~host.store.postgres.PostgresStore`: connections,
transactions, per-agent locks, migrations, error mapping and LISTEN/NOTIFY.

**Isolation.** Every store method is one transaction at PostgreSQL's default READ
COMMITTED, made safe by explicit locks rather than SERIALIZABLE: each transaction that
writes an agent's rows first takes that agent's *transaction-scoped advisory lock*
(:meth:`PostgresDatabase._lock_agents`, ``pg_advisory_xact_lock`` on a 64-bit hash of the agent
id). That serializes exactly what SQLite's single writer serialized for one agent (its
oplog indexes, its status, its lease and fencing token, the suspend/complete race of spec
rule 4) while writes to different agents run in parallel. It also covers rows that do not
exist yet (a new agent, a new invocation's sequence number), which row locks cannot, and
never fails a transaction half way for the caller to retry, as SERIALIZABLE's
serialization failures would. Transactions locking two agents (a completion journaled by
another agent) lock them in sorted order, so two of them cannot deadlock.

**Errors.** A connection refused, a server gone mid-transaction, a dropped network:
psycopg's ``OperationalError``/``InterfaceError`` become :class:`~host.errors.StoreError`
naming the server (never the password), and the thread's connection is dropped so the
next call connects afresh. The executor backs off on StoreError like on a busy SQLite.
Integrity errors are bugs and pass through, except a duplicate oplog index (OplogConflict,
raised by the store).

**Wake-ups across processes.** A transaction that gives an agent work (a completion that
wakes it, an invocation queued, a resume) sends ``NOTIFY agent_host, 'w <agent>'``; one
that ends an invocation or otherwise changes what a held wait looks at sends
``'d <agent>'``. PostgreSQL delivers them at commit, to every listening process, so a
completion written by one host wakes the agent in the host that runs it at once;
:meth:`PostgresDatabase.listen` runs the listening thread (the scheduler's scanner stays
the fallback when notifications are lost with a connection).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from host.errors import StoreError
from host.ids import AgentId
from host.store.migrations import apply as apply_migrations
from host.store.postgres_migrations import MIGRATIONS

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.types.json import Jsonb
except ImportError as exc:  # pragma: no cover - psycopg is a pinned dependency
    raise StoreError(f"the PostgreSQL store needs psycopg 3 ({exc})") from None

log = logging.getLogger("agent-host")

CHANNEL = "agent_host"
"""The LISTEN/NOTIFY channel of agent-host's wake-ups."""

# Now on the database's clock, as nanoseconds since the epoch (microsecond precision).
NOW_NS = "(extract(epoch from clock_timestamp()) * 1000000000)::bigint"

_MIGRATION_LOCK = 0x6167_656E_7448_6F73  # "agentHos": one migrator at a time


def describe(url: str) -> str:
    """``host:port/dbname`` of a PostgreSQL URL, for messages (never the password)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "(an unparsable PostgreSQL URL)"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or ''}"


def store_error(where: str, exc: psycopg.Error) -> StoreError | None:
    """The StoreError a psycopg error stands for, or None when it is not about the server
    being unreachable or unusable (a constraint violation is a bug, not an outage)."""
    if isinstance(exc, psycopg.errors.DiskFull | psycopg.errors.ReadOnlySqlTransaction):
        return StoreError(f"the PostgreSQL store {where} cannot be written: {_first_line(exc)}")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege | psycopg.errors.InvalidPassword):
        return StoreError(
            f"the PostgreSQL store {where} refuses this user: {_first_line(exc)}; grant it "
            "the rights to create tables in the database (or fix the password)"
        )
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreError(
            f"the PostgreSQL store {where} cannot be reached: {_first_line(exc)}; check that "
            "the server is running and reachable (agents are retried once it is back)"
        )
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def agent_key(agent: AgentId) -> tuple[str, str]:
    return str(agent.component_id), agent.name


class PostgresDatabase:
    """The database: per-thread connections, transactions, migrations, notifications."""

    # -- PostgreSQL's side of host/store/sql_dialect.py's hooks ----------------------
    _PH = "%s"  # psycopg's parameter mark
    _TRUE, _FALSE = "TRUE", "FALSE"
    _NO_LIMIT: int | None = None
    _RESUME_INDEX = ""  # the planner picks the partial index oplog_resume itself
    _UNIQUE_VIOLATION: type[Exception] = psycopg.errors.UniqueViolation

    @staticmethod
    def _json(value: object) -> object:
        return Jsonb(value)

    @staticmethod
    def _unjson(raw: object) -> Any:
        return raw  # psycopg gives JSONB back as Python values

    @staticmethod
    def _any(column: str, values: Sequence[object]) -> tuple[str, list[object]]:
        return f"{column} = ANY(%s)", [[str(v) for v in values]]

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = describe(url)
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._lock_all = threading.Lock()
        # Backend pids of this store's own connections: their notifications are this
        # process's own doing (it has already scheduled the work), so listen() skips them.
        self._own_pids: set[int] = set()
        self._listeners: list[tuple[threading.Thread, threading.Event]] = []
        with self._tx("__init__") as db:
            self._migrate(db)

    # -- plumbing ---------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        # autocommit: transactions are explicit (conn.transaction()), one per method.
        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None and (conn.closed or conn.broken):
            self._drop(conn)
            conn = None
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock_all:
                self._all.append(conn)
                self._own_pids.add(conn.info.backend_pid)
        return conn

    def _drop(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock_all:
            if conn in self._all:
                self._all.remove(conn)
        try:
            conn.close()
        except psycopg.Error:
            pass
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            mapped = store_error(self.where, exc)
            if mapped is None:
                raise
            conn = getattr(self._local, "conn", None)
            if conn is not None and (conn.closed or conn.broken):
                self._drop(conn)
            raise mapped from None

    @contextmanager
    def _tx(self, method: str) -> Iterator[Any]:
        """One transaction of the store method ``method``; psycopg errors that mean the
        server is unreachable or unusable leave as StoreError. The cursor is typed Any:
        its rows are tuples whose shape only the query knows."""
        with self._mapped():
            conn = self._conn()
            with conn.transaction(), conn.cursor() as cur:
                yield cur

    @contextmanager
    def _read(self, method: str = "read") -> Iterator[Any]:
        """A read-only use of the store, its statements sent without BEGIN and COMMIT: at
        READ COMMITTED (this store's isolation, module docstring) each statement sees a
        snapshot of its own inside a transaction too, so one around reads bought no
        consistency and cost two round trips per read (issue 13: about 19 reads per
        resume). Reads take no locks. Inside a write transaction of the same thread the
        statements run in that transaction, as before."""
        with self._mapped():
            conn = self._conn()
            with conn.cursor() as cur:
                yield cur

    def _lock_agents(self, db: psycopg.Cursor[Any], *agents: AgentId) -> None:
        """Take the agents' transaction-scoped advisory locks, in sorted order (see the
        module docstring: this is the store's isolation)."""
        for agent in sorted(set(agents), key=agent_key):
            db.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"{agent.component_id}/{agent.name}",),
            )

    def _notify(self, db: psycopg.Cursor[Any], agent: AgentId, work: bool) -> None:
        """Tell listening processes (at commit) that the agent has work (``work``) or that
        its state changed (an invocation ended: held waits should look)."""
        db.execute(
            "SELECT pg_notify(%s, %s)",
            (CHANNEL, f"{'w' if work else 'd'} {agent.component_id}/{agent.name}"),
        )

    # -- health ---------------------------------------------------------------------
    def health(self) -> None:
        with self._read("health") as db:
            db.execute("SELECT COUNT(*) FROM schema_migrations")
            db.execute("SELECT component_id FROM agents LIMIT 1")

    def verify(self) -> None:
        """PostgreSQL checks its own pages; this checks that the schema is whole."""
        with self._read("verify") as db:
            db.execute("SELECT MAX(version) FROM schema_migrations")
            row = db.fetchone()
        if row is None or row[0] != max(MIGRATIONS):
            raise StoreError(
                f"the PostgreSQL store {self.where} has schema version {row and row[0]}, "
                f"expected {max(MIGRATIONS)}"
            )

    def _migrate(self, db: psycopg.Cursor[Any]) -> None:
        # Several hosts may open a new database at once: one migrates, the others wait.
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
        )
        db.execute("SELECT version FROM schema_migrations")
        done = {int(row[0]) for row in db.fetchall()}
        newest = max(MIGRATIONS)
        if done and max(done) > newest:
            raise StoreError(
                f"the PostgreSQL store {self.where} has schema version {max(done)}, newer "
                f"than this agent-host understands ({newest}); upgrade agent-host"
            )
        apply_migrations(
            db,
            MIGRATIONS,
            (v for v in sorted(MIGRATIONS) if v not in done),
            lambda version: db.execute(
                f"INSERT INTO schema_migrations VALUES (%s, {NOW_NS})", (version,)
            ),
        )

    # -- LISTEN/NOTIFY -----------------------------------------------------------------
    def listen(
        self, on_event: Callable[[AgentId, bool], None], owner: str | None = None
    ) -> Callable[[], None]:
        """Call ``on_event(agent, work)`` for every wake-up another process sends (see the
        module docstring), from a thread of its own, until the returned function is
        called (``owner`` is not needed: every process hears every notification). A
        lost connection is reconnected with backoff; what was sent meanwhile is left to
        the scheduler's scanner. Returns once ``LISTEN`` is in effect (or after a few
        seconds if the database cannot be reached): a scan begun after this misses
        nothing sent before it."""
        stop = threading.Event()
        listening = threading.Event()
        thread = threading.Thread(
            target=self._listen_loop,
            args=(on_event, stop, listening),
            name="pg-listen",
            daemon=True,
        )
        thread.start()
        self._listeners.append((thread, stop))
        listening.wait(5.0)

        def unlisten() -> None:
            stop.set()
            thread.join(5.0)

        return unlisten

    def _listen_loop(
        self,
        on_event: Callable[[AgentId, bool], None],
        stop: threading.Event,
        listening: threading.Event,
    ) -> None:
        import uuid

        delay = 0.1
        reported: str | None = None
        while not stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    listening.set()
                    delay, reported = 0.1, None
                    while not stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            if note.pid in self._own_pids:
                                continue
                            kind, _, text = note.payload.partition(" ")
                            cid, _, name = text.partition("/")
                            try:
                                agent = AgentId(uuid.UUID(cid), name)
                            except ValueError:
                                continue  # not ours
                            try:
                                on_event(agent, kind == "w")
                            except Exception:
                                log.exception("handling a wake-up for %s failed", agent)
            except psycopg.Error as exc:
                mapped = store_error(self.where, exc)
                message = str(mapped or exc)
                if message != reported:
                    log.error("listening for wake-ups failed (the scanner still runs): %s", message)
                reported = message
                stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def close(self) -> None:
        for thread, stop in self._listeners:
            stop.set()
            thread.join(5.0)
        self._listeners.clear()
        with self._lock_all:
            conns, self._all = self._all, []
            self._own_pids.clear()
        for conn in conns:
            try:
                conn.close()
            except psycopg.Error:
                pass
        self._local = threading.local()
