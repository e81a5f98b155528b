"""The SQLite store's group commit (host/store/sqlite_db.py): writes that arrive while one
is being written share its transaction, each caller returns once its batch committed, and
an item that fails is rolled back alone."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest

from host.errors import AgentNotFound
from host.ids import AgentId
from host.store.sqlite import SqliteStore


class CountingStore(SqliteStore):
    """A real SQLite store that remembers the label of every batch it commits."""

    def __init__(self, path: Path) -> None:
        self.commits: list[str] = []
        super().__init__(path)

    def _commit(self, db: sqlite3.Connection, method: str) -> None:
        super()._commit(db, method)
        self.commits.append(method)


def _wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)


def test_a_failing_item_leaves_the_rest_of_its_batch_committed(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "s.db")
    store.commits.clear()
    errors: dict[str, BaseException] = {}

    def good() -> None:
        store.set_limits("good", {"fuel": 1})

    def bad() -> None:
        try:
            store.enqueue(AgentId(uuid.uuid4(), "nobody"), "inv-1", "f", [], None)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion below
            errors["bad"] = exc

    threads = [threading.Thread(target=good), threading.Thread(target=bad)]
    # The first item holds the writer until both others are queued behind it, so all
    # three land in one batch.
    with store._tx("first") as db:
        db.execute("INSERT INTO limits (scope, data) VALUES ('first', '{}')")
        for thread in threads:
            thread.start()
        _wait_for(lambda: store._joining == 2)
    for thread in threads:
        thread.join(10)

    assert isinstance(errors["bad"], AgentNotFound)
    assert store.get_limits("good") == {"fuel": 1}
    assert store.get_limits("first") == {}
    with store._read() as db:
        scopes = {r[0] for r in db.execute("SELECT scope FROM limits")}
    assert scopes == {"first", "good"}
    # One commit for all three items; the failed one is not in its label.
    assert store.commits == ["first+set_limits"]
    store.close()


def test_a_batch_whose_items_all_fail_commits_nothing(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "s.db")
    store.commits.clear()
    with pytest.raises(AgentNotFound):
        store.enqueue(AgentId(uuid.uuid4(), "nobody"), "inv-1", "f", [], None)
    assert store.commits == []
    store.set_limits("after", {"fuel": 2})  # the writer is free again
    assert store.commits == ["set_limits"]
    assert store.get_limits("after") == {"fuel": 2}
    store.close()


def test_concurrent_writes_are_all_committed_in_fewer_or_as_many_batches(
    tmp_path: Path,
) -> None:
    store = CountingStore(tmp_path / "s.db")
    store.commits.clear()
    threads_n, each = 8, 25

    def writer(t: int) -> None:
        for i in range(each):
            store.set_limits(f"t{t}-{i}", {"fuel": i})
            # Returned: committed, so visible to a fresh connection at once.
            with sqlite3.connect(store.path) as other:
                row = other.execute(
                    "SELECT data FROM limits WHERE scope = ?", (f"t{t}-{i}",)
                ).fetchone()
            assert row is not None

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with store._read() as db:
        (count,) = db.execute("SELECT COUNT(*) FROM limits").fetchone()
    assert count == threads_n * each
    items = [m for label in store.commits for m in label.split("+")]
    assert items == ["set_limits"] * (threads_n * each)
    assert len(store.commits) <= threads_n * each
    store.close()


def test_a_write_inside_a_write_is_refused_not_deadlocked(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    with pytest.raises(RuntimeError, match="inside another write"):
        with store._tx("outer"):
            store.set_limits("inner", {"fuel": 1})
    store.set_limits("after", {"fuel": 1})
    assert store.get_limits("inner") == {}
    store.close()
