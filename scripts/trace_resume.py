#!/usr/bin/env python3
"""Where one completion -> awaiting-code-continues round trip spends its time (issue 13).

A real ``agent-host serve`` subprocess on a loopback port runs with timestamp probes
wrapped around the functions on the resume path (``time.perf_counter_ns``, the same
monotonic clock in every process of the machine, so the client's timestamps line up
with the server's). The client does what ``scripts/bench_server.py`` section 1 does: a
held ``invoke-and-await`` (or, for the approval example, ``invoke-agent``) per round, the
promise completed over HTTP once the agent is Suspended. Printed, never asserted: for each
probe, the median time from the client sending ``complete`` to that probe's first hit in
the round, and the median time between consecutive probes; then how many store reads,
write transactions and commits one round took.

    .venv/bin/python scripts/trace_resume.py [--rounds 30] [--approval-rounds 10]
        [--park-s 0]

The probes are this script's own (function wrappers installed in the server process
before it starts); nothing in ``host`` knows of them. They cost a few microseconds each,
so the figures are a little above bench_server.py's.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EVENTS: list[tuple[int, str]] = []


def mark(label: str) -> None:
    EVENTS.append((time.perf_counter_ns(), label))


def _wrap(owner: Any, name: str, label: str, result: bool = False) -> None:
    """Mark ``label`` when ``owner.name`` is entered and ``label/`` when it returns."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def probe(*args: Any, **kwargs: Any) -> Any:
        mark(label)
        value = original(*args, **kwargs)
        mark(f"{label}={value!r}" if result else f"{label}/")
        return value

    setattr(owner, name, probe)


def install_probes() -> None:
    """Wrap the functions of the resume path (in the server process, before it starts)."""
    import anyio.to_thread
    from uvicorn.protocols.http import h11_impl

    from host.replay import Replay
    from host.runtime import executor, linking, scheduler
    from host.server import connections, routes
    from host.service import agents, core, promises
    from host.store import sqlite, sqlite_db

    original_data = connections.GuardedH11Protocol.data_received

    def data_received(self: Any, data: bytes) -> None:
        words = data.split(b" ", 2)
        mark("http in " + (words[1].decode(errors="replace")[-24:] if len(words) > 2 else "body"))
        original_data(self, data)

    connections.GuardedH11Protocol.data_received = data_received  # type: ignore[method-assign]

    original_send = h11_impl.RequestResponseCycle.send

    async def send(self: Any, message: Any) -> None:
        await original_send(self, message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            mark("http out " + self.scope["path"][-24:])

    h11_impl.RequestResponseCycle.send = send  # type: ignore[method-assign]

    original_run_sync = anyio.to_thread.run_sync

    async def run_sync(fn: Callable[[], Any], *args: Any, **kwargs: Any) -> Any:
        def on_thread(*a: Any) -> Any:
            mark("thread hop")
            return fn(*a)

        mark("to thread")
        value = await original_run_sync(on_thread, *args, **kwargs)
        mark("back on loop")
        return value

    anyio.to_thread.run_sync = run_sync

    _wrap(promises.PromiseService, "complete", "service.complete")
    _wrap(core.HostService, "invocation", "service.invocation")
    _wrap(core.HostService, "_invocation_view", "service._invocation_view")
    _wrap(routes, "invocation_response", "routes.invocation_response")
    _wrap(agents.AgentProtocol, "agent_result", "service.agent_result")
    for name in (
        "complete_promise",
        "start_invocation",
        "finish_invocation",
        "suspend",
        "read_oplog",
        "read_oplog_resume_kinds",
    ):
        _wrap(sqlite.SqliteStore, name, f"store.{name}")
    _wrap(sqlite_db.SqliteDatabase, "_commit", "COMMIT")
    original_read = sqlite_db.SqliteDatabase._read

    def read(self: Any) -> Any:
        mark("read")
        return original_read(self)

    sqlite_db.SqliteDatabase._read = read  # type: ignore[method-assign]
    _wrap(scheduler.PoolScheduler, "schedule", "schedule")
    _wrap(scheduler.PoolScheduler, "_run", "pool._run")
    _wrap(scheduler.PoolScheduler, "_notify", "notify")
    _wrap(executor.Executor, "_take", "lease")
    _wrap(executor.Executor, "_instance", "executor._instance")
    _wrap(executor.Executor, "_run", "executor._run")
    _wrap(executor.Executor, "limits_for", "limits_for")
    _wrap(executor.Executor, "new_store", "new_store")
    import wasmtime.component as wc

    _wrap(wc.Linker, "instantiate", "instantiate")
    _wrap(executor, "call_export", "call_export")
    from host.runtime import fastvalues, handles

    _wrap(fastvalues, "call", "wasm call")
    _wrap(wc.Func, "post_return", "post_return")
    _wrap(handles, "from_wasmtime", "lift result")
    _wrap(executor, "format_value", "format result")

    original_host_call = linking.host_call

    def host_call(session: Replay, sig: Any, *rest: Any) -> Any:
        mode = "replay" if session.replaying else "live"
        mark(f"host {mode} {sig.name}")
        value = original_host_call(session, sig, *rest)
        mark(f"host {mode} {sig.name}/")
        return value

    linking.host_call = host_call

    original_set = scheduler._Waiter.set

    def waiter_set(self: Any) -> None:
        mark("waiter.set")
        event_set = self.event.set

        def on_loop() -> None:
            mark("loop wakes waiter")
            event_set()

        try:
            self.loop.call_soon_threadsafe(on_loop)
        except RuntimeError:
            original_set(self)

    scheduler._Waiter.set = waiter_set  # type: ignore[method-assign]

    original_settled = core.HostService._settled

    def settled(
        self: Any, invocation_id: str, until_suspended: bool, ended: Any = None
    ) -> Callable[[], bool]:
        done = original_settled(self, invocation_id, until_suspended, ended)

        def probe() -> bool:
            mark("done?")
            value = done()
            mark(f"done?={value}")
            return value

        return probe

    core.HostService._settled = settled  # type: ignore[method-assign]


def serve_traced(trace_file: str, argv: list[str]) -> None:
    """The server process: probes, then ``agent-host ARGV``; SIGUSR1 writes the events."""

    def dump(sig: int, frame: Any) -> None:
        events = list(EVENTS)
        Path(trace_file + ".tmp").write_text(json.dumps(events))
        os.replace(trace_file + ".tmp", trace_file)

    signal.signal(signal.SIGUSR1, dump)
    install_probes()
    from host.cli import main

    main(argv, prog_name="agent-host")


# -- the client ---------------------------------------------------------------------------


def _rounds(server: Any, kind: str, component_id: str, rounds: int, tag: str) -> list[Any]:
    from scripts.bench_server import _wait_suspended
    from tests.server_util import Api, json_bytes

    control = Api(server.client(), component_id)
    waiter = server.client(timeout=120)
    waiter_api = Api(waiter, component_id)
    spans = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        for i in range(rounds):
            name = f"{tag}-{i}"
            if kind == "wat":
                held = pool.submit(waiter_api.invoke_and_await, name, "create-and-await")
                worker, payload = name, [1, 2, 3]
            else:
                body = {
                    "agentTypeName": "WorkflowAgent",
                    "parameters": [name],
                    "methodName": "start_approval",
                    "methodParameters": [],
                    "mode": "await",
                }
                held = pool.submit(waiter.post, "/v1/agents/invoke-agent", json=body)
                worker, payload = quote(f'WorkflowAgent("{name}")', safe=""), json_bytes("ok")
            idx = _wait_suspended(control, worker)["waitingOn"][0]["oplogIdx"]
            time.sleep(0.02)  # let the suspension's own tail (notifications) settle
            t0 = time.perf_counter_ns()
            answer = control.complete(worker, idx, payload)
            t_complete = time.perf_counter_ns()
            response = held.result(timeout=60)
            t1 = time.perf_counter_ns()
            if answer.text != "true" or response.status_code != 200:
                raise RuntimeError(f"round {i}: complete {answer.text}, held {response.text}")
            spans.append((t0, t_complete, t1))
    return spans


def _report(title: str, spans: list[Any], events: list[tuple[int, str]]) -> None:
    firsts: dict[str, list[float]] = {}
    orders: list[list[tuple[float, str]]] = []
    counts: list[Counter[str]] = []
    for t0, t_complete, t1 in spans:
        inside = [(t, label) for t, label in events if t0 <= t <= t1]
        seen: dict[str, float] = {}
        order = []
        for t, label in inside:
            if label not in seen:
                seen[label] = (t - t0) / 1e6
                order.append((seen[label], label))
        order.append(((t_complete - t0) / 1e6, "CLIENT has complete's answer"))
        order.append(((t1 - t0) / 1e6, "CLIENT has held answer"))
        order.sort()
        orders.append(order)
        for ms, label in order:
            firsts.setdefault(label, []).append(ms)
        counts.append(Counter(label for _, label in inside))
    totals = [(t1 - t0) / 1e6 for t0, _, t1 in spans]
    median_total = statistics.median(totals)
    # The round nearest the median, shown in full: the typical path, probe by probe.
    typical = min(range(len(spans)), key=lambda i: abs(totals[i] - median_total))
    print(f"\n== {title}: {len(spans)} rounds ==")
    print(
        f"client complete -> held answer: median {median_total:.2f} ms, "
        f"p99 {sorted(totals)[min(len(totals) - 1, round(0.99 * (len(totals) - 1)))]:.2f} ms, "
        f"min {min(totals):.2f} ms"
    )
    print(f"\nthe median round (#{typical}), first hit of each probe, ms after the client sent:")
    previous = 0.0
    for ms, label in orders[typical]:
        print(f"  {ms:7.3f}  (+{ms - previous:6.3f})  {label}")
        previous = ms
    slowest = max(range(len(spans)), key=lambda i: totals[i])
    print(f"\nthe slowest round (#{slowest}):")
    previous = 0.0
    for ms, label in orders[slowest]:
        if not label.startswith("host replay"):
            print(f"  {ms:7.3f}  (+{ms - previous:6.3f})  {label}")
            previous = ms
    print("\nmedian over all rounds of each probe's first hit (ms), where present in all:")
    for label, values in sorted(firsts.items(), key=lambda kv: statistics.median(kv[1])):
        if len(values) == len(spans):
            print(f"  {statistics.median(values):7.3f}  {label}")
    per_round = Counter[str]()
    for c in counts:
        per_round.update(c)
    n = len(spans)
    calls = sum(v for k, v in per_round.items() if k.startswith("host ") and not k.endswith("/"))
    print(
        f"\nper round: {per_round['read'] / n:.1f} store reads, "
        f"{per_round['COMMIT'] / n:.1f} commits, "
        f"{calls / n:.1f} host calls, "
        f"{per_round['instantiate'] / n:.1f} instantiations"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--approval-rounds", type=int, default=10, help="0 to skip")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--park-s", type=float, default=None, help="the server's --park-s (default: its own)"
    )
    args = parser.parse_args()
    from tests.fixtures.build import build_fixture
    from tests.server_util import Server, add_component, build_example, free_port

    tmp = Path(tempfile.mkdtemp(prefix="trace-resume-"))
    store = tmp / "store"
    ids = {"wat": add_component(store, build_fixture("promises-1.3.0"), "promises")}
    if args.approval_rounds:
        ids["approval"] = add_component(store, build_example("approval"), "approval")
    trace = tmp / "trace.json"
    server = Server(store, poll_interval=0.25, threads=args.threads, await_timeout=120)
    server.port = free_port()
    from tests.server_util import env_for

    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - open for the server's life
    server.proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve-traced",
            str(trace),
            "--store",
            str(store),
            "serve",
            "--port",
            str(server.port),
            "--threads",
            str(args.threads),
            "--await-timeout",
            "120",
            *([] if args.park_s is None else ["--park-s", str(args.park_s)]),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env_for(store),
    )
    import httpx

    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            if time.monotonic() > deadline or server.proc.poll() is not None:
                raise RuntimeError((tmp / "server.log").read_text()) from None
            time.sleep(0.05)
    try:
        _rounds(server, "wat", ids["wat"], 5, "warm")
        results = [
            (
                "promises-1.3.0 create-and-await (WAT)",
                _rounds(server, "wat", ids["wat"], args.rounds, "lat"),
            )
        ]
        if args.approval_rounds:
            _rounds(server, "approval", ids["approval"], 2, "awarm")
            spans = _rounds(server, "approval", ids["approval"], args.approval_rounds, "ap")
            results.append(("approval example start_approval (componentize-py)", spans))
        server.proc.send_signal(signal.SIGUSR1)
        while not trace.exists():
            time.sleep(0.05)
        events = [(int(t), str(label)) for t, label in json.loads(trace.read_text())]
        for title, spans in results:
            _report(title, spans, events)
    finally:
        server.stop(timeout=60)
        log.close()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-traced":
        serve_traced(sys.argv[2], sys.argv[3:])
    else:
        main()
