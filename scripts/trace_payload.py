#!/usr/bin/env python3
"""Where the time of one large completion goes (issue 13: 1 MiB end to end in <= 100 ms):
a breakdown, printed, never asserted.

The server runs in this process (the same app ``agent-host serve`` runs, uvicorn on a free
loopback port, a real SQLite store) so that the steps of one completion can be timed from
the inside: this script wraps the functions a completion goes through with timers (the
wrapping is this script's alone; the product has no tracing hooks). Per round a fresh agent
of the payload guest (scripts/bench_payload.py's) is suspended on its promise under a held
``invoke-and-await``, then completed with the payload as ``application/octet-stream`` or
Golem's JSON array (encoded before the clock starts).

Each line is the median over the rounds of: when a step first began (from sending the
completion), its wall time, the CPU time of the thread it ran on, and that thread's page
faults. A step that ran twice in a round is summed; an indented step runs inside the one
above it. ``end to end`` is from sending the completion until the held response arrives.
CPU time is what a quiet machine would show; wall time adds the wait for a core.

    .venv/bin/python scripts/trace_payload.py [--size 1048576] [--rounds 5] [--form both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import uvicorn  # noqa: E402

from host.runtime import executor, fastbytes, fastvalues, golem, linking, malloc  # noqa: E402
from host.server import payloads  # noqa: E402
from host.service import promises  # noqa: E402
from host.store import sql_oplog, sqlite_db  # noqa: E402
from scripts.bench_payload import _bench_guest, _suspended  # noqa: E402
from tests.server_util import Api, add_component, free_port  # noqa: E402

_spent: dict[str, float] = defaultdict(float)
_cpu: dict[str, float] = defaultdict(float)
_faults: dict[str, int] = defaultdict(int)
_began: dict[str, float] = {}  # label -> when it first began, from the round's start
_round_start = 0.0
_lock = threading.Lock()


def _now() -> tuple[float, float, int]:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return time.perf_counter(), time.thread_time(), usage.ru_minflt


def _add(label: str, start: tuple[float, float, int]) -> None:
    end = _now()
    with _lock:
        _began.setdefault(label, start[0] - _round_start)
        _spent[label] += end[0] - start[0]
        _cpu[label] += end[1] - start[1]
        _faults[label] += end[2] - start[2]


def _timed(owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` by a wrapper adding its wall time to ``label``."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = _now()
        try:
            return original(*args, **kwargs)
        finally:
            _add(label, start)

    setattr(owner, name, wrapper)


def _timed_host_func(name: str, label: str) -> None:
    """A host function of golem:api/host (FUNCS holds factories of HostFunc)."""
    make = golem.FUNCS[name]

    def factory(sig: Any) -> Any:
        spec = make(sig)
        impl = spec.impl

        def run(*args: Any) -> Any:
            start = _now()
            try:
                return impl(*args)
            finally:
                _add(label, start)

        return replace(spec, impl=run)

    golem.FUNCS[name] = factory


def instrument() -> None:
    _timed(payloads, "json_completion", "parse the JSON body")
    _timed(promises.PromiseService, "complete", "service.complete (whole)")
    _timed(sqlite_db.SqliteDatabase, "_commit", "SQLite COMMIT (all commits)")
    _timed(sql_oplog.SqlOplog, "read_oplog_resume_kinds", "read the oplog for resume")
    _timed(executor.Executor, "_instance", "  instantiate + read oplog")
    _timed(linking, "dispatch", "  host calls (lift + run + record + lower)")
    _timed_host_func("[method]get-promise-result.get", "    get (store read of payload)")
    _timed(fastbytes, "lower_bytes", "    lower list<u8> into a value array")
    _timed(fastvalues, "call", "  export calls (incl. wasmtime's conversion)")


def _serve(store_dir: Path, port: int) -> tuple[uvicorn.Server, threading.Thread, Any]:
    from host.runtime.scheduler import PoolScheduler
    from host.server import create_app
    from host.service import HostService

    pool = PoolScheduler(workers=2, poll_interval=0.1)
    service = HostService(store_dir, scheduler=pool)
    app = create_app(service, await_timeout=600)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return server, thread, service


def trace(api: Api, waiter: Api, size: int, rounds: int, form: str) -> dict[str, list[float]]:
    payload = os.urandom(size)
    pool = ThreadPoolExecutor(max_workers=1)
    per_round: dict[str, list[tuple[float, float, float, int]]] = defaultdict(list)
    for i in range(rounds + 1):  # round 0 warms up
        name = f"trace-{form}-{i}"
        held = pool.submit(waiter.invoke_and_await, name, "create-and-await-size")
        idx = _suspended(api, name)
        path = api.path(name, "/complete")
        json_body = json.dumps({"oplogIdx": idx, "data": list(payload)}).encode()
        global _round_start
        with _lock:
            _spent.clear()
            _cpu.clear()
            _faults.clear()
            _began.clear()
            t0 = _round_start = time.perf_counter()
        if form == "octet-stream":
            answer = api.http.post(
                path,
                content=payload,
                params={"oplogIdx": idx},
                headers={"content-type": "application/octet-stream"},
            )
        else:
            answer = api.http.post(
                path, content=json_body, headers={"content-type": "application/json"}
            )
        t_ack = time.perf_counter() - t0
        response = held.result(timeout=600)
        total = time.perf_counter() - t0
        if answer.text != "true" or response.json().get("result") != size:
            raise RuntimeError(f"{name}: complete {answer.text}, held {response.text}")
        if i == 0:
            continue
        with _lock:
            spent = [(k, _began[k], v, _cpu[k], _faults[k]) for k, v in _spent.items()]
        per_round["end to end"].append((0.0, total, math.nan, 0))
        per_round["completion acknowledged (client)"].append((0.0, t_ack, math.nan, 0))
        for label, began, wall, cpu, faults in sorted(spent, key=lambda r: r[1]):
            per_round[label].append((began, wall, cpu, faults))
    pool.shutdown()
    return per_round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1 << 20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--form", choices=("octet-stream", "json", "both"), default="both")
    args = parser.parse_args()
    malloc.tune()
    instrument()
    print(f"$ {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="trace-payload-") as tmp_name:
        tmp = Path(tmp_name)
        wasm = _bench_guest(tmp)
        store = tmp / "store"
        cid = add_component(store, wasm, "payload")
        port = free_port()
        server, thread, service = _serve(store, port)
        import httpx

        api = Api(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300), cid)
        waiter = Api(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300), cid)
        forms = ("octet-stream", "json") if args.form == "both" else (args.form,)
        try:
            for form in forms:
                rows = trace(api, waiter, args.size, args.rounds, form)
                print(f"\n-- {args.size}-byte completion, {form}: medians over {args.rounds} --")
                print(f"{'':52}{'from ms':>9}{'wall ms':>9}{'CPU ms':>9}{'faults':>8}")
                for label, values in rows.items():
                    began, wall, cpu, faults = (
                        statistics.median(v) for v in zip(*values, strict=True)
                    )
                    print(
                        f"{label:52}{began * 1000:9.1f}{wall * 1000:9.1f}{cpu * 1000:9.1f}"
                        f"{faults:8.0f}"
                    )
        finally:
            server.should_exit = True
            thread.join(timeout=60)
            service.close()


if __name__ == "__main__":
    main()
