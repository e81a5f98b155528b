"""Numbered schema migrations of the PostgreSQL store, applied in order in the same
transaction that records them (PostgreSQL's DDL is transactional, so a migration is all
or nothing). Numbered on their own: the SQLite store's history (host/store/migrations.py)
is not replayed here; version 1 is today's schema.

Types: times are BIGINT nanoseconds like the SQLite store's (what the records carry),
except a lease's expiry, a TIMESTAMPTZ on the database's own clock; payloads are BYTEA;
invocation parameters, waiting promise indexes and limits are JSONB. Oplog entry heads
and agent types stay TEXT: they are returned exactly as written (``read_oplog_raw`` checks
the stored text; JSONB would reorder keys and drop whitespace); an entry's bytes are
BYTEA (migration 3).
"""

from host.store import agent_version_migration, oplog_migration, version_migration
from host.store.migrations import Step

MIGRATIONS: dict[int, list[Step]] = {
    1: [
        """CREATE TABLE components (
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            hash TEXT NOT NULL,
            size BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (id, version)
        )""",
        "CREATE INDEX components_by_name ON components (name, version)",
        """CREATE TABLE agents (
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            component_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_error TEXT,
            waiting_promises JSONB,
            wake_at_ns BIGINT,
            lease_epoch BIGINT NOT NULL DEFAULT 0,
            retry_count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (component_id, name)
        )""",
        "CREATE INDEX agents_by_status ON agents (status)",
        """CREATE TABLE oplog (
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            idx BIGINT NOT NULL,
            entry TEXT NOT NULL,
            PRIMARY KEY (component_id, name, idx)
        )""",
        """CREATE TABLE promises (
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            idx BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            function TEXT,
            completed BOOLEAN NOT NULL DEFAULT FALSE,
            data BYTEA,
            completed_at BIGINT,
            deleted BOOLEAN NOT NULL DEFAULT FALSE,
            secret_hash TEXT,
            PRIMARY KEY (component_id, name, idx)
        )""",
        "CREATE INDEX promises_pending ON promises (component_id, name) "
        "WHERE NOT completed AND NOT deleted",
        """CREATE TABLE invocations (
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            seq BIGINT NOT NULL,
            invocation_id TEXT NOT NULL UNIQUE,
            function TEXT NOT NULL,
            params JSONB NOT NULL,
            idempotency_key TEXT,
            state TEXT NOT NULL,
            result TEXT,
            error TEXT,
            created_at BIGINT NOT NULL,
            finished_at BIGINT,
            PRIMARY KEY (component_id, name, seq),
            UNIQUE (component_id, name, idempotency_key)
        )""",
        "CREATE INDEX invocations_by_state ON invocations (state, component_id, name)",
        """CREATE TABLE leases (
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            owner TEXT NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            heartbeat BIGINT NOT NULL DEFAULT 0,
            ttl_ms BIGINT NOT NULL,
            PRIMARY KEY (component_id, name)
        )""",
        "CREATE TABLE limits (scope TEXT PRIMARY KEY, data JSONB NOT NULL)",
        "CREATE TABLE agent_types (hash TEXT PRIMARY KEY, types TEXT NOT NULL)",
    ],
    2: [
        # Leases held per host process (host/store/postgres_leases.py, issue 13): one row
        # per process, whose heartbeat keeps all of its agents' leases alive at once.
        """CREATE TABLE processes (
            owner TEXT PRIMARY KEY,
            heartbeat BIGINT NOT NULL,
            ttl_ms BIGINT NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            started_at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE INDEX leases_by_owner ON leases (owner)",
    ],
    3: [
        # Oplog entries as a compact JSON head plus a BYTEA of their bytes (payloads, guest
        # output, random bytes, HTTP bodies) instead of base64 inside JSON text
        # (host/oplog_codec.py, issue 13 item 2); existing rows are rewritten in place.
        "ALTER TABLE oplog ADD COLUMN data BYTEA",
        # The entry's type: a resume reads the few it needs from before the latest
        # snapshot through the partial index, and the rest from the snapshot on.
        "ALTER TABLE oplog ADD COLUMN kind TEXT",
        oplog_migration.postgres_step,
        oplog_migration.RESUME_INDEX,
    ],
    4: [
        # Scheduled invocations (wasm-rpc schedule-invocation; host/store/schedules.py).
        """CREATE TABLE scheduled_calls (
            call_key TEXT PRIMARY KEY,
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            function TEXT NOT NULL,
            params TEXT NOT NULL,
            due_at_ns BIGINT NOT NULL,
            caller_component_id TEXT,
            caller_name TEXT,
            state TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )""",
        "CREATE INDEX scheduled_calls_due ON scheduled_calls (state, due_at_ns)",
    ],
    5: [
        # Component versions from 0, as Golem numbers them (host/store/version_migration.py):
        # components, update entries and queued update requests move down by one.
        version_migration.postgres_step,
    ],
    6: [
        # The W3C traceparent the invocation's request carried (host/runtime/context.py).
        "ALTER TABLE invocations ADD COLUMN traceparent TEXT",
    ],
    7: [
        # The version each agent runs, by number (host/store/agent_version_migration.py).
        agent_version_migration.ADD_COLUMN,
        agent_version_migration.postgres_step,
    ],
    8: [
        # An interrupt asked of an agent another process runs (host/runtime/remote_interrupt.py).
        "ALTER TABLE agents ADD COLUMN interrupt_requested INTEGER NOT NULL DEFAULT 0",
    ],
    9: [
        # The W3C tracestate that came with the invocation's traceparent (host/tracecontext.py).
        "ALTER TABLE invocations ADD COLUMN tracestate TEXT",
    ],
    10: [
        # Host-wide named retry policies (Golem 1.5's environment-level ones;
        # host/runtime/golem_retry.py).
        """CREATE TABLE retry_policies (
            name TEXT PRIMARY KEY,
            data JSONB NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
    ],
    11: [
        # The scheduler's W3C trace context on a scheduled call (host/store/schedules.py).
        "ALTER TABLE scheduled_calls ADD COLUMN traceparent TEXT",
        "ALTER TABLE scheduled_calls ADD COLUMN tracestate TEXT",
    ],
}
