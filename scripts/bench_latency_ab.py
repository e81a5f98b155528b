#!/usr/bin/env python3
"""completion -> awaiting code continues, this tree against a baseline revision, rounds
interleaved (issue 13). Printed, never asserted.

bench_server.py ``--compare`` measures the baseline first and the working tree after: on a
machine shared with other work the load moves between the two halves by more than the
difference measured. Here both servers run at once (real ``agent-host serve`` processes
on loopback ports, each on its own copy of one data directory; the baseline's code from
a temporary git worktree put first on its PYTHONPATH) and the rounds alternate A, B, A,
B, ...: each round is bench_server.py's section 1 (a held ``invoke-and-await`` of
promises-1.3.0 ``create-and-await``, or the approval example's ``start_approval``
through invoke-agent, completed once the agent is Suspended; the time from sending
``complete`` to the held answer). Medians and p99 per side, and the median of the
per-pair differences.

    .venv/bin/python scripts/bench_latency_ab.py [--compare main] [--rounds 60]
        [--approval-rounds 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.bench_server import _pct, agent_wake_latency, wake_latency  # noqa: E402
from tests.fixtures.build import build_fixture  # noqa: E402
from tests.server_util import (  # noqa: E402
    Server,
    add_component,
    build_example,
    clone_store,
    json_bytes,
)


def _start(store: Path, log: Path, pythonpath: str | None) -> Server:
    saved = os.environ.get("PYTHONPATH")
    if pythonpath is not None:
        os.environ["PYTHONPATH"] = pythonpath
    try:
        return Server(store, poll_interval=0.25, await_timeout=120, log=log).start()
    finally:
        if pythonpath is not None:
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved


def _line(name: str, times: list[float]) -> str:
    return (
        f"   {name:14} median {statistics.median(times) * 1000:6.1f} ms, "
        f"p99 {_pct(times, 99) * 1000:6.1f} ms, min {min(times) * 1000:5.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", default="main", metavar="REV")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--approval-rounds", type=int, default=20, help="0 to skip")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    tree = tmp / "tree"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.compare],
        check=True,
        capture_output=True,
    )
    servers: dict[str, Server] = {}
    try:
        template = tmp / "template"
        ids = {"wat": add_component(template, build_fixture("promises-1.3.0"), "promises")}
        if args.approval_rounds:
            ids["approval"] = add_component(template, build_example("approval"), "approval")
        for side, path in (("baseline", str(tree)), ("this tree", None)):
            store = clone_store(template, tmp / side.replace(" ", "-"))
            servers[side] = _start(store, tmp / f"{side}.log", path)
        print(f"baseline: {args.compare}; both servers up, rounds interleaved")
        kinds = [("wat", args.rounds)]
        if args.approval_rounds:
            kinds.append(("approval", args.approval_rounds))
        for kind, rounds in kinds:
            times: dict[str, list[float]] = {side: [] for side in servers}
            for server in servers.values():  # warm both
                _round(server, ids[kind], kind, f"warm-{kind}", 3)
            for i in range(rounds):
                order = list(servers) if i % 2 == 0 else list(reversed(servers))
                for side in order:
                    times[side] += _round(servers[side], ids[kind], kind, f"r{i}-{kind}", 1)
            title = (
                "promises-1.3.0 create-and-await (WAT)"
                if kind == "wat"
                else "approval example start_approval (componentize-py)"
            )
            print(f"\n{title}, {rounds} rounds per side:")
            for side, values in times.items():
                print(_line(side, values))
            diffs = [b - a for a, b in zip(times["baseline"], times["this tree"], strict=True)]
            delta = statistics.median(diffs) * 1000
            print(f"   median of (this tree - baseline) per pair: {delta:+.1f} ms")
    finally:
        for server in servers.values():
            server.stop(timeout=60)
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False
        )
        shutil.rmtree(tmp, ignore_errors=True)


def _round(server: Server, component_id: str, kind: str, tag: str, rounds: int) -> list[float]:
    if kind == "wat":
        return wake_latency(server, component_id, "create-and-await", [1, 2, 3], rounds, tag)
    return agent_wake_latency(server, component_id, json_bytes("approved"), rounds, tag)


if __name__ == "__main__":
    main()
