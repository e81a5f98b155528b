#!/usr/bin/env python3
"""Many held calls in a durable sleep (issue 11, item 10), printed, never asserted.

``--agents`` agents (100) of the clock-0.2.3 WAT fixture each run ``sleep(ns)`` for
``--sleep`` seconds (20), all invoked with ``invoke-and-await`` at once on a real
``agent-host serve`` (loopback port, fresh data directory), one client thread per call.
Prints when the first and the last answer came, how many answered early, and the answers
per second after the start, so batches (the issue saw them at 15, 31 and 46 s) show as
separate bursts. The baseline is the sleep itself: ideally every answer comes just after it.

    .venv/bin/python scripts/bench_held_sleeps.py [--agents 100] [--sleep 20]
        [--poll-interval 0.05]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fixtures.build import build_fixture  # noqa: E402
from tests.server_util import Api, Server, add_component  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--sleep", type=float, default=20.0, help="seconds each agent sleeps")
    parser.add_argument("--poll-interval", type=float, default=0.05)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-held-sleeps-") as tmp:
        store = Path(tmp) / "store"
        cid = add_component(store, build_fixture("clock-0.2.3"), "clock")
        hold = args.sleep * 3 + 60
        server = Server(store, poll_interval=args.poll_interval, await_timeout=hold).start()
        try:
            api = Api(server.client(timeout=hold + 30), cid)
            sleep_ns = int(args.sleep * 1e9)
            ended: list[float] = []
            codes: collections.Counter[int] = collections.Counter()
            started = time.monotonic()

            def one(i: int) -> None:
                response = api.invoke_and_await(f"sleeper-{i}", "sleep", [sleep_ns])
                ended.append(time.monotonic() - started)
                codes[response.status_code] += 1

            with ThreadPoolExecutor(max_workers=args.agents) as pool:
                list(pool.map(one, range(args.agents)))
        finally:
            server.stop()
    ended.sort()
    early = sum(1 for t in ended if t < args.sleep)
    print(f"{args.agents} agents, each in a durable {args.sleep:g} s sleep, invoked at once")
    print(f"  status codes: {dict(codes)}")
    print(f"  first answer {ended[0]:.2f} s, median {ended[len(ended) // 2]:.2f} s, ", end="")
    print(f"last {ended[-1]:.2f} s (baseline: the sleep, {args.sleep:g} s)")
    print(f"  answered before the sleep was over: {early}")
    per_second = collections.Counter(int(t) for t in ended)
    print(
        "  answers per second after the start: "
        + ", ".join(f"{s} s: {n}" for s, n in sorted(per_second.items()))
    )


if __name__ == "__main__":
    main()
