"""A store that cannot be written says so: StoreError in the store, 503 JSON over HTTP
(issue "Nothing lost, nobody let in, part 2", F7, F8, F9).

Every failure here is real SQLite behaviour, no mock: ``PRAGMA max_page_count`` makes
SQLite report SQLITE_FULL ("database or disk is full") exactly as a full disk does, and
``PRAGMA query_only`` makes it refuse writes as "attempt to write a readonly database"
(tests run as root, where a chmod would not stop writes). A deleted ``-wal`` file is
deleted for real, and the backup runs while another thread commits.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from host.errors import StoreError
from host.runtime.scheduler import PoolScheduler
from host.server import create_app
from host.service import HostService
from host.store import DB_FILENAME, SqliteStore
from tests.fixtures.build import build_fixture
from tests.server_util import wait_until

REPO = Path(__file__).resolve().parents[2]


class PragmaStore(SqliteStore):
    """A SqliteStore that runs ``pragmas`` on every connection once they are set: the
    readers' connections are per thread and the writes go through the group commit's
    own, so a pragma on one would not reach the others."""

    def __init__(self, path: Path) -> None:
        self.pragmas: list[str] = []
        super().__init__(path)

    def _conn(self) -> sqlite3.Connection:
        return self._with_pragmas(super()._conn())

    def _writer_conn(self) -> sqlite3.Connection:
        return self._with_pragmas(super()._writer_conn())

    def _with_pragmas(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        for pragma in self.pragmas:
            conn.execute(pragma)
        return conn


FULL = "PRAGMA max_page_count = 1"  # clamped to the current size: no page may be added
READ_ONLY = "PRAGMA query_only = ON"


@pytest.mark.parametrize(
    ("pragma", "says"),
    [(FULL, "database or disk is full"), (READ_ONLY, "readonly database")],
    ids=["disk-full", "read-only"],
)
def test_a_write_the_database_refuses_is_a_store_error(
    tmp_path: Path, pragma: str, says: str
) -> None:
    store = PragmaStore(tmp_path / DB_FILENAME)
    store.add_component("before", "h0", 1)
    store.pragmas.append(pragma)
    with pytest.raises(StoreError, match=says):
        for i in range(200):  # grows the file past its size limit
            store.add_component(f"c{i}-" + "x" * 4000, f"h{i}", 1)
    # The refused transaction was rolled back; the store still reads and, once the cause
    # is gone, writes again.
    assert [c.name for c in store.list_components()] == ["before"]
    store.pragmas.clear()
    store.close()
    store.add_component("after", "h1", 1)
    assert {c.name for c in store.list_components()} == {"before", "after"}
    store.close()


@pytest.fixture
def app_service(tmp_path: Path) -> Iterator[tuple[TestClient, PragmaStore, str]]:
    store = PragmaStore(tmp_path / DB_FILENAME)
    service = HostService(tmp_path, store=store, scheduler=PoolScheduler(workers=2))
    cid = service.add_component_bytes(build_fixture("promises-1.3.0").read_bytes(), "p").id
    with TestClient(create_app(service)) as client:
        yield client, store, cid
    service.close()


@pytest.mark.parametrize("pragma", [FULL, READ_ONLY], ids=["disk-full", "read-only"])
def test_http_writes_on_a_full_or_read_only_store_are_503_json(
    app_service: tuple[TestClient, PragmaStore, str], pragma: str
) -> None:
    client, store, cid = app_service
    # The scheduler's scanner reads the store on its own thread: closing a connection it
    # is stepping a query on crashes sqlite3 (a use after free), so stop it first.
    client.app.state.service.scheduler.stop()  # type: ignore[attr-defined]
    store.close()  # every thread opens a new connection, with the pragma
    store.pragmas.append(pragma)
    answer = client.post(
        f"/v1/components/{cid}/workers", json={"name": "w", "env": {"PAD": "x" * 60000}}
    )
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["code"] == "store_unavailable"
    assert "cannot be used" in error["message"]
    assert client.get(f"/v1/components/{cid}/workers").status_code == 200  # reads still work


def test_a_deleted_wal_file_refuses_writes_and_keeps_what_was_acknowledged(
    tmp_path: Path,
) -> None:
    path = tmp_path / DB_FILENAME
    store = SqliteStore(path)
    acknowledged = [store.add_component(f"c{i}", f"h{i}", 1).name for i in range(30)]
    os.unlink(f"{path}-wal")
    with pytest.raises(StoreError, match="-wal was deleted") as refused:
        store.add_component("lost", "hx", 1)
    message = str(refused.value)
    assert "restore the store from a backup" in message and "stop every" in message
    assert "start empty" not in message and "move it away" not in message
    with pytest.raises(StoreError, match="-wal was deleted"):  # and every write after it
        store.set_limits("x", {"fuel": 1})
    with pytest.raises(StoreError):
        store.health()
    store.close()
    reopened = SqliteStore(path)
    names = {c.name for c in reopened.list_components()}
    assert set(acknowledged) <= names, sorted(set(acknowledged) - names)
    reopened.close()


def test_no_message_advises_discarding_the_store() -> None:
    for file in (REPO / "host").rglob("*.py"):
        text = file.read_text()
        assert "start empty" not in text and "move it away" not in text, file


def _at_least(items: list[str], count: int) -> bool:
    return len(items) >= count


def test_backup_while_a_writer_commits_is_consistent_and_complete(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "live" / DB_FILENAME)
    service = HostService(tmp_path / "live", store=store)
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            store.add_component(f"c{i:05d}", f"h{i}" + "y" * 500, 1)
            acknowledged.append(f"c{i:05d}")
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        backups = []
        for n in range(8):
            # Each backup starts after the writer committed more: it runs between them.
            wait_until(functools.partial(_at_least, acknowledged, len(acknowledged) + 3), 60)
            before = list(acknowledged)
            backups.append((service.backup(tmp_path / f"backup-{n}.db"), before))
    finally:
        stop.set()
        thread.join()
    assert len(acknowledged) >= 8 * 3  # the writer really ran during the backups
    for dest, before in backups:
        db = sqlite3.connect(dest)
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        db.close()
        copy = SqliteStore(dest)
        names = {c.name for c in copy.list_components()}
        assert set(before) <= names, sorted(set(before) - names)[:5]
        copy.close()
    with pytest.raises(Exception, match="already exists"):
        service.backup(backups[0][0])
    service.close()
