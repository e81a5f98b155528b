#!/usr/bin/env python3
"""What listing suspended agents costs, printed, never asserted (issue 13).

``GET /v1/components/{cid}/workers?status=suspended`` through the real app (FastAPI's
TestClient, in this process) over ``--agents`` suspended agents of the ``promises-1.3.0``
fixture, on SQLite or on a PostgreSQL server started for the run. Printed per count:
the best of ``--rounds`` requests, wall clock and this process's CPU, and per agent.
The response is checked (every agent listed, suspended, with its args and env).

Set-up: one agent is created and suspended live (``create-and-await()``); the others are
copies of its rows (every table keyed by component and name, invocation ids made unique)
inserted with plain SQL, so 10,000 agents take seconds, not an hour. Copies share the
template's oplog content; the listing reads only each agent's first entry.

``--compare REV`` first runs the same against revision REV (scripts/benchlib.py).

    .venv/bin/python scripts/bench_listing.py [--agents 1000,10000] [--store sqlite]
        [--rounds 3] [--compare REV]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.benchlib import code_root, run_baseline  # noqa: E402

sys.path.insert(0, str(code_root()))

from fastapi.testclient import TestClient  # noqa: E402

from host.runtime.scheduler import PoolScheduler  # noqa: E402
from host.server.app import create_app  # noqa: E402
from host.service import HostService  # noqa: E402
from host.store import DB_FILENAME  # noqa: E402
from tests.fixtures.build import build_fixture  # noqa: E402
from tests.fixtures.postgres import PostgresServer, fresh_schema  # noqa: E402


class _Sql:
    """The store's database, opened directly (SQLite file or PostgreSQL URL)."""

    def __init__(self, target: str) -> None:
        self.pg = target.startswith("postgresql")
        if self.pg:
            import psycopg

            self.conn: Any = psycopg.connect(target)
            self.mark = "%s"
        else:
            import sqlite3

            self.conn = sqlite3.connect(Path(target) / DB_FILENAME)
            self.mark = "?"

    def columns(self, table: str) -> list[str]:
        if self.pg:
            rows = self.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = current_schema() ORDER BY ordinal_position",
                (table,),
            ).fetchall()
        else:
            rows = self.conn.execute(f"SELECT name FROM pragma_table_info('{table}')").fetchall()
        return [r[0] for r in rows]

    def tables(self) -> list[str]:
        if self.pg:
            sql = "SELECT table_name FROM information_schema.tables "
            sql += "WHERE table_schema = current_schema()"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        return [r[0] for r in self.conn.execute(sql).fetchall()]


def _clone(target: str, component_id: str, template: str, count: int) -> None:
    """``count`` copies of agent ``template``'s rows, named ``w1``..``w<count>``."""
    db = _Sql(target)
    try:
        for table in db.tables():
            cols = db.columns(table)
            if "component_id" not in cols or "name" not in cols:
                continue
            m = db.mark
            if db.pg:  # in the server: psycopg would not type jsonb values read back
                picks = ", ".join(
                    "'w' || g" if c == "name"
                    else f"{c} || '-' || g" if c == "invocation_id"
                    else c
                    for c in cols
                )  # fmt: skip
                db.conn.execute(
                    f"INSERT INTO {table} ({', '.join(cols)}) SELECT {picks} FROM {table}, "
                    "generate_series(1, %s) g WHERE component_id = %s AND name = %s",
                    (count, component_id, template),
                )
                continue
            rows = db.conn.execute(
                f"SELECT * FROM {table} WHERE component_id = {m} AND name = {m}",
                (component_id, template),
            ).fetchall()
            if not rows:
                continue
            name_at = cols.index("name")
            inv_at = cols.index("invocation_id") if "invocation_id" in cols else None
            copies = []
            for n in range(1, count + 1):
                for row in rows:
                    copy = list(row)
                    copy[name_at] = f"w{n}"
                    if inv_at is not None and copy[inv_at] is not None:
                        copy[inv_at] = f"{copy[inv_at]}-{n}"
                    copies.append(copy)
            marks = ", ".join(m for _ in cols)
            cur = db.conn.cursor()
            cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", copies)
        db.conn.commit()
    finally:
        db.conn.close()


def measure(target: str, data_dir: Path, agents: int, rounds: int) -> None:
    setup = HostService(target, data_dir=data_dir)
    cid = str(setup.add_component(build_fixture("promises-1.3.0"), name="p").id)
    agent, _ = setup.create_agent("p", "w0", args=["an-arg"], env=[("K", "v")])
    setup.invoke(agent, "create-and-await()")
    setup.close()
    _clone(target, cid, "w0", agents - 1)
    scheduler = PoolScheduler(workers=1, poll_interval=3600)
    service = HostService(target, data_dir=data_dir, scheduler=scheduler)
    try:
        with TestClient(create_app(service)) as client:
            best_wall = best_cpu = float("inf")
            for _ in range(rounds):
                wall, cpu = time.perf_counter(), time.process_time()
                answer = client.get(f"/v1/components/{cid}/workers?status=suspended")
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
                assert answer.status_code == 200, answer.text
                workers = answer.json()["workers"]
                assert len(workers) == agents, len(workers)
                assert all(w["status"] == "Suspended" for w in workers), workers[0]
                assert all(w["args"] == ["an-arg"] and w["env"]["K"] == "v" for w in workers)
            print(
                f"GET workers?status=suspended, {agents:,} suspended agents: "
                f"{best_wall * 1000:,.1f} ms wall, {best_cpu * 1000:,.1f} ms CPU "
                f"({best_cpu / agents * 1e6:,.1f} us CPU per agent), best of {rounds}"
            )
    finally:
        service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", default="1000,10000", help="comma-separated counts")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", metavar="REV", help="first measure revision REV")
    parser.add_argument("--label", default="working tree", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        run_baseline(__file__, args.compare)
    print(f"== {args.label} ({code_root()}), {args.store}")
    os.environ["AGENT_HOST_SQLITE_SYNC"] = "NORMAL"  # set-up speed only: listing only reads
    postgres = PostgresServer() if args.store == "postgresql" else None
    base = postgres.start() if postgres is not None else None
    try:
        for count in (int(c) for c in args.agents.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                target = fresh_schema(base) if base is not None else tmp
                measure(target, Path(tmp), count, args.rounds)
    finally:
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()
