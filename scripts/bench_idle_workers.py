#!/usr/bin/env python3
"""Idle CPU of ``agent-host serve --workers 2`` with no waiting agents, then with
``--agents`` agents suspended on promises and ``--held`` held requests waiting on them
(each on a new connection, so at either process, owner or not), printed, never asserted.

The CPU is the user+system time of the worker processes (from /proc) over ``--window``
seconds of no traffic; the scanner (``--poll-interval``) is the only periodic work, and
the wake-up channel must add none per waiting agent.

    .venv/bin/python scripts/bench_idle_workers.py [--agents 300] [--held 40] [--window 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fixtures.build import build_fixture  # noqa: E402
from tests.server_util import Api, Server, add_component  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def _cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def _idle(pids: list[int], window: float) -> float:
    before = _cpu_s(pids)
    time.sleep(window)
    return (_cpu_s(pids) - before) / window * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--held", type=int, default=40)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--poll-interval", type=float, default=0.25)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    try:
        store = tmp / "store"
        cid = add_component(store, build_fixture("promises-1.3.0"), "promises")
        server = Server(
            store, poll_interval=args.poll_interval, processes=2, log=tmp / "server.log"
        ).start()
        try:
            assert server.proc is not None
            pids = _children(server.proc.pid)
            time.sleep(1.0)
            print(f"serve --workers 2 --poll-interval {args.poll_interval} (pids {pids})")
            print(f"   no agents:  {_idle(pids, args.window):5.1f} % of one CPU")
            api = Api(server.client(timeout=120), cid)
            promises = {}
            for i in range(args.agents):
                created = api.invoke_and_await(f"idle-{i}", "create")
                promises[f"idle-{i}"] = int(created.json()["result"])
            pool = ThreadPoolExecutor(max_workers=args.held)
            held = []
            for i in range(args.held):
                name = f"idle-{i}"
                answer = api.invoke(name, "await", [promises[name]])
                url = api.path(name, f"/invocations/{answer.json()['invocationId']}")
                held.append(
                    pool.submit(
                        lambda u=url: Api(server.client(300), cid).http.get(u, params={"wait": 120})
                    )
                )
            for i in range(args.held):
                api.wait_status(f"idle-{i}", "Suspended", timeout=120)
            time.sleep(1.0)
            print(
                f"   {args.agents} agents with a pending promise, {args.held} of them "
                f"suspended with a held request each (new connections: either process): "
                f"{_idle(pids, args.window):5.1f} % of one CPU"
            )
            for i in range(args.held):
                api.complete(f"idle-{i}", promises[f"idle-{i}"], [1])
            for future in held:
                future.result(timeout=120)
            pool.shutdown()
        finally:
            server.stop(timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
