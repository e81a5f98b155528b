"""Creating a promise no longer lists every pending one (issue "Nothing lost, nobody let
in, part 2", F15): the max_pending_promises check is one COUNT over a partial index
(migration 5), so creation does not slow down as pending promises accumulate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from host.ids import AgentId, PromiseId
from host.service import HostService
from host.store import DB_FILENAME
from host.store.base import PromiseRecord
from host.store.sqlite import SqliteStore
from tests.fixtures.build import build_fixture


class CountingStore(SqliteStore):
    """A real SQLite store that counts how often promises are listed."""

    listed = 0

    def list_promises(
        self, agent: AgentId | None = None, pending_only: bool = True
    ) -> list[PromiseRecord]:
        type(self).listed += 1
        return super().list_promises(agent, pending_only)


def test_create_promise_counts_instead_of_listing(data_dir: Path) -> None:
    store = CountingStore(data_dir / DB_FILENAME)
    host = HostService(data_dir, store=store)
    try:
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        agent, _ = host.create_agent("p", "many")
        host.set_limits(str(agent), {"max_pending_promises": 3})
        CountingStore.listed = 0
        made = [int(host.invoke(agent, "create()").result or "0") for _ in range(3)]
        assert CountingStore.listed == 0
        assert store.count_pending_promises(agent) == 3
        full = host.invoke(agent, "create()")
        assert full.state == "failed" and "max_pending_promises" in (full.error or "")
        host.retry(agent)  # the retried create still finds 3 pending: fails again
        host.run_due()
        assert host.store.get_agent(agent).status == "failed"
        # Completed and deleted promises are not pending.
        host.complete_promise(PromiseId(agent, made[0]), b"done")
        store.delete_promise(PromiseId(agent, made[1]))
        assert store.count_pending_promises(agent) == 1
        host.retry(agent)
        host.run_due()
        assert host.store.get_agent(agent).status == "idle"
        assert store.count_pending_promises(agent) == 2
        assert CountingStore.listed == 0
    finally:
        host.close()


def test_migration_5_adds_the_pending_index(data_dir: Path) -> None:
    SqliteStore(data_dir / DB_FILENAME).close()
    db = sqlite3.connect(data_dir / DB_FILENAME)
    try:
        versions = {r[0] for r in db.execute("SELECT version FROM schema_migrations")}
        assert {1, 2, 3, 5} <= versions
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM promises WHERE component_id = 'c' "
            "AND name = 'n' AND completed = 0 AND deleted = 0"
        ).fetchall()
        assert any("promises_pending" in str(row) for row in plan), plan
    finally:
        db.close()
