"""Migrations 11 and 12 (SQLite) / 5 and 6 (PostgreSQL) on both stores. 11 / 5: a store
the previous code wrote, with component versions counted from 1, is opened by this code
and renumbered in place to Golem's numbering from 0 (host/store/version_migration.py):
the components' versions, the oplog's update entries and a queued update request move
down by one; what the agent observed (its creation environment) stays as recorded;
everything else reads back identical; opening again changes nothing more. 12 / 6 and
15 / 9: invocations keep the W3C traceparent and tracestate of their request; one queued
before has neither, and the old rows of InvocationStarted (values fewer) read back with
none. 16 / 10: an old store gains an empty table of host-wide retry policies. 17 / 11: a
call scheduled before has no trace context; one scheduled after keeps its own.

The old store is built here as the old code left it: the schema by the migrations before
this one, the rows by the old schema's INSERTs, with the numbers the old code wrote."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from host import oplog
from host.ids import AgentId
from host.oplog_codec import encode_row, kind_of
from host.store import migrations, postgres_migrations
from host.store.base import FIRST_VERSION, InvocationState
from host.store.schedules import ScheduledCall
from host.store.url import open_store

COMPONENT = uuid.UUID("1d5c0f9e-2a8b-4c7d-9e6f-0b1a2c3d4e5f")
OTHER = uuid.UUID("2e6d1a0f-3b9c-4d8e-8f70-1c2b3d4e5f60")
AGENT = AgentId(COMPONENT, "old-agent")
HASHES = ["sha256:one", "sha256:two", "sha256:three"]
ENV = (("GOLEM_COMPONENT_VERSION", "1"), ("GOLEM_COMPONENT_REVISION", "1"))
T = 1_700_000_000_000_000_000

# The agent's oplog as the old code wrote it: created on version 1, updated to 2,
# a failed update to 3, then a request for 3 waiting in its queue.
OLD_ENTRIES: list[oplog.Entry] = [
    oplog.AgentCreated(str(COMPONENT), HASHES[0], (), ENV, timestamp=T),
    oplog.InvocationStarted("inv-1", "add", ("5",), timestamp=T + 1),
    oplog.InvocationFinished("inv-1", "5", timestamp=T + 2),
    oplog.PendingUpdate(2, HASHES[1], "automatic", timestamp=T + 3),
    oplog.SuccessfulUpdate(2, HASHES[1], timestamp=T + 4),
    oplog.PendingUpdate(3, HASHES[2], "snapshot-based", timestamp=T + 5),
    oplog.FailedUpdate(3, "snapshot-based update failed: no load-snapshot", timestamp=T + 6),
]
NEW_TARGETS = {4: 1, 5: 1, 6: 2, 7: 2}  # oplog index -> target version after the migration

# Other agents, for the version each runs (migration 13 / 7): one created on version 3
# (old numbering) and never updated, one whose update to 3 a revert deleted.
ON_THREE = AgentId(COMPONENT, "on-three")
REVERTED = AgentId(COMPONENT, "reverted")
OTHER_AGENTS: dict[AgentId, tuple[str, list[oplog.Entry]]] = {
    ON_THREE: (
        HASHES[2],
        [oplog.AgentCreated(str(COMPONENT), HASHES[2], (), (("GOLEM_COMPONENT_VERSION", "3"),))],
    ),
    REVERTED: (
        HASHES[0],
        [
            oplog.AgentCreated(str(COMPONENT), HASHES[0], (), ENV, timestamp=T),
            oplog.PendingUpdate(3, HASHES[2], "automatic", timestamp=T + 1),
            oplog.SuccessfulUpdate(3, HASHES[2], timestamp=T + 2),
            oplog.Jump(2, 4, timestamp=T + 3),
        ],
    ),
}
# The version each agent runs once migrated (versions from 0).
RUNS = {AGENT: 1, ON_THREE: 2, REVERTED: 0}
QUEUED_ID = "queued-update"
OLD_SCHEDULE = "rest-schedule:old"
UPDATES = oplog.PendingUpdate | oplog.SuccessfulUpdate | oplog.FailedUpdate


def _old_rows() -> list[tuple[int, str, bytes | None, str]]:
    return [(i, *encode_row(e), kind_of(e)) for i, e in enumerate(OLD_ENTRIES, 1)]


def _components() -> list[tuple[str, str, int, str, int, int]]:
    rows = [(str(COMPONENT), "updater", v, h, 100 * v, T + v) for v, h in enumerate(HASHES, 1)]
    return [*rows, (str(OTHER), "solo", 1, "sha256:solo", 10, T)]


def _fill_old_store(
    db: Any, schema: dict[int, list[Any]], last: int, ph: str, as_json: Any = json.dumps
) -> None:
    """The schema up to migration ``last`` and the old code's rows, through ``db`` (either
    store's cursor; ``ph`` its placeholder, ``as_json`` how it takes a JSON parameter)."""

    def sql(text: str) -> str:
        return text.replace("?", ph)

    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT)")
    record = "INSERT INTO schema_migrations VALUES (?, ?)"
    migrations.apply(
        db, schema, range(1, last + 1), lambda v: db.execute(sql(record), (v, time.time_ns()))
    )
    db.executemany(sql("INSERT INTO components VALUES (?, ?, ?, ?, ?, ?)"), _components())
    db.execute(
        sql(
            "INSERT INTO agents (component_id, name, component_hash, status, created_at) "
            "VALUES (?, ?, ?, 'idle', ?)"
        ),
        (str(COMPONENT), AGENT.name, HASHES[1], T),
    )
    db.executemany(
        sql(
            "INSERT INTO oplog (component_id, name, idx, entry, data, kind) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        ),
        [(str(COMPONENT), AGENT.name, *row) for row in _old_rows()],
    )
    for agent, (hash, entries) in OTHER_AGENTS.items():
        db.execute(
            sql(
                "INSERT INTO agents (component_id, name, component_hash, status, created_at) "
                "VALUES (?, ?, ?, 'idle', ?)"
            ),
            (str(COMPONENT), agent.name, hash, T),
        )
        db.executemany(
            sql(
                "INSERT INTO oplog (component_id, name, idx, entry, data, kind) "
                "VALUES (?, ?, ?, ?, ?, ?)"
            ),
            [
                (str(COMPONENT), agent.name, i, *encode_row(e), kind_of(e))
                for i, e in enumerate(entries, 1)
            ],
        )
    db.execute(
        sql(
            "INSERT INTO invocations (component_id, name, seq, invocation_id, function, "
            "params, state, created_at) VALUES (?, ?, 1, ?, '<update>', ?, 'queued', ?)"
        ),
        (str(COMPONENT), AGENT.name, QUEUED_ID, as_json(["3", HASHES[2], "automatic"]), T),
    )
    db.execute(
        sql(
            "INSERT INTO scheduled_calls (call_key, component_id, name, function, params, "
            "due_at_ns, caller_component_id, caller_name, state, created_at) "
            "VALUES (?, ?, ?, 'add', '[\"1\"]', ?, NULL, NULL, 'waiting', ?)"
        ),
        (OLD_SCHEDULE, str(COMPONENT), AGENT.name, T, T),
    )


def _old_sqlite_store(url: str) -> None:
    import sqlite3

    db = sqlite3.connect(url.removeprefix("sqlite://"))
    with db:
        _fill_old_store(db, migrations.MIGRATIONS, 10, "?")
    db.close()


def _old_postgres_store(url: str) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(url) as conn, conn.cursor() as db:
        _fill_old_store(db, postgres_migrations.MIGRATIONS, 4, "%s", Jsonb)


def _schema_versions(store: Any) -> list[int]:
    with store._read() as db:
        rows = db.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [int(r[0]) for r in rows]


def _check_renumbered(store: Any) -> None:
    versions = store.list_component_versions(str(COMPONENT))
    assert [(c.version, c.hash) for c in versions] == list(enumerate(HASHES, FIRST_VERSION))
    assert [c.size for c in versions] == [100, 200, 300]  # the rest of each row unchanged
    assert store.get_component("updater").version == 2  # the latest
    assert store.get_component("solo").version == 0
    entries = store.read_oplog(AGENT)
    assert len(entries) == len(OLD_ENTRIES)
    for i, (old, new) in enumerate(zip(OLD_ENTRIES, entries, strict=True), 1):
        if i in NEW_TARGETS:
            assert isinstance(new, UPDATES) and type(new) is type(old)
            assert new.target_version == NEW_TARGETS[i]
            assert new == type(old)(**{**old.__dict__, "target_version": NEW_TARGETS[i]})
        else:
            assert new == old  # the agent's own observations, its env included
    (queued,) = store.list_invocations(AGENT, [InvocationState.QUEUED])
    assert (queued.invocation_id, queued.function) == (QUEUED_ID, "<update>")
    assert queued.params == ("2", HASHES[2], "automatic")


def test_a_store_numbered_from_1_is_renumbered_from_0(store_url: str) -> None:
    postgres = store_url.startswith("postgresql")
    (_old_postgres_store if postgres else _old_sqlite_store)(store_url)
    store = open_store(store_url)
    try:
        newest = max((postgres_migrations if postgres else migrations).MIGRATIONS)
        assert _schema_versions(store) == list(range(1, newest + 1))
        _check_renumbered(store)
        # Each agent's version by number, from its oplog (migration 13 / 7).
        assert {a: store.get_agent(a).component_version for a in RUNS} == RUNS
        # The update records and the service's view read the new numbers.
        from host.runtime import update_queue

        kinds = store.read_oplog_kinds(AGENT, update_queue.KINDS)
        queued = store.list_invocations(AGENT, [InvocationState.QUEUED])
        records = update_queue.records(kinds, queued)
        assert [(r.kind, r.target_version) for r in records] == [
            ("SuccessfulUpdate", 1),
            ("FailedUpdate", 2),
            ("PendingUpdate", 2),
        ]
        # A new upload takes the next number after the renumbered ones.
        assert store.add_component("updater", "sha256:four", 400).version == 3
    finally:
        store.close()
    again = open_store(store_url)  # nothing more to migrate: the same numbers
    try:
        assert [c.version for c in again.list_component_versions(str(COMPONENT))] == [0, 1, 2, 3]
        _check_renumbered_oplog_only(again)
        assert {a: again.get_agent(a).component_version for a in RUNS} == RUNS
    finally:
        again.close()


def _check_renumbered_oplog_only(store: Any) -> None:
    entries = store.read_oplog(AGENT)
    targets = [e.target_version for e in entries if isinstance(e, UPDATES)]
    assert targets == list(NEW_TARGETS.values())
    (queued,) = store.list_invocations(AGENT, [InvocationState.QUEUED])
    assert queued.params[0] == "2"


def test_a_new_store_numbers_from_0(store_url: str) -> None:
    store = open_store(store_url)
    try:
        first = store.add_component("fresh", "sha256:a", 1)
        assert first.version == FIRST_VERSION == 0
        assert store.add_component("fresh", "sha256:a", 1).version == 0  # same bytes: same
        assert store.add_component("fresh", "sha256:b", 1).version == 1
    finally:
        store.close()


def test_invocations_queued_before_the_traceparent_column_have_none(store_url: str) -> None:
    postgres = store_url.startswith("postgresql")
    (_old_postgres_store if postgres else _old_sqlite_store)(store_url)
    store = open_store(store_url)
    try:
        (queued,) = store.list_invocations(AGENT, [InvocationState.QUEUED])
        assert queued.traceparent is None
        started = store.read_oplog(AGENT)[1]
        assert isinstance(started, oplog.InvocationStarted) and started.traceparent is None
        # Migration 15 / 9: nor a tracestate, and the old row (two values fewer) reads
        # back without one.
        assert queued.tracestate is None and started.tracestate is None
        header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        new = store.enqueue(AGENT, "inv-traced", "add", ["1"], None, header, "a=1,b=2")
        assert (new.traceparent, new.tracestate) == (header, "a=1,b=2")
        again = store.get_invocation("inv-traced")
        assert (again.traceparent, again.tracestate) == (header, "a=1,b=2")
    finally:
        store.close()


def test_an_old_store_gains_an_empty_retry_policy_table(store_url: str) -> None:
    """Migration 16 / 10: a store written before host-wide retry policies opens with none,
    keeps its agents, and stores, replaces, lists and removes them afterwards."""
    postgres = store_url.startswith("postgresql")
    (_old_postgres_store if postgres else _old_sqlite_store)(store_url)
    store = open_store(store_url)
    try:
        assert store.list_retry_policies() == []
        assert store.get_agent(AGENT).component_version == RUNS[AGENT]
        policy = {"name": "b", "priority": 3, "predicate": ["pred-true"], "policy": ["never"]}
        store.set_retry_policy("b", policy)
        store.set_retry_policy("a", {**policy, "name": "a", "policy": ["periodic", 5]})
        store.set_retry_policy("b", {**policy, "priority": 9})
        assert store.list_retry_policies() == [
            {**policy, "name": "a", "policy": ["periodic", 5]},
            {**policy, "priority": 9},
        ]
        assert store.remove_retry_policy("a") is True
        assert store.remove_retry_policy("a") is False
    finally:
        store.close()
    again = open_store(store_url)
    try:
        assert again.list_retry_policies() == [{**policy, "priority": 9}]
    finally:
        again.close()


def test_a_call_scheduled_before_the_trace_columns_has_none(store_url: str) -> None:
    """Migration 17 / 11: the schedule rows gain the scheduler's trace context; an old row
    reads back without one and fires as before, a new one keeps its own."""
    postgres = store_url.startswith("postgresql")
    (_old_postgres_store if postgres else _old_sqlite_store)(store_url)
    store = open_store(store_url)
    try:
        old = store.get_schedule(OLD_SCHEDULE)
        assert old is not None and (old.function, old.params, old.due_at_ns) == ("add", ("1",), T)
        assert (old.traceparent, old.tracestate) == (None, None)
        header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        new = ScheduledCall("rest-schedule:new", AGENT, "add", ("2",), T, None, "waiting", header)
        assert store.add_schedule(new)
        assert [(s.key, s.traceparent) for s in store.due_schedules(T)] == [
            ("rest-schedule:new", header),
            (OLD_SCHEDULE, None),
        ]
    finally:
        store.close()
