"""Crash-point fault injection, a test seam (tests/crash_harness.py); off by default.

``AGENT_HOST_CRASH_AT=n`` kills this process with SIGKILL at its n-th store commit
(counted over the whole process, from 1, over every store it opened): just before the
COMMIT, or just after it with ``AGENT_HOST_CRASH_WHEN=after``.
``AGENT_HOST_CRASH_COUNT_FILE=path`` appends one line per commit (``<n> <store method>``,
the method being the public store method whose transaction it was, or ``__init__`` for the
schema migration run when a store is opened), so a test can count the commits of a clean
run. The commit is counted whether or not its transaction changed anything.

Only :func:`host.store.open_store` applies it: it reads the environment once, when it opens
a store, and with neither ``AGENT_HOST_CRASH_AT`` nor ``AGENT_HOST_CRASH_COUNT_FILE`` set
it returns a plain :class:`~host.store.sqlite.SqliteStore` and nothing here runs. A store
constructed directly (``SqliteStore(path)``) never crashes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from host.errors import StoreError
from host.store.sqlite import SqliteStore

AT = "AGENT_HOST_CRASH_AT"
WHEN = "AGENT_HOST_CRASH_WHEN"
COUNT_FILE = "AGENT_HOST_CRASH_COUNT_FILE"


@dataclass(frozen=True)
class CrashPoint:
    """Kill at commit ``at`` (None: never), ``after`` it or before; log commits to
    ``count_file`` (None: don't)."""

    at: int | None
    after: bool
    count_file: str | None


def crash_point_from_env(environ: Mapping[str, str] | None = None) -> CrashPoint | None:
    """The crash point the environment asks for; None if it asks for none."""
    env = os.environ if environ is None else environ
    at = env.get(AT)
    count_file = env.get(COUNT_FILE)
    if not at and not count_file:
        return None
    when = env.get(WHEN, "before")
    if when not in ("before", "after"):
        raise StoreError(f"{WHEN} must be before or after, not {when!r}")
    if at and not at.isdigit():
        raise StoreError(f"{AT} must be a commit number, not {at!r}")
    return CrashPoint(int(at) if at else None, when == "after", count_file or None)


# This process's commits so far, over every store it opened (and the lock that orders them).
_lock = threading.Lock()
_commits = 0


class CrashPointSqliteStore(SqliteStore):
    """A :class:`SqliteStore` that counts its commits and kills the process at one of them."""

    def __init__(self, path: Path | str, crash: CrashPoint) -> None:
        self.crash = crash  # before the migration: opening the store commits once too
        super().__init__(path)

    def _commit(self, db: sqlite3.Connection, method: str) -> None:
        global _commits
        with _lock:
            _commits += 1
            n = _commits
            if n == self.crash.at and not self.crash.after:
                os.kill(os.getpid(), signal.SIGKILL)
            db.execute("COMMIT")
            if n == self.crash.at:
                os.kill(os.getpid(), signal.SIGKILL)
            if self.crash.count_file is not None:
                with open(self.crash.count_file, "a") as out:
                    out.write(f"{n} {method}\n")
