"""A store failure under a guest's host call is not the guest's failure (issue "Nothing
lost, nobody let in, part 2", F10): a transient "database or disk is full" used to mark
the agent failed for good. Now nothing is recorded, the agent stays running with its
invocation started, it is retried after a backoff, and once the disk has room the
invocation finishes.

The full disk is real: SQLite's ``PRAGMA max_page_count`` caps the database at its size,
so the next write that needs a page fails with SQLITE_FULL. The store opens a
connection per thread, so :class:`FullDiskStore` (a test seam in this file, off until
``full_for`` names store methods) applies the pragma at the start of those methods'
transactions, in whatever thread runs them.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from host.oplog import InvocationFailed
from host.service import HostService
from host.store import DB_FILENAME
from host.store.sqlite import SqliteStore
from tests.fixtures.build import build_fixture

UNLIMITED_PAGES = 4294967294


class FullDiskStore(SqliteStore):
    """A real SQLite store whose database cannot grow in the transactions of the methods
    named in ``full_for``: the page count is capped at the file's size and its free pages
    are taken by a filler row (rolled back with the transaction, deleted if it commits)."""

    full_for: frozenset[str] = frozenset()  # the store methods that meet a full disk

    @contextmanager
    def _tx(self, method: str) -> Iterator[sqlite3.Connection]:
        db = self._writer_conn()  # the group commit's connection
        full = method in self.full_for
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages if full else UNLIMITED_PAGES}")
        with super()._tx(method) as conn:
            if full:
                free = conn.execute("PRAGMA freelist_count").fetchone()[0]
                size = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute("CREATE TABLE IF NOT EXISTS test_filler (b BLOB)")
                if free > 2:
                    conn.execute(
                        "INSERT INTO test_filler VALUES (zeroblob(?))", ((free - 2) * size,)
                    )
            yield conn
            if full:
                conn.execute("DELETE FROM test_filler")


def test_a_full_disk_during_a_host_call_leaves_the_agent_running_and_it_recovers(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FullDiskStore(data_dir / DB_FILENAME)
    host = HostService(data_dir, store=store)
    try:
        host.executor.retry_backoff_s = (0.2, 0.4)
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        agent, _ = host.create_agent("p", "diskfull")
        idx = int(host.invoke(agent, "create()").result or "0")
        # The guest's complete-promise host call writes a payload that needs new pages
        # (its oplog entry, the promise's data): the disk is full for that transaction.
        data = "[" + ", ".join(["7"] * 20_000) + "]"
        call = host.call_from_wave(agent, f"complete({idx}, {data})")
        inv = store.enqueue(agent, str(uuid.uuid4()), call.export.name, call.params, None)
        store.full_for = frozenset({"complete_promise"})
        with caplog.at_level(logging.ERROR, logger="host.runtime.executor"):
            host.run_due()
        record = host.store.get_agent(agent)
        assert (record.status, record.last_error) == ("running", None)
        assert host.store.get_invocation(inv.invocation_id).state == "started"
        assert not any(isinstance(e, InvocationFailed) for e in host.store.read_oplog(agent))
        assert any("database or disk is full" in r.getMessage() for r in caplog.records)
        # Backing off: the scanner's next passes do not run it again at once.
        calls = 0
        real = host.executor._execute

        def counting(a: object, r: object) -> object:
            nonlocal calls
            calls += 1
            return real(a, r)  # type: ignore[arg-type]

        host.executor._execute = counting  # type: ignore[method-assign,assignment]
        for _ in range(20):
            host.run_due()
        assert calls == 0
        # Still full after the backoff: retried once, still running, the delay doubles.
        time.sleep(0.25)
        host.run_due()
        assert calls == 1 and host.store.get_agent(agent).status == "running"
        # The disk has room again: the retry finishes the invocation.
        store.full_for = frozenset()
        time.sleep(0.45)
        host.run_due()
        done = host.store.get_invocation(inv.invocation_id)
        assert (done.state, done.result) == ("done", "true")
        assert host.store.get_agent(agent).status == "idle"
        assert host.check().problems == ()
    finally:
        host.close()


def test_a_full_disk_in_the_executors_own_transition_is_retried_too(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Starting the invocation (InvocationStarted with its large parameters) meets the
    full disk: the worker's pass does not raise, the invocation stays queued."""
    store = FullDiskStore(data_dir / DB_FILENAME)
    host = HostService(data_dir, store=store)
    try:
        host.executor.retry_backoff_s = (0.1, 0.1)
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        agent, _ = host.create_agent("p", "startfull")
        idx = int(host.invoke(agent, "create()").result or "0")
        data = "[" + ", ".join(["7"] * 20_000) + "]"
        call = host.call_from_wave(agent, f"complete({idx}, {data})")
        inv = store.enqueue(agent, str(uuid.uuid4()), call.export.name, call.params, None)
        store.full_for = frozenset({"start_invocation"})
        with caplog.at_level(logging.ERROR, logger="host.runtime.executor"):
            host.run_due()
        assert any("database or disk is full" in r.getMessage() for r in caplog.records)
        assert host.store.get_invocation(inv.invocation_id).state == "queued"
        assert host.store.get_agent(agent).status == "idle"
        store.full_for = frozenset()
        time.sleep(0.15)
        host.run_due()
        assert host.store.get_invocation(inv.invocation_id).state == "done"
    finally:
        host.close()
