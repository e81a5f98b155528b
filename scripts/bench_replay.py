#!/usr/bin/env python3
"""Replay speed and resume cost (issue 13, items 2 and 4), printed, never asserted.

1. Replay: an agent of the ``ticker`` fixture records ``--calls`` host calls in one
   invocation (``tick(N, 0)``: N stdout writes, each an oplog entry holding its bytes);
   a fresh instance then replays them all before one more live call. Printed: oplog
   entries replayed per second and the resume time.
2. Snapshots: two agents of the ``snapshots-1`` fixture with ``--invocations`` past
   invocations of ``add(1)`` each (the first few run live, the rest are appended in the
   same shape the host records, in bulk, to keep the set-up short; replay checks every
   recorded result, so a wrong entry would fail the agent); one ends in a Snapshot
   entry. Printed: the time to resume each (``total()`` on a fresh instance).
3. Store reads per resume: every public store method is counted (a wrapper in this
   script, not in the product) during one resume of a suspended promise agent.

``--compare REV`` first runs the same measurements against revision REV in a
temporary git worktree (scripts/benchlib.py), so the baseline prints beside the figures
of the working tree. ``--profile`` prints the top of a cProfile of the replay.

    .venv/bin/python scripts/bench_replay.py [--calls 100000] [--invocations 100000]
        [--compare REV] [--profile]

Times are printed as wall clock and as this process's CPU time: with other work on the
machine the wall clock also counts the time spent waiting for a core.
"""

from __future__ import annotations

import argparse
import base64
import collections
import cProfile
import functools
import inspect
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.benchlib import code_root, run_baseline  # noqa: E402

sys.path.insert(0, str(code_root()))

from host import oplog  # noqa: E402
from host.ids import PromiseId  # noqa: E402
from host.service import HostService  # noqa: E402
from host.store.base import Store  # noqa: E402
from tests.fixtures.build import build_fixture  # noqa: E402

try:  # revisions before the lean trampoline have none (--compare)
    from host.runtime.leancall import Stats as lean
except ImportError:
    lean = None  # type: ignore[assignment,misc]


class _Timer:
    """Wall-clock and CPU time of a block (this process's CPU, all threads): on a shared
    machine the wall clock includes time spent waiting for a core, the CPU time does not."""

    def __enter__(self) -> _Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rate(self, n: int) -> str:
        return f"{n / self.wall:,.0f} (wall) / {n / max(self.cpu, 1e-9):,.0f} (CPU)"

    def __str__(self) -> str:
        return f"{self.wall * 1000:,.1f} ms wall, {self.cpu * 1000:,.1f} ms CPU"


class _HostShare:
    """CPU time spent in the host's handling of guest host calls (lifting arguments,
    replaying or running the call, lowering the result: host.runtime.linking.dispatch),
    and in the replay decision alone (host.replay.host_call); the rest of a replay is
    wasmtime-py's glue and the guest. Patched in for the measurement only."""

    def __enter__(self) -> _HostShare:
        from host.runtime import linking

        self.linking, self.calls = linking, 0
        self.dispatch_s = self.replay_s = 0.0
        self.real_dispatch, self.real_call = linking.dispatch, linking.host_call
        # With the lean trampoline, calls it does not answer itself go through _Import.general.
        self.owner: Any = linking if lean is None else sys.modules["host.runtime.leancall"]._Import
        self.name = "dispatch" if lean is None else "general"
        self.real_dispatch = getattr(self.owner, self.name)

        def dispatch(*args: Any) -> Any:
            t0 = time.process_time()
            try:
                return self.real_dispatch(*args)
            finally:
                self.dispatch_s += time.process_time() - t0
                self.calls += 1

        depth = [0]  # a routed call (a stream write) nests a host_call: time the outer

        def host_call(*args: Any) -> Any:
            depth[0] += 1
            t0 = time.process_time()
            try:
                return self.real_call(*args)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    self.replay_s += time.process_time() - t0

        setattr(self.owner, self.name, dispatch)
        linking.host_call = host_call  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self.real_dispatch)
        self.linking.host_call = self.real_call

    def __str__(self) -> str:
        n = max(self.calls, 1)
        return (
            f"{self.dispatch_s * 1000:,.0f} ms CPU over {self.calls:,} calls "
            f"({self.dispatch_s / n * 1e6:.1f} us each; replay decision "
            f"{self.replay_s / n * 1e6:.1f} us)"
        )


def _fresh(host: HostService, agent: Any) -> None:
    """Drop the kept instance: the next run builds a new one and replays the oplog."""
    host.executor.forget_instance(agent)


def replay(calls: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        host = HostService(tmp)
        host.add_component(build_fixture("ticker"), name="t")
        agent, _ = host.create_agent("t", "replayer")
        t0 = time.perf_counter()
        assert host.invoke(agent, f"tick({calls}, 0)").result == str(calls)
        setup = time.perf_counter() - t0
        entries = host.store.oplog_length(agent)
        # Warm the compiled code and the linker with one replay first.
        _fresh(host, agent)
        assert host.invoke(agent, "tick(0, 0)").result == "0"
        _fresh(host, agent)
        answered = 0 if lean is None else lean.answered
        prof = cProfile.Profile(time.process_time) if profile else None
        with _Timer() as took, _HostShare() as share:
            if prof:
                prof.enable()
            inv = host.invoke(agent, "tick(1, 0)")
            if prof:
                prof.disable()
        assert inv.result == "1", inv
        print(
            f"replay: {entries:,} oplog entries ({calls:,} recorded stdout writes) replayed "
            f"and resumed in {took}: {took.rate(entries)} entries/s "
            f"(recording them live took {setup:.1f} s wall)"
        )
        print(f"  of which in the host's general path for host calls: {share}")
        if lean is not None:
            print(f"  answered in the lean trampoline (leancall): {lean.answered - answered:,}")
        with _Timer() as reading:
            read = host.store.read_oplog(agent)
        print(f"  of which reading the oplog: {reading}: {reading.rate(len(read))} entries/s")
        _replay_pre_read(host, agent)
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(18)
        host.close()


def _replay_pre_read(host: HostService, agent: Any) -> None:
    """The same replay with the oplog already read and decoded (outside the timing): what
    the replay itself costs, apart from the store."""
    entries = host.store.read_oplog(agent)
    real = host.store.read_oplog

    def pre_read(a: Any, start: int = 1, count: int | None = None) -> list[Any]:
        if a != agent or start != 1 or count is not None:
            return real(a, start, count)
        return list(entries)

    _fresh(host, agent)
    host.store.read_oplog = pre_read  # type: ignore[method-assign]
    try:
        with _Timer() as took:
            inv = host.invoke(agent, "tick(0, 0)")
    finally:
        host.store.read_oplog = real  # type: ignore[method-assign]
    assert inv.result == "0", inv
    n = len(entries)
    print(f"  the same replay with the oplog already read: {took}: {took.rate(n)} entries/s")


def _add_history(host: HostService, agent: Any, invocations: int, snapshot: bool) -> None:
    """``invocations`` of add(1) in the agent's oplog, the first ones run live."""
    live = 3
    for _ in range(live):
        host.invoke(agent, "add(1)")
    entries = host.store.read_oplog(agent)
    started = next(e for e in entries if isinstance(e, oplog.InvocationStarted))
    finished = next(e for e in entries if isinstance(e, oplog.InvocationFinished))
    first = len(entries) + 1
    batch: list[Any] = []
    for n in range(live + 1, invocations + 1):
        iid = f"bench-{n}"
        batch.append(oplog.InvocationStarted(iid, started.function, started.params))
        batch.append(oplog.InvocationFinished(iid, str(n)))
        if len(batch) >= 20_000:
            host.store.append(agent, first, batch)
            first += len(batch)
            batch = []
    if snapshot:
        payload = base64.b64encode(invocations.to_bytes(8, "little")).decode()
        # As the executor writes one (run_snapshots.py): with the host's state at that
        # point, so that recovery need not read the entries before it (a snapshot without
        # it, as older hosts wrote, is rebuilt from the whole log: measured separately).
        state = {"persistence-level": "smart", "idempotent": True, "monotonic-floor": 0}
        batch.append(oplog.Snapshot(payload, "application/octet-stream", host_state=state))
    host.store.append(agent, first, batch)
    assert finished.result == "1"


def snapshots(invocations: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        host = HostService(tmp)
        host.add_component(build_fixture("snapshots-1"), name="s")
        warm, _ = host.create_agent("s", "warm")
        host.invoke(warm, "add(1)")
        for snap in (False, True):
            agent, _ = host.create_agent("s", f"history-{snap}")
            _add_history(host, agent, invocations, snap)
            _fresh(host, agent)
            length = host.store.oplog_length(agent)
            with _Timer() as took:
                inv = host.invoke(agent, "total()")
            assert inv.result == str(invocations), inv
            how = "from its snapshot" if snap else "replaying every invocation"
            print(
                f"resume of an agent with {invocations:,} past invocations ({length:,} "
                f"entries), {how}: {took}"
            )
        host.close()


class _Counted:
    """Counts calls to every public method of a store object (in this script only)."""

    def __init__(self, store: Store) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        for name, _ in inspect.getmembers(type(store), inspect.isfunction):
            if name.startswith("_") or name in ("close",):
                continue
            setattr(store, name, self._wrap(name, getattr(store, name)))

    def _wrap(self, name: str, method: Any) -> Any:
        @functools.wraps(method)
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return method(*args, **kwargs)

        return counted


def reads_per_resume() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        host = HostService(tmp)
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        warm, _ = host.create_agent("p", "warm")
        host.invoke(warm, "create()")
        agent, _ = host.create_agent("p", "resumer")
        inv = host.invoke(agent, "create-and-await()")
        (idx,) = host.store.get_agent(agent).waiting_promises
        counter = _Counted(host.store)
        host.complete_promise(PromiseId(agent, idx), b'"approved"')
        assert host.store.get_invocation(inv.invocation_id).state == "done"
        counter.counts["get_invocation"] -= 1  # this script's own check
        counts = {k: v for k, v in sorted(counter.counts.items()) if v}
        print(
            f"store calls in one resume (complete -> replay -> finish): "
            f"{sum(counts.values())}: " + ", ".join(f"{k} x{v}" for k, v in counts.items())
        )
        host.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--invocations", type=int, default=100_000)
    parser.add_argument("--compare", metavar="REV", help="first measure revision REV")
    parser.add_argument("--profile", action="store_true", help="cProfile the replay")
    parser.add_argument("--label", default="working tree", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        run_baseline(__file__, args.compare)
    print(f"== {args.label} ({code_root()})")
    # Set-up speed only: what is measured writes nothing but the last few entries.
    os.environ["AGENT_HOST_SQLITE_SYNC"] = "NORMAL"
    reads_per_resume()
    replay(args.calls, args.profile)
    snapshots(args.invocations)


if __name__ == "__main__":
    main()
