#!/usr/bin/env python3
"""Resident memory per suspended agent in a real ``agent-host serve`` (issue 13), printed,
never asserted.

What it measures: a real ``agent-host serve`` on a free loopback port with a fresh SQLite
data directory. One warm-up agent runs and finishes (linker and compiled code loaded);
then the server's VmRSS (``/proc/PID/status``) is read with 0 suspended agents, and again
after 1,000, 10,000 and 100,000 (``--agents``) agents of the promises-1.3.0 WAT fixture
have each been created and suspended on a promise through the normal path:
``POST .../workers/NAME/invoke-and-await?function=create-and-await&untilSuspended=true``
(the invocation creates the agent, runs, creates a promise and suspends), sent over
``--clients`` concurrent raw HTTP/1.1 keep-alive connections. KiB per suspended agent is
printed at each step against the 0-agent figure, and against the previous step and
the 1,000-agent figure (those leave out the one-off growth of the server's first runs),
with whether the goal (<= 4 KiB at 100,000, against 0) is met. Then ``--sample`` of the
promises are completed over REST and each
resumed invocation's result is fetched and checked against the payload sent (the agents
really resume). The RSS is read after the server has been idle ``--settle`` seconds
(a server process cannot be told to gc from outside; the figure is the smallest of a few
reads).

``--sync NORMAL`` (the default) sets ``AGENT_HOST_SQLITE_SYNC=NORMAL`` in the server so
that setting up 100,000 agents takes minutes rather than hours on a loaded 2-core machine
(each commit is not fsynced); the code path is otherwise the same. ``--sync FULL`` keeps
the store's default durability.

``--profile N`` instead runs an in-process HostService (InlineScheduler), suspends N and
then 10 x N more agents, and prints the top tracemalloc allocation sites that grew
between the two (what memory grows with the number of suspended agents).

    .venv/bin/python scripts/bench_memory.py [--agents 100000] [--clients 16]
        [--sample 200] [--sync NORMAL] [--settle 3] [--profile N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.benchlib import raw_requests  # noqa: E402
from tests.fixtures.build import build_fixture  # noqa: E402
from tests.server_util import Server, add_component  # noqa: E402

GOAL_KIB = 4.0
FUNCTION = "create-and-await"


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def settled_rss(pid: int, settle: float) -> int:
    """The smallest of a few VmRSS reads over ``settle`` seconds of an idle server."""
    reads = []
    for _ in range(4):
        time.sleep(settle / 4)
        reads.append(rss_kib(pid))
    return min(reads)


class Bench:
    def __init__(self, server: Server, component_id: str, clients: int) -> None:
        self.server = server
        self.base = f"/v1/components/{component_id}/workers"
        self.clients = clients
        self.waiting: dict[str, tuple[int, str]] = {}  # name -> (oplog idx, result URL)

    def run(self, requests: list[tuple[str, str, bytes]]) -> list[tuple[int, bytes]]:
        return asyncio.run(raw_requests(self.server.port, requests, self.clients))

    def suspend(self, first: int, count: int) -> float:
        """Create and suspend agents s<first>..s<first+count-1>; seconds taken."""
        names = [f"s{i}" for i in range(first, first + count)]
        query = f"/invoke-and-await?function={FUNCTION}&untilSuspended=true"
        body = json.dumps({"params": []}).encode()
        t0 = time.perf_counter()
        for start in range(0, len(names), 5000):  # chunks keep the client's memory small
            chunk = names[start : start + 5000]
            answers = self.run([("POST", f"{self.base}/{n}{query}", body) for n in chunk])
            for name, (status, data) in zip(chunk, answers, strict=True):
                meta = json.loads(data)
                if status != 202 or meta.get("status") != "Suspended" or not meta["waitingOn"]:
                    raise RuntimeError(f"{name} did not suspend: {status} {data[:300]!r}")
                self.waiting[name] = (meta["waitingOn"][0]["oplogIdx"], meta["resultUrl"])
        return time.perf_counter() - t0

    def complete_sample(self, sample: int) -> tuple[int, int]:
        """Complete ``sample`` random promises; (results correct, results checked)."""
        names = random.Random(13).sample(sorted(self.waiting), min(sample, len(self.waiting)))
        payloads = {n: [i % 256, 7, 13] for i, n in enumerate(names)}
        answers = self.run(
            [
                (
                    "POST",
                    f"{self.base}/{n}/complete",
                    json.dumps({"oplogIdx": self.waiting[n][0], "data": payloads[n]}).encode(),
                )
                for n in names
            ]
        )
        bad = [(n, a) for n, a in zip(names, answers, strict=True) if a != (200, b"true")]
        if bad:
            raise RuntimeError(f"completions refused: {bad[:3]}")
        results = self.run([("GET", f"{self.waiting[n][1]}?wait=60", b"") for n in names])
        correct = 0
        for name, (status, data) in zip(names, results, strict=True):
            if status == 200 and json.loads(data)["result"] == payloads[name]:
                correct += 1
            elif correct == 0:
                print(f"   first wrong result: {name}: {status} {data[:300]!r}")
        return correct, len(names)


def server_run(args: argparse.Namespace) -> None:
    os.environ["AGENT_HOST_SQLITE_SYNC"] = args.sync
    steps = sorted({n for n in (1_000, 10_000, 100_000) if n < args.agents} | {args.agents})
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    store = tmp / "store"
    try:
        cid = add_component(store, build_fixture("promises-1.3.0"), "promises")
        server = Server(
            store, threads=args.threads, await_timeout=600, log=tmp / "server.log"
        ).start()
        assert server.proc is not None
        pid = server.proc.pid
        try:
            print(
                f"$ {' '.join([Path(sys.executable).name, *sys.argv])}\n"
                f"server: agent-host serve --port {server.port} --threads {args.threads} "
                f"(pid {pid}, AGENT_HOST_SQLITE_SYNC={args.sync}, store {store})\n"
                f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
                f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, Python "
                f"{platform.python_version()}"
            )
            bench = Bench(server, cid, args.clients)
            bench.suspend(0, 1)  # warm-up: one agent runs, suspends, resumes and finishes
            if bench.complete_sample(1) != (1, 1):
                raise RuntimeError("the warm-up agent did not resume correctly")
            bench.waiting.clear()
            base = settled_rss(pid, args.settle)
            print(f"\n0 suspended agents: server RSS {base / 1024:.1f} MiB")
            done, total_s = 1, 0.0
            per_agent, last_rss, last_step, rss_1k = 0.0, base, 0, 0
            for step in steps:
                took = bench.suspend(done, step - len(bench.waiting))
                total_s += took
                done = 1 + step
                rss = settled_rss(pid, args.settle)
                per_agent = (rss - base) / step
                marginal = (rss - last_rss) / (step - last_step)
                last_rss, last_step = rss, step
                rss_1k = rss_1k or (rss if step == 1_000 else 0)
                against_1k = (
                    f", {(rss - rss_1k) / (step - 1_000):.2f} KiB per agent against 1,000"
                    if rss_1k and step > 1_000
                    else ""
                )
                print(
                    f"{step:>7,} suspended agents: server RSS {rss / 1024:.1f} MiB "
                    f"(+{(rss - base) / 1024:.1f} MiB, {per_agent:.2f} KiB per suspended agent, "
                    f"{marginal:.2f} since the previous step{against_1k}); "
                    f"{step:,} created+suspended in {total_s:.0f} s so far "
                    f"({step / total_s:.0f} agents/s over {args.clients} clients, load "
                    f"{os.getloadavg()[0]:.1f}, {threads(pid)} server threads)"
                )
            verdict = "met" if per_agent <= GOAL_KIB else "NOT met"
            print(
                f"goal (<= {GOAL_KIB:.0f} KiB per suspended agent at {steps[-1]:,}): {verdict} "
                f"({per_agent:.2f} KiB)"
            )
            t0 = time.perf_counter()
            correct, checked = bench.complete_sample(args.sample)
            print(
                f"resumability: {checked} random suspended agents completed over REST, "
                f"{correct}/{checked} results correct ({time.perf_counter() - t0:.1f} s)"
            )
        finally:
            server.stop(timeout=120)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def profile(n: int) -> None:
    """tracemalloc: what grows between N and 11 x N suspended agents, in-process."""
    os.environ["AGENT_HOST_SQLITE_SYNC"] = "NORMAL"
    from host.service import HostService

    with tempfile.TemporaryDirectory() as tmp:
        host = HostService(tmp)
        host.add_component(build_fixture("promises-1.3.0"), name="p")

        def suspend(first: int, count: int) -> None:
            for i in range(first, first + count):
                agent, _ = host.create_agent("p", f"s{i}")
                if host.invoke(agent, f"{FUNCTION}()").state != "started":
                    raise RuntimeError(f"s{i} did not suspend")

        suspend(0, n)
        tracemalloc.start(12)
        gc.collect()
        before, rss0 = tracemalloc.take_snapshot(), rss_kib()
        suspend(n, 10 * n)
        gc.collect()
        after, rss1 = tracemalloc.take_snapshot(), rss_kib()
        top = after.compare_to(before, "traceback")
        grown = sum(s.size_diff for s in top)
        print(
            f"profile: {n:,} -> {11 * n:,} suspended agents in-process: traced Python memory "
            f"+{grown / 1024:.0f} KiB ({grown / (10 * n):.0f} B/agent), RSS "
            f"+{(rss1 - rss0) / 1024:.1f} MiB (RSS includes tracemalloc's own bookkeeping)"
        )
        for stat in top[:8]:
            if stat.size_diff <= 0:
                continue
            print(f"\n+{stat.size_diff / 1024:.0f} KiB in {stat.count_diff:+} blocks:")
            for line in stat.traceback.format(limit=6, most_recent_first=True):
                print("   " + line)
        host.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--agents", type=int, default=100_000, help="suspended agents at the end")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument(
        "--threads", type=int, default=4, help="the server's --threads (agents run at once)"
    )
    parser.add_argument("--sample", type=int, default=200, help="promises completed at the end")
    parser.add_argument("--sync", choices=("NORMAL", "FULL"), default="NORMAL")
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds before RSS")
    parser.add_argument("--profile", type=int, metavar="N", help="tracemalloc diff, in-process")
    args: Any = parser.parse_args()
    if args.profile:
        profile(args.profile)
    else:
        server_run(args)


if __name__ == "__main__":
    main()
