"""Taking SQLite's write lock when several host processes share one file.

SQLite's own busy handler (``PRAGMA busy_timeout``) retries a locked ``BEGIN IMMEDIATE``
after sleeps that grow from 1 ms to 100 ms (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100):
a process that waits behind another's group commit (a few milliseconds) usually sleeps well
past the moment the lock came free, and once its waits reach the 25 ms steps it loses
many commits' worth of time for each one it gets (issue 13: with ``serve --workers 2`` the
busy handler's sleeps dominated). :func:`begin_immediate` retries instead after short
sleeps (0.2 ms doubling to at most 2 ms), the GIL released while it sleeps, until the same
overall timeout as before: a waiter takes the lock within about 2 ms of its release.

The writer connection runs with ``busy_timeout=0`` so that its ``BEGIN IMMEDIATE`` answers
at once; once it holds the lock, nothing else in its transaction waits for another
process (WAL: commits need no further lock, and the automatic checkpoint is passive).
"""

from __future__ import annotations

import sqlite3
import time

BUSY_TIMEOUT_S = 10.0  # as the readers' PRAGMA busy_timeout=10000
FIRST_SLEEP_S = 0.0002
LONGEST_SLEEP_S = 0.002


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (SQLITE_BUSY)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_BUSY)
    return "database is locked" in str(exc)


def begin_immediate(db: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_S) -> None:
    """``BEGIN IMMEDIATE`` on ``db`` (whose busy timeout is 0), retried while another
    connection holds the write lock; after ``timeout`` seconds the last SQLITE_BUSY error
    is raised, as SQLite's busy handler would."""
    deadline = time.monotonic() + timeout
    pause = FIRST_SLEEP_S
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, LONGEST_SLEEP_S)
