"""Migration 9 (SQLite) / 3 (PostgreSQL) on both stores: a store with the previous schema
and oplog rows in the old code's format (JSON text, bytes as base64; the rows in
tests/unit/golden/rows/oplog-rows-v8.json were written by the previous revision's
``oplog.encode``) is opened by this code, migrated in place, and every entry reads back
identical, its bytes now in the BLOB column; except the update entries' target versions,
which the later migration 11 / 5 renumbers from 0 (tests/host/test_store_version_migration.py)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from host import oplog
from host.ids import AgentId
from host.oplog_codec import RESUME_KINDS, kind_of
from host.store import migrations as sqlite_migrations
from host.store import postgres_migrations
from host.store.url import open_store

OLD_ROWS: list[str] = json.loads(
    (Path(__file__).parent.parent / "unit" / "golden" / "rows" / "oplog-rows-v8.json").read_text()
)


def _renumbered(text: str) -> str:
    """A golden row as it reads after migration 11 / 5: versions count from 0."""
    entry = oplog.decode(text)
    if isinstance(entry, oplog.PendingUpdate | oplog.SuccessfulUpdate | oplog.FailedUpdate):
        entry = dataclasses.replace(entry, target_version=entry.target_version - 1)
    return oplog.encode(entry)


MIGRATED_ROWS = [_renumbered(text) for text in OLD_ROWS]
AGENT = AgentId(uuid.UUID("6b0e8c2a-6f0a-4c53-9d2e-0a0a0a0a0a0a"), "old-agent")
DAMAGED = AgentId(AGENT.component_id, "damaged")
DAMAGED_ROW = '{"type":"host-call","function":"f","request":[{"$bytes":"AA=='


def _old_sqlite_store(url: str) -> None:
    db = sqlite3.connect(url.removeprefix("sqlite://"))
    with db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INT)")
        for version in range(1, 9):
            for statement in sqlite_migrations.MIGRATIONS[version]:
                assert isinstance(statement, str)
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time_ns()))
        for agent, rows in ((AGENT, OLD_ROWS), (DAMAGED, [OLD_ROWS[0], DAMAGED_ROW])):
            db.execute(
                "INSERT INTO agents (component_id, name, component_hash, status, created_at) "
                "VALUES (?, ?, 'sha256:abc', 'idle', 1)",
                (str(agent.component_id), agent.name),
            )
            db.executemany(
                "INSERT INTO oplog (component_id, name, idx, entry) VALUES (?, ?, ?, ?)",
                [(str(agent.component_id), agent.name, i, t) for i, t in enumerate(rows, 1)],
            )
    db.close()


def _old_postgres_store(url: str) -> None:
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as db:
        db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT)"
        )
        for version in range(1, 3):
            for statement in postgres_migrations.MIGRATIONS[version]:
                assert isinstance(statement, str)
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (version, time.time_ns()))
        for agent, rows in ((AGENT, OLD_ROWS), (DAMAGED, [OLD_ROWS[0], DAMAGED_ROW])):
            db.execute(
                "INSERT INTO agents (component_id, name, component_hash, status, created_at) "
                "VALUES (%s, %s, 'sha256:abc', 'idle', 1)",
                (str(agent.component_id), agent.name),
            )
            db.executemany(
                "INSERT INTO oplog (component_id, name, idx, entry) VALUES (%s, %s, %s, %s)",
                [(str(agent.component_id), agent.name, i, t) for i, t in enumerate(rows, 1)],
            )


def _versions(store: Any) -> list[int]:
    with store._read() as db:
        rows = db.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [int(r[0]) for r in rows]


def test_an_old_store_is_migrated_in_place_and_reads_back_identical(store_url: str) -> None:
    postgres = store_url.startswith("postgresql")
    (_old_postgres_store if postgres else _old_sqlite_store)(store_url)
    store = open_store(store_url)
    try:
        newest = max((postgres_migrations if postgres else sqlite_migrations).MIGRATIONS)
        assert _versions(store) == list(range(1, newest + 1))
        entries = store.read_oplog(AGENT)
        # Identical: each entry's text form is byte for byte what the old code stored
        # (but for the two update entries' targets, renumbered from 0).
        assert [oplog.encode(e) for e in entries] == MIGRATED_ROWS
        assert entries == [oplog.decode(text) for text in MIGRATED_ROWS]
        assert sum(a != b for a, b in zip(OLD_ROWS, MIGRATED_ROWS, strict=True)) == 2
        raw = store.read_oplog_raw(AGENT)
        assert [i for i, _, _ in raw] == list(range(1, len(OLD_ROWS) + 1))
        assert all(head.startswith("[") for _, head, _ in raw), "every row rewritten"
        blobs = {i: blob for i, _, blob in raw if blob is not None}
        assert blobs[3] == bytes(range(16))  # get-random-bytes' response
        assert blobs[4] == b"hello\nworld\x00\xff"  # a stdout write
        assert blobs[7] == b'"approved"'  # a promise payload
        assert blobs[6] == b""  # an empty payload
        random = entries[2]
        assert isinstance(random, oplog.HostCall)
        assert random.response == {"$bytes": bytes(range(16))}
        # The migration recorded each row's type: a resume finds the few entries it reads
        # before a snapshot (host/oplog_codec.py RESUME_KINDS) through the kind index.
        wanted = [(i, e) for i, e in enumerate(entries, 1) if kind_of(e) in RESUME_KINDS]
        # The creation, a promise, a jump, a snapshot, an update.
        assert [i for i, _ in wanted] == [1, 5, 17, 19, 20]
        assert store.read_oplog_resume_kinds(AGENT) == wanted
        # A damaged row stays as it was (the check names it), the rest migrates.
        (first, damaged) = store.read_oplog_raw(DAMAGED)
        assert first[1].startswith("[") and damaged[1:] == (DAMAGED_ROW, None)
        problems = [p for p in _problems(store) if p.agent == str(DAMAGED)]
        assert [p.index for p in problems] == [2]
    finally:
        store.close()
    # Opening again migrates nothing more and reads the same.
    again = open_store(store_url)
    try:
        assert [oplog.encode(e) for e in again.read_oplog(AGENT)] == MIGRATED_ROWS
    finally:
        again.close()


def _problems(store: Any) -> list[Any]:
    from host.store.check import check_agent

    return check_agent(store, DAMAGED)


@pytest.mark.parametrize("text", OLD_ROWS[:3])
def test_a_row_left_in_the_old_form_still_decodes(text: str) -> None:
    from host.oplog_codec import decode_row, encode_row

    entry = decode_row(text)
    assert decode_row(*encode_row(entry)) == entry


def test_new_rows_record_their_kind(store_url: str) -> None:
    store = open_store(store_url)
    try:
        agent = AgentId(uuid.uuid4(), "fresh")
        store.create_agent(agent, "sha256:abc", oplog.AgentCreated(str(agent.component_id), "h"))
        later: list[oplog.Entry] = [
            oplog.InvocationStarted("i", "f", ()),
            oplog.PromiseCreated("p"),
            oplog.HostCall("g", [{"$bytes": b"\x00\x01"}], None),
            oplog.InvocationFinished("i", None),
            oplog.Snapshot("AQ==", "m"),
        ]
        store.append(agent, 2, later)
        kept = store.read_oplog_resume_kinds(agent)
        assert [i for i, _ in kept] == [1, 3, 6]
        assert [e for _, e in kept][1:] == [later[1], later[4]]
        assert store.read_oplog(agent)[3] == later[2]
    finally:
        store.close()
