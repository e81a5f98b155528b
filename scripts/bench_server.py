#!/usr/bin/env python3
"""Figures for the HTTP server (issue 3), printed, never asserted.

Everything runs against a real ``agent-host serve`` subprocess on a loopback port with a
fresh data directory, driven by real httpx clients:

1. Wake-up latency: a fresh agent per round invokes ``create-and-await`` (promises-1.3.0)
   through ``invoke-and-await`` held open on a client thread; once the agent is Suspended
   the time is taken from sending ``complete`` until the held response arrives. Median and
   p99 over ``--rounds`` sequential round trips. ``--approval-rounds`` does the same with
   the code-first approval example (``start_approval`` held through invoke-agent,
   ``WorkflowAgent("ap-<i>")``, payload ``"approved"``).
2. Throughput: ``--agents`` agents suspended at once (``create-and-await`` via ``/invoke``),
   then all completed by ``--clients`` concurrent clients; completions/s counted until
   every agent is back to Idle (observed by polling the listing). ``--client httpx``:
   httpx clients on threads; ``--client raw``: the cheap client, raw HTTP/1.1 keep-alive
   over ``--clients`` asyncio connections on one thread; ``both`` (the default) measures
   each on its own set of agents.

``--workers 1,2`` (the default) measures each with that many host processes behind the
port (``serve --workers N``, one SQLite store), each on a fresh copy of the same data
directory, and ends with a table of resumes/s per process count.

``--compare REV`` first runs the same measurements against the revision REV (a temporary
git worktree, its code put first on the server's PYTHONPATH), so one run prints the
baseline beside the figures of the working tree.

    .venv/bin/python scripts/bench_server.py [--rounds 200] [--agents 1000] [--clients 16]
        [--client both] [--workers 1,2] [--threads 16] [--poll-interval 0.25]
        [--approval-rounds 50]
        [--list-interval 0.5] [--store sqlite|postgresql] [--compare REV]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from host import oplog  # noqa: E402
from host.ids import AgentId  # noqa: E402
from host.store import STORE_URL_ENV  # noqa: E402
from scripts.benchlib import RawConnection, raw_requests, run_baseline  # noqa: E402
from tests.fixtures.build import build_fixture  # noqa: E402
from tests.fixtures.postgres import PostgresServer, fresh_schema  # noqa: E402
from tests.server_util import (  # noqa: E402
    Api,
    Server,
    add_component,
    build_example,
    clone_store,
    json_bytes,
    store_view,
)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _wait_suspended(api: Api, name: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = api.http.get(api.path(name))
        if response.status_code == 200:
            meta = response.json()
            if meta["status"] == "Suspended" and meta["waitingOn"]:
                return dict(meta)
            if meta["status"] == "Failed":
                raise RuntimeError(f"{name} failed: {meta['lastError']}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not suspend")
        time.sleep(0.001)


def _held_rounds(
    control: Api,
    payload: list[int],
    rounds: int,
    tag: str,
    hold: Callable[[str], tuple[Future[httpx.Response], str]],
) -> list[float]:
    """Seconds from completing the promise to the held call's answer, per round: ``hold``
    starts round ``<tag>-<i>``'s held call and names the worker it suspends."""
    times = []
    for i in range(rounds):
        held, worker = hold(f"{tag}-{i}")
        meta = _wait_suspended(control, worker)
        idx = meta["waitingOn"][0]["oplogIdx"]
        t0 = time.perf_counter()
        answer = control.complete(worker, idx, payload)
        response = held.result(timeout=60)
        elapsed = time.perf_counter() - t0
        if answer.text != "true" or response.status_code != 200:
            raise RuntimeError(f"round {i}: complete {answer.text}, held {response.text}")
        times.append(elapsed)
    return times


def wake_latency(
    server: Server, component_id: str, function: str, payload: list[int], rounds: int, tag: str
) -> list[float]:
    waiter = Api(server.client(timeout=120), component_id)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return _held_rounds(
            Api(server.client(), component_id),
            payload,
            rounds,
            tag,
            lambda name: (pool.submit(waiter.invoke_and_await, name, function), name),
        )


def raw_wake_latency(
    server: Server, component_id: str, function: str, payload: list[int], rounds: int, tag: str
) -> list[float]:
    """wake_latency with the cheapest client: the held invoke-and-await and the completion
    each on a keep-alive raw socket (benchlib.RawConnection), so the figure leaves out
    httpx's own time on both requests (the agent is awaited as Suspended through httpx,
    outside the timed part)."""
    control = Api(server.client(), component_id)
    held, completer = RawConnection(server.port), RawConnection(server.port)
    times = []
    try:
        for i in range(rounds):
            name = f"{tag}-{i}"
            invoke = control.path(name, "/invoke-and-await") + f"?function={quote(function)}"
            held.send("POST", invoke, b'{"params": []}')
            idx = _wait_suspended(control, name)["waitingOn"][0]["oplogIdx"]
            body = json.dumps({"oplogIdx": idx, "data": payload}).encode()
            t0 = time.perf_counter()
            completer.send("POST", control.path(name, "/complete"), body)
            status, data = held.response()
            times.append(time.perf_counter() - t0)
            answer = completer.response()
            if answer != (200, b"true") or status != 200:
                raise RuntimeError(f"round {i}: complete {answer!r}, held {status} {data!r}")
    finally:
        held.close()
        completer.close()
    return times


def agent_wake_latency(
    server: Server, component_id: str, payload: list[int], rounds: int, tag: str
) -> list[float]:
    """wake_latency for the approval example's ``WorkflowAgent("<tag>-<i>")``:
    ``start_approval`` held through invoke-agent (mode await), the promise completed
    through the worker API (the agent id URL-encoded as the worker name)."""
    waiter = server.client(timeout=120)

    with ThreadPoolExecutor(max_workers=1) as pool:

        def hold(name: str) -> tuple[Future[httpx.Response], str]:
            body = {
                "agentTypeName": "WorkflowAgent",
                "parameters": [name],
                "methodName": "start_approval",
                "methodParameters": [],
                "mode": "await",
            }
            held = pool.submit(waiter.post, "/v1/agents/invoke-agent", json=body)
            return held, quote(f'WorkflowAgent("{name}")', safe="")

        return _held_rounds(Api(server.client(), component_id), payload, rounds, tag, hold)


def _statuses(api: Api, prefix: str = "many-", status: str | None = None) -> dict[str, int]:
    """How many of the benchmark's agents are in each status, from one listing (of the
    agents in ``status`` only, if given)."""
    params = {"status": status} if status else {}
    response = api.http.get(api.path(), params=params, timeout=120)
    response.raise_for_status()
    counts: dict[str, int] = {}
    for worker in response.json()["workers"]:
        if worker["workerId"]["workerName"].startswith(prefix):
            counts[worker["status"]] = counts.get(worker["status"], 0) + 1
    return counts


async def _raw_posts(
    port: int, requests: list[tuple[str, bytes]], clients: int, expect: int = 200
) -> list[bytes]:
    """POST each (path, JSON body) over ``clients`` keep-alive connections (the cheapest
    client, benchlib.raw_requests); the response bodies in request order, each an
    ``expect``."""
    answers = await raw_requests(port, [("POST", p, b) for p, b in requests], clients)
    for (path, _), (status, data) in zip(requests, answers, strict=True):
        if status != expect:
            raise RuntimeError(f"{path}: {status} {data!r}")
    return [data for _, data in answers]


def throughput(
    server: Server,
    component_id: str,
    agents: int,
    clients: int,
    list_interval: float,
    client: str = "httpx",
) -> dict[str, float]:
    api = Api(server.client(timeout=120), component_id)
    prefix = f"many-{client}-"
    names = [f"{prefix}{i}" for i in range(agents)]
    t0 = time.perf_counter()
    # Over ``clients`` connections, as many clients create agents: with several host
    # processes behind the port each connection lands on one of them, and the process
    # that runs an agent's first invocation keeps its lease (owns it), so agents created
    # over one connection would all be owned, and resumed, by one process.
    body = json.dumps({"params": []}).encode()
    creates = [(api.path(n, "/invoke") + "?function=create-and-await", body) for n in names]
    asyncio.run(_raw_posts(server.port, creates, clients, expect=202))
    invoke_s = time.perf_counter() - t0
    while _statuses(api, prefix).get("Suspended", 0) < agents:
        time.sleep(list_interval)
    suspend_s = time.perf_counter() - t0
    waiting = {}
    for worker in api.http.get(api.path(), params={"status": "suspended"}).json()["workers"]:
        if worker["workerId"]["workerName"].startswith(prefix):
            waiting[worker["workerId"]["workerName"]] = worker["waitingOn"][0]["oplogIdx"]
    t0 = time.perf_counter()
    api.http.get(api.path())
    listing_s = time.perf_counter() - t0

    local = threading.local()

    def complete(name: str) -> None:
        if not hasattr(local, "api"):
            local.api = Api(server.client(timeout=120), component_id)
        response = local.api.complete(name, waiting[name], [1, 2, 3])
        if response.text != "true":
            raise RuntimeError(f"{name}: {response.status_code} {response.text}")

    t0 = time.perf_counter()
    wall0 = time.time_ns()
    if client == "raw":
        bodies = [
            (
                api.path(name, "/complete"),
                json.dumps({"oplogIdx": waiting[name], "data": [1, 2, 3]}).encode(),
            )
            for name in names
        ]
        t0 = time.perf_counter()
        answers = asyncio.run(_raw_posts(server.port, bodies, clients))
        requests_s = time.perf_counter() - t0
        if any(a.strip() != b"true" for a in answers):
            raise RuntimeError(
                f"a completion failed: {[a for a in answers if a.strip() != b'true'][:3]}"
            )
    else:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            futures = [pool.submit(complete, name) for name in names]
            for future in futures:
                future.result()
            requests_s = time.perf_counter() - t0
    # Polled by status, so each listing holds only the agents not yet done: a listing of
    # every agent costs the server about 0.2 ms an agent, taken from the agents it waits for.
    for status in ("suspended", "running"):
        while _statuses(api, prefix, status).get(status.capitalize(), 0):
            time.sleep(list_interval)
    all_idle_s = time.perf_counter() - t0
    counts = _statuses(api, prefix)
    if counts.get("Idle", 0) != agents:
        raise RuntimeError(f"not every agent finished: {counts}")
    return {
        "invoke_s": invoke_s,
        "suspend_s": suspend_s,
        "listing_s": listing_s,
        "requests_s": requests_s,
        "all_idle_s": all_idle_s,
        "last_end_s": _last_end(server, component_id, names, wall0),
    }


def _last_end(server: Server, component_id: str, names: list[str], wall0: int) -> float:
    """Seconds from the first completion sent (``wall0``, wall clock) to the last agent's
    invocation ending, from the agents' own oplogs (each entry's wall-clock timestamp, taken
    as it is recorded, just before its commit): the end to end time without the listing
    poll's granularity. Checks on the way that every agent's invocation is done with the
    payload it was sent as its result."""
    store = store_view(server.store)
    try:
        last = wall0
        for name in names:
            agent = AgentId(uuid.UUID(component_id), name)
            (invocation,) = store.list_invocations(agent)
            if invocation.state != "done" or invocation.result != "[1, 2, 3]":
                raise RuntimeError(f"{name}: {invocation.state} {invocation.result!r}")
            entries = store.read_oplog(agent, 1)
            ended = [e for e in entries if isinstance(e, oplog.InvocationFinished)]
            if len(ended) != 1:
                raise RuntimeError(f"{name}: {len(ended)} completed invocations in its oplog")
            last = max(last, ended[0].timestamp)
        return (last - wall0) / 1e9
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="wake-up round trips")
    parser.add_argument("--approval-rounds", type=int, default=50, help="0 to skip")
    parser.add_argument("--agents", type=int, default=1000, help="agents suspended at once")
    parser.add_argument("--clients", type=int, default=16, help="concurrent completing clients")
    parser.add_argument(
        "--workers",
        default="1,2",
        help="host processes behind the port (serve --workers), a comma-separated list: "
        "each is measured on its own server",
    )
    parser.add_argument("--threads", type=int, default=16, help="the server's --threads")
    parser.add_argument("--poll-interval", type=float, default=0.25)
    parser.add_argument(
        "--park-s",
        type=float,
        default=None,
        help="the server's --park-s (0: every resume instantiates and replays, as a "
        "suspension without parking does); default: the server's own",
    )
    parser.add_argument(
        "--list-interval",
        type=float,
        default=0.5,
        help="seconds between listings while waiting for all agents (a listing of 1,000 "
        "agents costs the server about 0.1 s, so polling faster slows what is measured)",
    )
    parser.add_argument("--client", choices=("httpx", "raw", "both"), default="both")
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: a PostgreSQL server started for the run (durable: fsync and "
        "synchronous commits on, as SQLite's synchronous=FULL), the store of every process",
    )
    parser.add_argument(
        "--compare", metavar="REV", help="first measure revision REV (a temporary worktree)"
    )
    parser.add_argument("--label", default="working tree", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    if args.compare:
        run_baseline(__file__, args.compare)

    postgres = None
    if args.store == "postgresql":
        postgres = PostgresServer(durable=True)
        # tests/server_util's store switch: each data directory gets a schema of its own.
        os.environ[STORE_URL_ENV] = fresh_schema(postgres.start())
    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    template = tmp / "template"
    threads_option = _threads_option()
    if threads_option != "--threads" and counts != [1]:
        print(f"({args.label}: no serve --workers here: measuring 1 process only)")
        counts = [1]
    print(
        f"== {args.label} ==\n"
        f"$ {' '.join([Path(sys.executable).name, *sys.argv])}\n"
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, httpx {httpx.__version__}, store {args.store}"
    )
    summary: list[tuple[int, str, float]] = []
    try:
        ids = {"promises": add_component(template, build_fixture("promises-1.3.0"), "promises")}
        if args.approval_rounds:
            ids["approval"] = add_component(template, build_example("approval"), "approval")
        for count in counts:
            store = clone_store(template, tmp / f"store-{count}")
            server = Server(
                store,
                poll_interval=args.poll_interval,
                threads=args.threads,
                processes=count,
                await_timeout=120,
                log=tmp / f"server-{count}.log",
                threads_option=threads_option,
                extra_args=() if args.park_s is None else ("--park-s", str(args.park_s)),
            ).start()
            try:
                print(
                    f"\n-- {count} host process{'es' if count > 1 else ''} --\n"
                    f"server: agent-host serve --port {server.port} --workers {count} "
                    f"{threads_option} {args.threads} --poll-interval {args.poll_interval} "
                    f"{'' if args.park_s is None else f'--park-s {args.park_s} '}(store {store})"
                )
                for client, rate in _measure(server, ids, args):
                    summary.append((count, client, rate))
            finally:
                server.stop(timeout=60)
        if summary:
            print(f"\nresumes/s ({args.agents} suspended agents, {args.clients} clients):")
            for count, client, rate in summary:
                print(f"   {count} process{'es' if count > 1 else '  '}  {client:5}  {rate:6.0f}/s")
    finally:
        if args.keep:
            print(f"data directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if postgres is not None:
            postgres.stop()


def _threads_option() -> str:
    """The serve option for agents run at once: --threads, or --workers before
    ``serve --workers N`` meant processes (a --compare baseline)."""
    agent_host = str(Path(sys.executable).with_name("agent-host"))
    done = subprocess.run(
        [agent_host, "serve", "--help"], capture_output=True, text=True, check=False
    )
    return "--threads" if "--threads" in done.stdout else "--workers"


def _measure(server: Server, ids: dict[str, str], args: Any) -> list[tuple[str, float]]:
    """Sections 1 and 2 on one server; (client, resumes/s) per throughput run."""
    if args.rounds:
        wake_latency(server, ids["promises"], "create-and-await", [0], 5, "warm")
        times = wake_latency(
            server, ids["promises"], "create-and-await", [1, 2, 3], args.rounds, "lat"
        )
        print(
            f"1. complete -> held invoke-and-await returns, promises-1.3.0 "
            f"create-and-await, {len(times)} sequential rounds (fresh agent each):\n"
            f"   median {_ms(statistics.median(times))}, p99 {_ms(_pct(times, 99))}, "
            f"min {_ms(min(times))}, max {_ms(max(times))}"
        )
        raw_wake_latency(server, ids["promises"], "create-and-await", [0], 5, "rwarm")
        times = raw_wake_latency(
            server, ids["promises"], "create-and-await", [1, 2, 3], args.rounds, "rlat"
        )
        print(
            f"   the same with raw keep-alive sockets for both requests (no client library):\n"
            f"   median {_ms(statistics.median(times))}, p99 {_ms(_pct(times, 99))}, "
            f"min {_ms(min(times))}, max {_ms(max(times))}"
        )
    if args.approval_rounds:
        payload = json_bytes("approved")
        agent_wake_latency(server, ids["approval"], payload, 2, "awarm")
        times = agent_wake_latency(server, ids["approval"], payload, args.approval_rounds, "ap")
        print(
            f"   approval example (code-first, componentize-py) start_approval through "
            f"invoke-agent, {len(times)} rounds:"
            f"\n   median {_ms(statistics.median(times))}, p99 {_ms(_pct(times, 99))}, "
            f"min {_ms(min(times))}, max {_ms(max(times))}"
        )
    rates = []
    clients = ["httpx", "raw"] if args.client == "both" else [args.client]
    for client in clients if args.agents else []:
        f = throughput(
            server, ids["promises"], args.agents, args.clients, args.list_interval, client
        )
        n = args.agents
        print(
            f"2. {n} agents suspended at once (create-and-await via /invoke: "
            f"{f['invoke_s']:.2f} s to send, all Suspended after {f['suspend_s']:.2f} "
            f"s), then completed by {args.clients} concurrent {client} clients:\n"
            f"   all {n} complete requests answered in {f['requests_s']:.2f} s "
            f"({n / f['requests_s']:.0f} requests/s)\n"
            f"   every agent back to Idle after {f['all_idle_s']:.2f} s "
            f"({n / f['all_idle_s']:.0f} completions/s end to end; listing polled "
            f"every {args.list_interval} s, one listing takes {_ms(f['listing_s'])})\n"
            f"   last invocation ended {f['last_end_s']:.2f} s after the first completion "
            f"was sent ({n / f['last_end_s']:.0f} resumes/s, from the agents' oplog "
            f"timestamps; every result checked)"
        )
        rates.append((client, n / f["last_end_s"]))
    return rates


if __name__ == "__main__":
    main()
