"""Numbered schema migrations, applied in order in the same transaction that records them.

A step is an SQL statement or a function of the connection (a data migration)."""

from collections.abc import Callable, Iterable
from typing import Any

from host.store import agent_version_migration, oplog_migration, version_migration

Step = str | Callable[[Any], None]


def apply(
    db: Any,
    migrations: dict[int, list[Step]],
    versions: Iterable[int],
    record: Callable[[int], object],
) -> None:
    """Run each of ``versions``' steps on ``db`` (a connection or cursor, either store's
    numbering) and call ``record(version)`` after each: in the caller's transaction, so
    a migration and its schema_migrations row commit together."""
    for version in versions:
        for step in migrations[version]:
            if isinstance(step, str):
                db.execute(step)
            else:
                step(db)
        record(version)


MIGRATIONS: dict[int, list[Step]] = {
    1: [
        """CREATE TABLE components (
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            hash TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (id, version)
        )""",
        "CREATE INDEX components_by_name ON components (name, version)",
        """CREATE TABLE agents (
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            component_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_error TEXT,
            waiting_promises TEXT,
            wake_at_ns INTEGER,
            PRIMARY KEY (component_id, name)
        )""",
        """CREATE TABLE oplog (
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            idx INTEGER NOT NULL,
            entry TEXT NOT NULL,
            PRIMARY KEY (component_id, name, idx)
        ) WITHOUT ROWID""",
        """CREATE TABLE promises (
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            idx INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            function TEXT,
            completed INTEGER NOT NULL DEFAULT 0,
            data BLOB,
            completed_at INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (component_id, name, idx)
        )""",
        """CREATE TABLE invocations (
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            seq INTEGER NOT NULL,
            invocation_id TEXT NOT NULL UNIQUE,
            function TEXT NOT NULL,
            params TEXT NOT NULL,
            idempotency_key TEXT,
            state TEXT NOT NULL,
            result TEXT,
            error TEXT,
            created_at INTEGER NOT NULL,
            finished_at INTEGER,
            PRIMARY KEY (component_id, name, seq),
            UNIQUE (component_id, name, idempotency_key)
        )""",
        "CREATE INDEX invocations_by_state ON invocations (state, component_id, name)",
        """CREATE TABLE leases (
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            owner TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (component_id, name)
        )""",
    ],
    2: [
        # Guest limits per component (scope = component id) or agent (component id/name).
        "CREATE TABLE limits (scope TEXT PRIMARY KEY, data TEXT NOT NULL)",
    ],
    3: [
        # SHA-256 of each promise's secret (host/secrets.py); the secret itself is not stored.
        "ALTER TABLE promises ADD COLUMN secret_hash TEXT",
    ],
    4: [
        # Leases judged without trusting another process's clock (host/store/sqlite.py,
        # "Leases"): the holder bumps `heartbeat` on every renewal (`ttl_ms` is its TTL,
        # a duration), and every acquisition by a new owner bumps the agent's fencing
        # token `lease_epoch`.
        "ALTER TABLE leases ADD COLUMN heartbeat INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE leases ADD COLUMN ttl_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE agents ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0",
    ],
    5: [
        # The agent's pending promises, counted at every create-promise (issue "Nothing
        # lost, nobody let in, part 2", F15: listing them all made creation O(pending)).
        "CREATE INDEX IF NOT EXISTS promises_pending ON promises (component_id, name) "
        "WHERE completed = 0 AND deleted = 0",
    ],
    6: [
        # Automatic retries of the agent's current failure (host/runtime/executor.py).
        "ALTER TABLE agents ADD COLUMN retry_count INTEGER NOT NULL DEFAULT 0",
    ],
    7: [
        # The agent types a Golem agent component reported at registration
        # (discover-agent-types), by component content hash; JSON (host/agents/model.py).
        "CREATE TABLE agent_types (hash TEXT PRIMARY KEY, types TEXT NOT NULL)",
    ],
    8: [
        # Leases held per host process (host/store/sqlite_leases.py, issue 13): one row
        # per process, whose heartbeat keeps all of its agents' leases alive at once.
        "CREATE TABLE processes (owner TEXT PRIMARY KEY, heartbeat INTEGER NOT NULL, "
        "ttl_ms INTEGER NOT NULL, expires_at INTEGER NOT NULL, started_at INTEGER NOT NULL)",
        "CREATE INDEX leases_by_owner ON leases (owner)",
    ],
    9: [
        # Oplog entries as a compact JSON head plus a BLOB of their bytes (payloads, guest
        # output, random bytes, HTTP bodies) instead of base64 inside JSON text
        # (host/oplog_codec.py, issue 13 item 2); existing rows are rewritten in place.
        "ALTER TABLE oplog ADD COLUMN data BLOB",
        # The entry's type: a resume reads the few it needs from before the latest
        # snapshot through the partial index, and the rest from the snapshot on.
        "ALTER TABLE oplog ADD COLUMN kind TEXT",
        oplog_migration.sqlite_step,
        oplog_migration.RESUME_INDEX,
    ],
    10: [
        # Scheduled invocations (wasm-rpc schedule-invocation; host/store/schedules.py).
        """CREATE TABLE scheduled_calls (
            call_key TEXT PRIMARY KEY,
            component_id TEXT NOT NULL,
            name TEXT NOT NULL,
            function TEXT NOT NULL,
            params TEXT NOT NULL,
            due_at_ns INTEGER NOT NULL,
            caller_component_id TEXT,
            caller_name TEXT,
            state TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )""",
        "CREATE INDEX scheduled_calls_due ON scheduled_calls (state, due_at_ns)",
    ],
    11: [
        # Component versions from 0, as Golem numbers them (host/store/version_migration.py):
        # components, update entries and queued update requests move down by one.
        version_migration.sqlite_step,
    ],
    12: [
        # The W3C traceparent the invocation's request carried (golem:api/context: its
        # trace id is the invocation's; host/runtime/context.py). NULL: none.
        "ALTER TABLE invocations ADD COLUMN traceparent TEXT",
    ],
    13: [
        # The version each agent runs, by number (host/store/agent_version_migration.py):
        # its file alone does not say it when two versions hold the same bytes.
        agent_version_migration.ADD_COLUMN,
        agent_version_migration.sqlite_step,
    ],
    14: [
        # An interrupt asked of an agent another process runs (the CLI's `agent interrupt`
        # against a store a server holds): the owner, told by the wake-up channel, takes
        # it and stops the running invocation (host/runtime/remote_interrupt.py).
        "ALTER TABLE agents ADD COLUMN interrupt_requested INTEGER NOT NULL DEFAULT 0",
    ],
    15: [
        # The W3C tracestate that came with the invocation's traceparent (Golem keeps
        # both: host/tracecontext.py); forwarded with it on outgoing requests. NULL: none.
        "ALTER TABLE invocations ADD COLUMN tracestate TEXT",
    ],
    16: [
        # Host-wide named retry policies (Golem 1.5's environment-level ones): an agent
        # resolves them over the default and under its own (host/runtime/golem_retry.py).
        # data: the policy's JSON form (host/retry_policy_json.py).
        """CREATE TABLE retry_policies (
            name TEXT PRIMARY KEY,
            data TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        )""",
    ],
    17: [
        # The scheduler's W3C trace context on a scheduled call (host/store/schedules.py):
        # a REST schedule's request headers, or the scheduling agent's, kept with the row
        # itself. NULL: none (every call scheduled before).
        "ALTER TABLE scheduled_calls ADD COLUMN traceparent TEXT",
        "ALTER TABLE scheduled_calls ADD COLUMN tracestate TEXT",
    ],
}
