"""begin_immediate (host/store/sqlite_lock.py): two real connections on one SQLite file,
one holding the write lock while the other waits for it, or gives up after its timeout."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from host.store.sqlite_lock import begin_immediate, is_busy


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA busy_timeout=0")
    return db


def _hold(path: Path, held: threading.Event, release: threading.Event, done: list[str]) -> None:
    db = _connect(path)
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO t VALUES ('holder')")
    held.set()
    release.wait(30)
    done.append("committing")
    db.execute("COMMIT")
    db.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "lock.db"
    db = _connect(file)
    db.execute("CREATE TABLE t (who TEXT)")
    db.close()
    return file


def test_waits_for_the_holder_then_takes_the_lock(path: Path) -> None:
    held, release = threading.Event(), threading.Event()
    done: list[str] = []
    holder = threading.Thread(target=_hold, args=(path, held, release, done))
    holder.start()
    assert held.wait(30)
    waiter = _connect(path)
    with pytest.raises(sqlite3.OperationalError) as busy:
        waiter.execute("BEGIN IMMEDIATE")  # busy_timeout=0: refused at once while held
    assert is_busy(busy.value)
    threading.Timer(0.05, release.set).start()
    begin_immediate(waiter)
    assert done == ["committing"]  # the lock came only with the holder's commit
    waiter.execute("INSERT INTO t VALUES ('waiter')")
    waiter.execute("COMMIT")
    holder.join(30)
    rows = [r[0] for r in waiter.execute("SELECT who FROM t ORDER BY rowid")]
    assert rows == ["holder", "waiter"]
    waiter.close()


def test_gives_up_after_its_timeout_with_sqlites_busy_error(path: Path) -> None:
    held, release = threading.Event(), threading.Event()
    done: list[str] = []
    holder = threading.Thread(target=_hold, args=(path, held, release, done))
    holder.start()
    assert held.wait(30)
    waiter = _connect(path)
    try:
        with pytest.raises(sqlite3.OperationalError) as exc:
            begin_immediate(waiter, timeout=0.05)
        assert is_busy(exc.value) and not waiter.in_transaction
    finally:
        release.set()
        holder.join(30)
        waiter.close()
    assert done == ["committing"]


def test_other_errors_are_not_busy(path: Path) -> None:
    db = _connect(path)
    with pytest.raises(sqlite3.OperationalError) as exc:
        db.execute("SELECT * FROM no_such_table")
    assert not is_busy(exc.value)
    db.close()
