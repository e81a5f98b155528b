#!/usr/bin/env python3
"""What migration 11 (SQLite; host/store/version_migration.py: component versions from 0)
costs when a store written by the old code is opened, printed, never asserted.

A SQLite store at schema 10 is built with ``--agents`` agents of ``--entries`` oplog
entries each (host calls with a few bytes, every ``--update-every``-th entry an update
request or outcome) and ``--versions`` versions of one component. Printed, each the best
of ``--runs`` fresh copies of that store:

- baseline: opening it with migration 11 left out (the schema is only recorded as done),
  i.e. what opening costs without the renumbering, measured in the same run;
- migrated: opening it with migration 11 applied (renumbering components, update entries
  and queued update requests).

    .venv/bin/python scripts/bench_version_migration.py [--agents 200] [--entries 500]
        [--update-every 50] [--versions 20] [--runs 3]

Times are wall clock and this process's CPU time (other work on the machine makes the
wall clock count waits for a core).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from host import oplog  # noqa: E402
from host.oplog_codec import encode_row, kind_of  # noqa: E402
from host.store import migrations  # noqa: E402
from host.store.url import open_store  # noqa: E402

CID = "1d5c0f9e-2a8b-4c7d-9e6f-0b1a2c3d4e5f"


def _entry(i: int, update_every: int) -> oplog.Entry:
    if i == 1:
        return oplog.AgentCreated(CID, "sha256:v1", (), (("GOLEM_COMPONENT_VERSION", "1"),))
    if i % update_every == 0:
        return oplog.PendingUpdate(2, "sha256:v2", "automatic")
    if i % update_every == 1:
        return oplog.SuccessfulUpdate(2, "sha256:v2")
    return oplog.HostCall("wasi:random/random@0.2.3.get-random-bytes", [16], b"x" * 16)


def build(path: Path, args: argparse.Namespace) -> None:
    """A schema-10 store as the old code left it (versions from 1)."""
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INT)")
        migrations.apply(
            db,
            migrations.MIGRATIONS,
            range(1, 11),
            lambda v: db.execute("INSERT INTO schema_migrations VALUES (?, 0)", (v,)),
        )
        db.executemany(
            "INSERT INTO components VALUES (?, 'bench', ?, ?, 1, 0)",
            [(CID, v, f"sha256:v{v}") for v in range(1, args.versions + 1)],
        )
        rows = [
            (i, *encode_row(e), kind_of(e))
            for i, e in ((i, _entry(i, args.update_every)) for i in range(1, args.entries + 1))
        ]
        for a in range(args.agents):
            name = f"agent-{a}"
            db.execute(
                "INSERT INTO agents (component_id, name, component_hash, status, created_at) "
                "VALUES (?, ?, 'sha256:v2', 'idle', 0)",
                (CID, name),
            )
            db.executemany(
                "INSERT INTO oplog (component_id, name, idx, entry, data, kind) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(CID, name, *row) for row in rows],
            )
    db.close()


def open_time(template: Path, skip_11: bool, runs: int) -> tuple[float, float]:
    best = (float("inf"), float("inf"))
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "agent-host.db"
            shutil.copy(template, path)
            if skip_11:
                db = sqlite3.connect(path)
                with db:
                    db.execute("INSERT INTO schema_migrations VALUES (11, 0)")
                db.close()
            wall, cpu = time.perf_counter(), time.process_time()
            store = open_store(f"sqlite://{path}")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            store.close()
            best = min(best, (wall, cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--update-every", type=int, default=50)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "old.db"
        build(template, args)
        total = args.agents * args.entries
        print(
            f"store: {args.agents} agents x {args.entries} entries = {total} oplog rows, "
            f"{args.versions} component versions; best of {args.runs}"
        )
        for label, skip in (
            ("baseline (no migration 11)", True),
            ("migrated (migration 11)", False),
        ):
            wall, cpu = open_time(template, skip, args.runs)
            print(f"  {label:28} open {wall * 1000:8.1f} ms wall  {cpu * 1000:8.1f} ms cpu")


if __name__ == "__main__":
    main()
