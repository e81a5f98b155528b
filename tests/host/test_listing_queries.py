"""Listing agents reads the store in a few queries for the whole listing, not several per
agent (issue 13: ``GET .../workers?status=suspended`` of 1,000 agents made 4,000)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from host.service import HostService
from host.store import DB_FILENAME
from host.store.sqlite import SqliteStore
from tests.fixtures.build import build_fixture


class ReadCountingStore(SqliteStore):
    """A real SQLite store counting its read transactions."""

    reads = 0

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        self.reads += 1
        with super()._read() as db:
            yield db


def test_listing_suspended_agents_takes_a_few_queries_whatever_their_number(
    tmp_path: Path,
) -> None:
    data = tmp_path / "store"
    store = ReadCountingStore(data / DB_FILENAME)
    host = HostService(data, store=store)
    try:
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        agents = []
        for i in range(25):
            agent, _ = host.create_agent("p", f"w{i}")
            host.invoke(agent, "create-and-await()")
            agents.append(agent)
        idle, _ = host.create_agent("p", "idle")

        before = store.reads
        views = host.list_agents("p", "suspended")
        assert store.reads - before <= 6

        assert sorted(v.agent.name for v in views) == sorted(a.name for a in agents)
        for view in views:
            assert view.status == "suspended"
            assert view.component_version == 0
            assert [p.id.oplog_idx for p in view.pending_promises] == list(
                view.record.waiting_promises
            )
            assert [i.state for i in view.invocations] == ["started"]
            assert view.created.component_id == str(view.agent.component_id)
        # Only the listed agents' first entries are read (not the idle one's).
        cid = str(agents[0].component_id)
        assert set(store.first_entries(cid, "suspended")) == set(agents)
        assert set(store.first_entries(cid)) == {*agents, idle}
        everyone = host.list_agents()
        assert len(everyone) == 26
        assert {v.agent.name: v.invocations for v in everyone}["idle"] == ()
    finally:
        host.close()
