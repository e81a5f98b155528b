#!/usr/bin/env python3
"""Figures for the durable core (issue 2), printed, never asserted.

1. Latency from a promise completion to the resumed invocation's result (the owner is
   re-instantiated, replays its oplog and finishes), for the WAT fixture and for the
   componentize-py approval example, with the compiled-code cache warm.
2. Replay speed: an agent with 10,000 recorded host calls is resumed; entries/s.
3. Resident memory of a host process that suspended 1,000 agents, against one that
   suspended none (a suspended agent should hold nothing).

    .venv/bin/python scripts/bench_core.py [--rounds N] [--calls N] [--agents N]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from host.ids import PromiseId  # noqa: E402
from host.service import HostService  # noqa: E402
from tests.fixtures.build import build_fixture  # noqa: E402


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def completion_latency(
    wasm: Path, call: str, rounds: int, agent_type: str | None = None
) -> tuple[list[float], float]:
    """Per round: a fresh agent runs ``call`` until it suspends on a promise; the time
    from completing that promise to the resumed invocation's result. ``agent_type``: the
    component is an agent component (agents ``Type("a<i>")``, ``call`` a method)."""
    with tempfile.TemporaryDirectory() as tmp:
        host = HostService(tmp)
        host.add_component(wasm, name="c")  # compiles once; later loads are from cache
        times = []
        first_replay = 0.0
        for i in range(rounds):
            if agent_type is None:
                agent, _ = host.create_agent("c", f"a{i}")
                inv = host.invoke(agent, call)
            else:
                agent, _ = host.create_agent("c", f'{agent_type}("a{i}")')
                inv = host.submit(host.agent_call_from_wave(agent, call))
            assert inv.state == "started", inv
            (idx,) = host.store.get_agent(agent).waiting_promises
            t0 = time.perf_counter()
            host.complete_promise(PromiseId(agent, idx), b'"approved"')
            elapsed = time.perf_counter() - t0
            done = host.store.get_invocation(inv.invocation_id)
            assert done.state == "done", done
            times.append(elapsed)
            first_replay = first_replay or elapsed
        host.close()
        return times, first_replay


def replay_speed(calls: int) -> None:
    os.environ["AGENT_HOST_SQLITE_SYNC"] = "NORMAL"  # set-up speed only; replay writes nothing
    with tempfile.TemporaryDirectory() as tmp:
        host = HostService(tmp)
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        agent, _ = host.create_agent("p", "replayer")
        idx = int(host.invoke(agent, "create()").result or "0")
        t0 = time.perf_counter()
        for _ in range(calls):  # each poll records one host call (get-promise-result.get)
            host.invoke(agent, f"poll({idx})")
        setup = time.perf_counter() - t0
        inv = host.invoke(agent, f"await({idx})")
        entries = host.store.oplog_length(agent)
        t0 = time.perf_counter()
        host.complete_promise(PromiseId(agent, idx), b"done")
        elapsed = time.perf_counter() - t0
        assert host.store.get_invocation(inv.invocation_id).state == "done"
        print(
            f"replay: {entries} oplog entries ({calls} recorded host calls + invocations) "
            f"replayed and resumed in {elapsed:.2f} s = {entries / elapsed:,.0f} entries/s, "
            f"{calls / elapsed:,.0f} host calls/s (recording them live took {setup:.1f} s, "
            f"{calls / setup:,.0f} invocations/s)"
        )
        host.close()
    del os.environ["AGENT_HOST_SQLITE_SYNC"]


def memory_child(agents: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        host = HostService(tmp)
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        warm, _ = host.create_agent("p", "warm")
        host.invoke(warm, "create()")  # one instance has run: linker and code are loaded
        for i in range(agents):
            agent, _ = host.create_agent("p", f"s{i}")
            assert host.invoke(agent, "create-and-await()").state == "started"
        gc.collect()
        suspended = len(host.store.list_agents(status="suspended"))
        print(f"{_rss_kib()} {suspended}")
        host.close()


def memory(agents: int) -> None:
    results = {}
    for n in (0, agents):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        rss, suspended = out.stdout.split()
        results[n] = (int(rss), int(suspended))
    base, loaded = results[0][0], results[agents][0]
    print(
        f"memory: host RSS with 0 suspended agents {base / 1024:.1f} MiB; with "
        f"{results[agents][1]} suspended agents {loaded / 1024:.1f} MiB "
        f"(+{(loaded - base) / 1024:.1f} MiB, {(loaded - base) / max(1, agents):.1f} KiB/agent)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return

    wat, _ = completion_latency(build_fixture("promises-1.3.0"), "create-and-await()", args.rounds)
    print(
        f"complete -> resumed result, WAT fixture: median {statistics.median(wat) * 1e3:.2f} ms, "
        f"p99 {_pct(wat, 99) * 1e3:.2f} ms over {len(wat)} rounds"
    )
    # The code-first approval example (guest_examples/approval): a method call through
    # golem:agent/guest invoke (runs before this script's change called a WIT-first
    # agent's plain export, so compare with figures measured in the same run only).
    from tests.server_util import build_example

    approval = build_example("approval")
    py, first = completion_latency(approval, "start_approval", args.rounds, "WorkflowAgent")
    print(
        f"complete -> resumed result, Python approval agent (code-first): median "
        f"{statistics.median(py) * 1e3:.2f} ms, p99 {_pct(py, 99) * 1e3:.2f} ms over "
        f"{len(py)} rounds (first round {first * 1e3:.1f} ms)"
    )
    replay_speed(args.calls)
    memory(args.agents)


if __name__ == "__main__":
    main()
