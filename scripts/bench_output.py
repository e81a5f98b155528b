#!/usr/bin/env python3
"""Figures for guest output (issue "Nothing lost, nobody let in, part 2", F15), printed,
never asserted.

A WAT guest (tests/fixtures/wat/output) writes N MiB to stdout in 64 KiB
blocking-write-and-flush calls, and later the same agent is replayed from its oplog (a
fresh host on the same store); then a 100 MiB flood meets max_output_bytes, and the
promises fixture creates promises that stay pending. Printed: the oplog bytes per MiB of
stdout (the stored entry text and the database files), the time of the live invocation
and of the replay, when and how the flood stopped, and the create-promise rate per
quarter as pending promises accumulate.

    .venv/bin/python scripts/bench_output.py [--mib N] [--flood-mib N] [--promises N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from host.service import HostService  # noqa: E402
from host.store import DB_FILENAME  # noqa: E402
from tests.fixtures.build import build_fixture  # noqa: E402

MIB = 1 << 20


def _db_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.iterdir() if p.name.startswith(DB_FILENAME))


def output(mib: int) -> None:
    wasm = build_fixture("output")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "store"
        host = HostService(data_dir)
        try:
            host.add_component(wasm, name="output")
            agent, _ = host.create_agent("output", "flood")
            t0 = time.perf_counter()
            inv = host.invoke(agent, f"flood({mib * MIB}, 65536)")
            live = time.perf_counter() - t0
            assert inv.state == "done", inv
        finally:
            host.close()
        db = sqlite3.connect(data_dir / DB_FILENAME)
        try:
            entry_bytes = db.execute("SELECT SUM(LENGTH(entry)) FROM oplog").fetchone()[0]
        finally:
            db.close()
        file_bytes = _db_bytes(data_dir)
        host = HostService(data_dir)
        try:
            agent, _ = host.create_agent("output", "flood")
            # A replay: the oplog answers every write; then one more live invocation.
            host.executor.forget_instance(agent)
            t0 = time.perf_counter()
            again = host.invoke(agent, "flood(1, 1)")
            replay = time.perf_counter() - t0
            assert again.state == "done", again
        finally:
            host.close()
    print(f"stdout: {mib} MiB in 64 KiB writes")
    print(
        f"  oplog entry text: {entry_bytes / mib / MIB:.2f} bytes per stdout byte "
        f"({entry_bytes / mib:,.0f} bytes per MiB)"
    )
    print(f"  database files:   {file_bytes / mib:,.0f} bytes per MiB")
    print(f"  live invocation:  {live:.2f} s ({live / mib:.3f} s per MiB)")
    print(f"  replay + 1 call:  {replay:.2f} s ({replay / mib:.3f} s per MiB)")


def flood(mib: int) -> None:
    """A stdout flood far past max_output_bytes (default limits): when it stops, how much
    oplog it left, and the process's peak RSS."""
    wasm = build_fixture("output")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "store"
        host = HostService(data_dir)
        try:
            host.add_component(wasm, name="output")
            agent, _ = host.create_agent("output", "flood")
            t0 = time.perf_counter()
            inv = host.invoke(agent, f"flood({mib * MIB}, 65536)")
            elapsed = time.perf_counter() - t0
            limit = host.limits.max_output_bytes
        finally:
            host.close()
        file_bytes = _db_bytes(data_dir)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"flood: {mib} MiB of stdout asked, max_output_bytes {limit / MIB:g} MiB")
    print(f"  invocation {inv.state} after {elapsed:.2f} s: {inv.error}")
    print(f"  database files: {file_bytes / MIB:.1f} MiB; peak RSS {peak / 1024:.0f} MiB")


def promises(count: int) -> None:
    """create-promise rate as pending promises accumulate (each create checks the count
    against max_pending_promises)."""
    wasm = build_fixture("promises-1.3.0")
    with tempfile.TemporaryDirectory() as tmp:
        host = HostService(Path(tmp) / "store")
        try:
            host.add_component(wasm, name="p")
            agent, _ = host.create_agent("p", "hoarder")
            laps = []
            step = max(1, count // 4)
            t0 = time.perf_counter()
            for i in range(1, count + 1):
                assert host.invoke(agent, "create()").state == "done"
                if i % step == 0:
                    laps.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
        finally:
            host.close()
    rates = ", ".join(f"{step / lap:.0f}/s" for lap in laps)
    print(f"create-promise: {count} pending, per quarter: {rates}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=10, help="MiB of stdout to store")
    parser.add_argument("--flood-mib", type=int, default=100, help="MiB of stdout asked")
    parser.add_argument("--promises", type=int, default=2000, help="promises to create")
    args = parser.parse_args()
    os.environ.setdefault("AGENT_HOST_SQLITE_SYNC", "NORMAL")
    output(args.mib)
    flood(args.flood_mib)
    promises(args.promises)


if __name__ == "__main__":
    main()
