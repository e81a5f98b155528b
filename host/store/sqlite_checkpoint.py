"""WAL checkpoints off the commit path (issue 13: completion -> awaiting code continues).

SQLite's automatic checkpoint runs inside ``COMMIT`` on the committing connection, once the
-wal file holds more than 1,000 pages: that commit then also copies those pages into the
database file and fsyncs both files, several times the cost of a plain commit. A resume
writes a few dozen pages, so one round trip in twenty or so paid for it, and it was what
the p99 of the latency benchmark was made of.

The store's writer connection therefore does not checkpoint (``wal_autocheckpoint=0``);
:class:`Checkpointer` does, on a thread and a connection of its own, a ``PASSIVE``
checkpoint once every :data:`CHECKPOINT_EVERY` commits. A passive checkpoint takes no
write lock and never waits: commits (of this process or another) go on meanwhile, and a
checkpoint that cannot copy everything (a reader still uses old pages) copies what it can,
the rest at the next one, as SQLite's own would.

Nothing about durability changes: a commit is durable once its frames are synced in the
-wal file, checkpointed or not, and a checkpoint interrupted by a crash is finished by the
next connection that opens the file. Other processes on the same file (the CLI) keep
SQLite's automatic checkpoint.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("agent-host")

CHECKPOINT_EVERY = 64  # commits between two checkpoints (a few hundred pages at most)


class Checkpointer:
    """Runs ``PASSIVE`` checkpoints on its own thread, when :meth:`committed` says enough
    commits went by. The thread starts with the first checkpoint due and waits on an event
    between them (no polling)."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], every: int = CHECKPOINT_EVERY
    ) -> None:
        self._connect = connect
        self.every = every
        self._count = 0
        self._due = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self.runs = 0  # checkpoints run so far (tests wait on it through wait_runs)

    def committed(self) -> None:
        """A commit landed in the -wal file (called by the committing thread)."""
        self._count += 1
        if self._count < self.every:
            return
        self._count = 0
        self.request()

    def request(self) -> None:
        """A checkpoint is due now."""
        with self._lock:
            if self._closed:
                return
            if self._thread is None or not self._thread.is_alive():  # (a forked child's)
                self._thread = threading.Thread(
                    target=self._loop, name="sqlite-checkpoint", daemon=True
                )
                self._thread.start()
        self._due.set()

    def wait_runs(self, runs: int, timeout: float) -> bool:
        """Whether ``runs`` checkpoints have run, waiting up to ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self.runs >= runs, timeout)

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._closed:
                    return
                try:
                    if conn is None:
                        conn = self._connect()
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # the next commit's own checks say it loudly
                    log.debug("checkpointing the store failed: %s", exc)
                with self._idle:
                    self.runs += 1
                    self._idle.notify_all()
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        """Stop the thread (after the checkpoint under way, if any)."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._due.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(30.0)
