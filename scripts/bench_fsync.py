#!/usr/bin/env python3
"""This machine's durability floor (issue 13): what one durable commit costs at least.

A completion is acknowledged only after its commit, and the awaiting code continues only
after the completion is durable, so no round trip can be faster than one fsync of the
store's disk. Printed, never asserted, on the filesystem the store uses (``--dir``, by
default the temporary directory the benchmarks put their stores in):

* ``fsync`` and ``fdatasync`` of a small append (one WAL frame: 4 KiB + 24 bytes) to a file;
* one ``INSERT`` committed by SQLite in WAL mode with ``synchronous=FULL`` (the store's
  setting), which is the append and fsync of the -wal file plus SQLite's own work.

    .venv/bin/python scripts/bench_fsync.py [--dir DIR] [--rounds 500]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _measure(rounds: int, steps: dict[str, Callable[[], None]]) -> dict[str, list[float]]:
    """Each step timed ``rounds`` times, the steps interleaved round by round: the disk is
    shared with other work, whose load moves by more than the steps differ."""
    for step in steps.values():  # warm the files' blocks and the journal
        for _ in range(min(20, rounds)):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            t0 = time.perf_counter_ns()
            step()
            times[name].append((time.perf_counter_ns() - t0) / 1e6)
    return times


def _line(name: str, times: list[float]) -> str:
    return (
        f"  {name:34} median {statistics.median(times):6.3f} ms, "
        f"p99 {_pct(times, 99):6.3f} ms, min {min(times):6.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-fsync-", dir=args.dir))
    frame = os.urandom(4096 + 24)
    print(f"fsync floor on {work} ({args.rounds} rounds each):")
    fd = os.open(work / "append", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    db = sqlite3.connect(work / "floor.db", isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        body = os.urandom(200)

        def append_fsync() -> None:
            os.write(fd, frame)
            os.fsync(fd)

        def append_fdatasync() -> None:
            os.write(fd, frame)
            os.fdatasync(fd)

        def commit() -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (body) VALUES (?)", (body,))
            db.execute("COMMIT")

        steps = {
            "append 4 KiB + fsync": append_fsync,
            "append 4 KiB + fdatasync": append_fdatasync,
            "SQLite WAL FULL: 1 insert commit": commit,
        }
        for name, times in _measure(args.rounds, steps).items():
            print(_line(name, times))
    finally:
        db.close()
        os.close(fd)
        for child in work.iterdir():
            child.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
