"""WAL checkpoints off the commit path (host/store/sqlite_checkpoint.py): the store's
commits never copy pages into the database file themselves; the checkpointer's thread
does, once enough commits went by, and what it copied is what was committed."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from host.store.sqlite import SqliteStore


def _write(store: SqliteStore, count: int, tag: str) -> None:
    for i in range(count):  # each commit writes a few KiB: many WAL pages in all
        store.set_limits(f"{tag}-{i}", {"note": "x" * 3000})


def _db_pages(path: Path) -> int:
    # The main file only: its size grows when a checkpoint copies new pages into it.
    return path.stat().st_size // 4096


def test_commits_leave_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    store.checkpointer.every = 10**9  # only when asked, below
    before = _db_pages(path)
    # 1,500 pages and more: SQLite's automatic checkpoint (every 1,000 pages) would have
    # copied them into the database file inside one of these commits.
    _write(store, 1500, "a")
    assert _db_pages(path) == before
    runs = store.checkpointer.runs
    store.checkpointer.request()
    assert store.checkpointer.wait_runs(runs + 1, timeout=60)
    assert _db_pages(path) > before + 1000
    # Everything committed is in the database file now: read a copy of it without the -wal.
    shutil.copyfile(path, tmp_path / "copy.db")
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("SELECT COUNT(*) FROM limits WHERE scope LIKE 'a-%'").fetchone() == (1500,)
    copy.close()
    store.close()


def test_enough_commits_start_a_checkpoint_on_their_own(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    store.checkpointer.every = 50
    runs = store.checkpointer.runs
    _write(store, 120, "b")
    assert store.checkpointer.wait_runs(runs + 2, timeout=60)
    store.close()
    # After close() (the thread stopped) the store still works and checkpoints again.
    _write(store, 70, "c")  # more than CHECKPOINT_EVERY
    assert store.checkpointer.wait_runs(1, timeout=60)
    assert store.get_limits("c-69") is not None
    store.close()
