"""Concurrency: racing completions, serialized invocations, linearizable promise store.

- Many clients completing one promise at once get exactly one ``true`` (threads on one
  Host, processes on one store file, HTTP clients on one server), and the owner resumes
  once, with the winner's payload.
- Concurrent invocations of one agent run one at a time, in the order they were queued
  (the oplog's invocation-started order is the queue order, no two overlap, and a call
  that returned before another was sent runs first).
- Random concurrent histories of create / complete / get / list over a few promises,
  from threads and from processes, are linearizable against a sequential model
  (tests/linearizability.py). Seeded: AGENT_HOST_TEST_SEED=<n> replays another seed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from host.ids import PromiseId
from host.oplog import Entry, InvocationFinished, InvocationStarted, PromiseCreated
from host.service import HostService
from host.store import SqliteStore
from host.store.base import InvocationRecord
from tests.fixtures.build import build_fixture
from tests.linearizability import (
    Op,
    agent_id,
    linearize,
    process_worker,
    setup_store,
    thread_rounds,
)
from tests.server_util import Api, Server, add_component, store_view, wait_until

pytestmark = pytest.mark.slow  # races and linearizability rounds: threads, processes, servers

AGENT_HOST = str(Path(sys.executable).with_name("agent-host"))
SEED = int(os.environ.get("AGENT_HOST_TEST_SEED", "20261125"))


def _wave_bytes(data: bytes) -> str:
    return "[" + ", ".join(str(b) for b in data) + "]"


def _race(n: int, attempt: Callable[[int], Any]) -> list[Any]:
    """Run ``attempt(i)`` for i in 0..n-1 on n threads released together."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def go(i: int) -> None:
        try:
            barrier.wait()
            results[i] = attempt(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return results


# -- (a) exactly one true --------------------------------------------------------------
THREADS = 16


def test_many_threads_completing_one_promise_get_one_true(tmp_path: Path) -> None:
    host = HostService(tmp_path / "store")
    try:
        host.add_component(build_fixture("promises-1.3.0"), name="p")
        agent, _ = host.create_agent("p", "threads")
        rounds, tried = 10, 0
        for _ in range(rounds):
            idx = int(host.invoke(agent, "create()").result or "0")
            waiting = host.invoke(agent, f"await({idx})")
            assert waiting.state == "started"
            promise = PromiseId(agent, idx)
            results = _race(THREADS, lambda i, p=promise: host.complete_promise(p, b"t%d" % i))  # type: ignore[misc]  # a lambda with a default argument
            tried += THREADS
            assert results.count(True) == 1, results
            assert results.count(False) == THREADS - 1
            won = b"t%d" % results.index(True)
            assert host.store.get_promise(promise).data == won
            done = host.store.get_invocation(waiting.invocation_id)
            assert (done.state, done.result) == ("done", _wave_bytes(won))
        entries = host.store.read_oplog(agent)
        assert sum(isinstance(e, InvocationFinished) for e in entries) == 2 * rounds
        print(f"\n{tried} concurrent completions by threads on one Host, {rounds} promises")
    finally:
        host.close()


def test_many_processes_completing_one_promise_get_one_true(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = {**os.environ, "AGENT_HOST_STORE": str(store)}

    def cli(*args: str) -> str:
        done = subprocess.run(
            [AGENT_HOST, *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("component", "add", str(build_fixture("promises-1.3.0")), "--name", "p")
    processes, rounds, tried = 8, 3, 0
    for _ in range(rounds):
        idx = int(cli("invoke", "p", "procs", "create()").strip())
        assert "suspended" in cli("invoke", "p", "procs", f"await({idx})")
        racers = [
            subprocess.Popen(
                [AGENT_HOST, "promise", "complete", "p", "procs", str(idx), "--text", f"p{i}"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(processes)
        ]
        outputs = [p.communicate(timeout=120) for p in racers]
        assert all(p.returncode == 0 for p in racers), outputs
        firsts = [out.splitlines()[0] for out, _ in outputs]
        tried += processes
        assert firsts.count("true") == 1 and firsts.count("false") == processes - 1, firsts
        winner = firsts.index("true")
        # The winner's process resumed the owner with its own payload.
        assert f"-> {_wave_bytes(f'p{winner}'.encode())}" in outputs[winner][0]
    view = store_view(store)
    try:
        (agent,) = [a.agent for a in view.list_agents()]
        assert [i.state for i in view.list_invocations(agent)] == ["done"] * (2 * rounds)
    finally:
        view.close()
    print(f"\n{tried} concurrent completions by agent-host processes, {rounds} promises")


def test_many_store_processes_complete_each_promise_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    promises, processes = 60, 6
    setup_store(path, 1, ["race"])
    agent = agent_id(0, "race")
    store = SqliteStore(path)
    for i in range(promises):
        store.create_promise(agent, [PromiseCreated("race")], i + 2, "race")
    store.close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_complete_all, args=(str(path), w, promises, SEED, barrier, out))
        for w in range(processes)
    ]
    for w in workers:
        w.start()
    results = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    store = SqliteStore(path)
    try:
        for i in range(promises):
            idx = i + 2
            winners = [w for w, answers in results if answers[idx] is True]
            assert len(winners) == 1, (idx, winners)
            assert store.get_promise(PromiseId(agent, idx)).data == bytes([winners[0]])
    finally:
        store.close()
    print(f"\n{promises * processes} concurrent store completions by {processes} processes")


def _complete_all(path: str, worker: int, promises: int, seed: int, barrier: Any, out: Any) -> None:
    order = list(range(2, promises + 2))
    random.Random(f"{seed}/{worker}").shuffle(order)
    store = SqliteStore(path)
    agent = agent_id(0, "race")
    barrier.wait()
    answers = {idx: store.complete_promise(PromiseId(agent, idx), bytes([worker])) for idx in order}
    store.close()
    out.put((worker, answers))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    store = tmp_path_factory.mktemp("concurrency") / "template"
    ids = {
        "p": add_component(store, build_fixture("promises-1.3.0"), "p"),
        "d": add_component(store, build_fixture("durable-1.3.0"), "d"),
    }
    return store, ids


@pytest.fixture
def server(template: tuple[Path, dict[str, str]], tmp_path: Path):
    from tests.server_util import clone_store

    store = clone_store(template[0], tmp_path / "store")
    srv = Server(store, threads=4).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_many_http_clients_completing_one_promise_get_one_true(
    server: Server, template: tuple[Path, dict[str, str]]
) -> None:
    api = Api(server.client(), template[1]["p"])
    clients = [Api(server.client(), template[1]["p"]) for _ in range(THREADS)]
    rounds, tried = 5, 0
    for _ in range(rounds):
        idx = api.invoke_and_await("web", "create").json()["result"]
        invocation = api.invoke("web", "await", [idx]).json()["invocationId"]
        api.wait_status("web", "Suspended")
        answers = _race(THREADS, lambda i, x=idx: clients[i].complete("web", x, [i]))  # type: ignore[misc]  # a lambda with a default argument
        tried += THREADS
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        bodies = [a.json() for a in answers]
        assert bodies.count(True) == 1 and bodies.count(False) == THREADS - 1, bodies
        winner = bodies.index(True)
        done = api.http.get(api.path("web", f"/invocations/{invocation}"), params={"wait": 10})
        assert done.json()["result"] == [winner]
    print(f"\n{tried} concurrent completions by HTTP clients on one server")


# -- (b) one invocation at a time, in arrival order ------------------------------------
Call = tuple[int, int, str]  # (sent, answered, invocation id), monotonic ns


def _check_serial(entries: list[Entry], queued: list[InvocationRecord], calls: list[Call]) -> None:
    order = [i.invocation_id for i in queued]  # by seq: the order they were queued in
    assert sorted(order) == sorted(c[2] for c in calls)
    starts = [e for e in entries if isinstance(e, InvocationStarted) and e.invocation_id in order]
    assert [s.invocation_id for s in starts] == order, "started out of queue order"
    running: str | None = None
    finished_at: dict[str, int] = {}
    started_at: dict[str, int] = {}
    for e in entries:
        if isinstance(e, InvocationStarted):
            assert running is None, f"{e.invocation_id} started while {running} ran"
            running = e.invocation_id
            started_at[running] = e.timestamp
        elif isinstance(e, InvocationFinished):
            assert e.invocation_id == running
            finished_at[running] = e.timestamp
            running = None
    for before, after in zip(order, order[1:], strict=False):
        assert finished_at[before] <= started_at[after], (before, after)
    # Real time: a call answered before another was sent was queued (and runs) first.
    position = {iid: n for n, iid in enumerate(order)}
    for a in calls:
        for b in calls:
            if a[1] < b[0]:
                assert position[a[2]] < position[b[2]], (a, b)


def _timed(fn: Callable[[], str]) -> Call:
    sent = time.monotonic_ns()
    iid = fn()
    return sent, time.monotonic_ns(), iid


def test_concurrent_invocations_on_one_host_run_one_at_a_time_in_order(tmp_path: Path) -> None:
    host = HostService(tmp_path / "store")
    try:
        host.add_component(build_fixture("durable-1.3.0"), name="d")
        agent, _ = host.create_agent("d", "serial")
        threads, each = 6, 4

        def client(i: int) -> list[Call]:
            calls = ["sleep(3000000)", "create()"] * each
            return [_timed(lambda c=c: host.invoke(agent, c).invocation_id) for c in calls[:each]]  # type: ignore[misc]  # a lambda with a default argument

        calls = [c for mine in _race(threads, client) for c in mine]
        queued = host.store.list_invocations(agent)
        assert all(i.state == "done" for i in queued)
        _check_serial(host.store.read_oplog(agent), queued, calls)
        print(f"\n{len(calls)} concurrent invocations of one agent by {threads} threads")
    finally:
        host.close()


def test_concurrent_cli_invocations_run_one_at_a_time_in_order(tmp_path: Path) -> None:
    """agent-host processes invoking one agent at once: each waits for the process that
    runs the agent (instead of failing on its lease) and prints its own result."""
    store = tmp_path / "store"
    env = {**os.environ, "AGENT_HOST_STORE": str(store)}
    setup = [AGENT_HOST, "component", "add", str(build_fixture("durable-1.3.0")), "--name", "d"]
    subprocess.run(setup, env=env, check=True, capture_output=True)
    first = [AGENT_HOST, "invoke", "d", "cli", "create()"]
    subprocess.run(first, env=env, check=True, capture_output=True)
    processes = 6

    def one(i: int) -> tuple[Call, str]:
        sent = time.monotonic_ns()
        done = subprocess.run(
            [AGENT_HOST, "--json", "invoke", "d", "cli", "sleep(20000000)"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        answered = time.monotonic_ns()
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        return (sent, answered, out["invocation"]), out["state"]

    answers = _race(processes, one)
    assert [state for _, state in answers] == ["done"] * processes
    view = store_view(store)
    try:
        (agent,) = [a.agent for a in view.list_agents()]
        queued = view.list_invocations(agent)[1:]  # after the first create
        _check_serial(view.read_oplog(agent), queued, [call for call, _ in answers])
    finally:
        view.close()
    print(f"\n{processes} concurrent agent-host invoke processes on one agent")


def test_concurrent_http_invocations_run_one_at_a_time_in_order(
    server: Server, template: tuple[Path, dict[str, str]]
) -> None:
    cid = template[1]["d"]
    clients = [Api(server.client(), cid) for _ in range(6)]
    clients[0].invoke_and_await("web", "create")  # the agent exists before the race
    each = 4

    def client(i: int) -> list[Call]:
        api = clients[i]
        calls = [("sleep", [2_000_000]), ("create", [])] * each
        return [
            _timed(lambda f=f, p=p: api.invoke("web", f, p).json()["invocationId"])  # type: ignore[misc]  # a lambda with a default argument
            for f, p in calls[:each]
        ]

    calls = [c for mine in _race(len(clients), client) for c in mine]
    view = store_view(server.store)
    try:
        (record,) = [a for a in view.list_agents() if a.agent.name == "web"]
        agent = record.agent
        wait_until(
            lambda: all(i.state == "done" for i in view.list_invocations(agent)),
            30,
            what="every invocation to finish",
        )
        queued = view.list_invocations(agent)[1:]  # after the first create
        _check_serial(view.read_oplog(agent), queued, calls)
    finally:
        view.close()
    print(f"\n{len(calls)} concurrent HTTP invocations of one agent by {len(clients)} clients")


def test_one_idempotency_key_sent_by_many_http_clients_runs_once(
    server: Server, template: tuple[Path, dict[str, str]]
) -> None:
    cid = template[1]["p"]
    clients = [Api(server.client(), cid) for _ in range(THREADS)]
    clients[0].invoke_and_await("keyed", "create")
    answers = _race(
        THREADS, lambda i: clients[i].invoke_and_await("keyed", "create", key="the-key").json()
    )
    assert len({a["result"] for a in answers}) == 1, answers
    view = store_view(server.store)
    try:
        (record,) = [a for a in view.list_agents() if a.agent.name == "keyed"]
        keyed = [i for i in view.list_invocations(record.agent) if i.idempotency_key]
        assert len(keyed) == 1
        starts = [
            e
            for e in view.read_oplog(record.agent)
            if isinstance(e, InvocationStarted) and e.invocation_id == keyed[0].invocation_id
        ]
        assert len(starts) == 1
        created = [e for e in view.read_oplog(record.agent) if isinstance(e, PromiseCreated)]
        assert len(created) == 2  # the first create and the keyed one, once
    finally:
        view.close()
    print(f"\n{THREADS} HTTP clients sent one idempotency key at once: one invocation ran")


# -- (c) linearizability ------------------------------------------------------------------
def _check_histories(histories: list[list[Op]], what: str) -> int:
    ops = 0
    for n, history in enumerate(histories):
        order = linearize(history)
        assert order is not None, (
            f"{what}: round {n} (seed {SEED}) is not linearizable:\n"
            + "\n".join(f"  {o}" for o in sorted(history, key=lambda o: o.start))
        )
        ops += len(history)
    return ops


AGENTS = ("a", "b")


def test_threads_histories_are_linearizable(tmp_path: Path) -> None:
    rounds, workers, ops = 100, 4, 12
    setup_store(tmp_path / "lin.db", rounds, AGENTS)
    histories = thread_rounds(tmp_path / "lin.db", SEED, rounds, workers, ops, AGENTS)
    checked = _check_histories(histories, "threads")
    print(f"\nlinearizability (threads): seed {SEED}, {rounds} histories, {checked} operations")


def test_process_histories_are_linearizable(tmp_path: Path) -> None:
    rounds, workers, ops = 50, 4, 12
    path = tmp_path / "lin.db"
    setup_store(path, rounds, AGENTS)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=process_worker,
            args=(str(path), SEED, rounds, w, workers, ops, AGENTS, barrier, out),
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    by_round: dict[int, list[Op]] = {r: [] for r in range(rounds)}
    for _ in range(rounds * workers):
        r, ops_ = out.get(timeout=120)
        by_round[r] += ops_
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    checked = _check_histories([by_round[r] for r in range(rounds)], "processes")
    print(f"\nlinearizability (processes): seed {SEED}, {rounds} histories, {checked} operations")
