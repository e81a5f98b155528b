"""Held requests do not starve the server (issue 10, F1).

Before the fix every held ``invoke-and-await`` and ``GET .../invocations/{id}?wait=``
occupied one of the 40 threads that all synchronous routes share: 45 held calls delayed
the first completion by 17 s and ``/healthz`` by 28 s. Now a wait is an awaited event
and holds no thread. These tests hold more requests than that pool has threads, and
check that completions and health checks are answered while they are held, and that
every held request then ends with its result (none timed out into a 202).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.fixtures.build import build_fixture
from tests.server_util import Api, Server, add_component, wait_until

pytestmark = pytest.mark.slow  # hundreds of held requests on a real server

HELD = 64  # more than the 40 threads of the old shared pool
# A held request must not delay these: before the fix they took 17-28 s with 45 held.
PROMPT_S = 5.0


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("promises-1.3.0"), "promises")
    server = Server(store, poll_interval=0.1, await_timeout=60.0).start()
    try:
        yield Api(server.client(timeout=90.0), cid)
    finally:
        server.stop()
        assert "Traceback" not in server.output(), server.output()[-3000:]


def _suspended_agents(api: Api, count: int) -> list[tuple[str, int]]:
    """``count`` agents each with one pending promise (not yet awaited)."""
    agents = []
    for i in range(count):
        name = f"held-{i}"
        created = api.invoke_and_await(name, "create")
        assert created.status_code == 200, created.text
        agents.append((name, int(created.json()["result"])))
    return agents


def test_held_invoke_and_await_calls_leave_completions_prompt(api: Api) -> None:
    agents = _suspended_agents(api, HELD)
    with ThreadPoolExecutor(max_workers=HELD) as pool:
        held: list[Future[httpx.Response]] = [
            pool.submit(api.invoke_and_await, name, "await", [idx], timeout=60, http_timeout=90)
            for name, idx in agents
        ]
        # Every agent suspended on its promise: every request is being held now.
        for name, _ in agents:
            api.wait_status(name, "Suspended", timeout=60)
        assert not any(f.done() for f in held)
        with httpx.Client(base_url=api.http.base_url, timeout=PROMPT_S) as quick:
            started = time.monotonic()
            assert quick.get("/healthz").status_code == 200
            first, idx = agents[0]
            answer = quick.post(
                api.path(first, "/complete"), json={"oplogIdx": idx, "data": [1, 2, 3]}
            )
            assert answer.status_code == 200 and answer.json() is True
            elapsed = time.monotonic() - started
        # The completed agent's held request returns its payload, long before the rest.
        response = held[0].result(timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["result"] == [1, 2, 3]
        assert not any(f.done() for f in held[1:])
        for name, idx in agents[1:]:
            assert api.complete(name, idx, [9]).json() is True
        statuses = [f.result(timeout=60).status_code for f in held]
    assert statuses == [200] * HELD, statuses
    print(f"\n{HELD} held invoke-and-await: /healthz + /complete answered in {elapsed:.3f} s")


def test_held_result_waits_leave_completions_prompt(api: Api) -> None:
    agents = _suspended_agents(api, HELD)
    invocations = []
    for name, idx in agents:
        queued = api.invoke(name, "await", [idx])
        assert queued.status_code == 202, queued.text
        invocations.append(queued.json()["invocationId"])
    for name, _ in agents:
        api.wait_status(name, "Suspended", timeout=60)

    def hold(name: str, invocation: str) -> httpx.Response:
        return api.http.get(
            api.path(name, f"/invocations/{invocation}"), params={"wait": 60}, timeout=90
        )

    with ThreadPoolExecutor(max_workers=HELD) as pool:
        held = [
            pool.submit(hold, name, inv) for (name, _), inv in zip(agents, invocations, strict=True)
        ]
        time.sleep(1.0)  # let every request reach the server and be held
        assert not any(f.done() for f in held)
        with httpx.Client(base_url=api.http.base_url, timeout=PROMPT_S) as quick:
            assert quick.get("/healthz").status_code == 200
            first, idx = agents[0]
            answer = quick.post(api.path(first, "/complete"), json={"oplogIdx": idx, "data": [5]})
            assert answer.status_code == 200 and answer.json() is True
        assert held[0].result(timeout=30).json()["result"] == [5]
        for name, idx in agents[1:]:
            assert api.complete(name, idx, [6]).json() is True
        results = [f.result(timeout=60) for f in held]
    assert [r.status_code for r in results] == [200] * HELD
    assert all(r.json()["result"] == [6] for r in results[1:])


def test_a_wait_ends_when_another_process_finishes_the_invocation(api: Api, tmp_path: Path) -> None:
    """The server hears of an invocation that ends elsewhere (the CLI running the agent
    on the same store) within a poll interval: each scan compares the waited-on agents'
    states in one query."""
    from tests.server_util import cli

    name, idx = _suspended_agents(api, 1)[0]
    queued = api.invoke(name, "await", [idx]).json()["invocationId"]
    api.wait_status(name, "Suspended", timeout=30)
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(
            lambda: api.http.get(
                api.path(name, f"/invocations/{queued}"), params={"wait": 30}, timeout=60
            )
        )
        done = cli(
            tmp_path / "store", "promise", "complete", "promises", name, str(idx), "--text", "x"
        )
        assert done.returncode == 0, done.stderr
        response = held.result(timeout=40)
    assert response.status_code == 200 and response.json()["result"] == list(b"x")
    wait_until(lambda: api.status(name) == "Idle", timeout=10)


# (sleep, bound on the last answer): 20 s is the issue's own figure, whose old batches
# ended at 15, 31 and 46 s (the last answer past the 40 s bound); 5 s is the quick
# version. The bounds are generous (a loaded 2-core machine), not a timing claim: they
# tell "about the sleep" from "a later batch". scripts/bench_held_sleeps.py prints figures.
@pytest.mark.parametrize(("sleep_s", "bound_s"), [(5, 20.0), (20, 40.0)], ids=["5s", "20s"])
def test_many_agents_in_a_durable_sleep_all_answer_after_the_sleep(
    tmp_path: Path, sleep_s: int, bound_s: float
) -> None:
    """100 agents each in a durable sleep, invoked with invoke-and-await at once, all
    answer after about the sleep (issue 11, item 10: they used to finish in batches)."""
    store = tmp_path / "clock-store"
    cid = add_component(store, build_fixture("clock-0.2.3"), "clock")
    server = Server(store, poll_interval=0.05, await_timeout=120.0).start()
    try:
        api = Api(server.client(timeout=120.0), cid)
        sleep_ns = sleep_s * 1_000_000_000
        count = 100
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=count) as pool:
            held = [
                pool.submit(api.invoke_and_await, f"sleeper-{i}", "sleep", [sleep_ns])
                for i in range(count)
            ]
            ended = []
            for future in held:
                response = future.result(timeout=120)
                ended.append(time.monotonic() - started)
                assert response.status_code == 200, response.text
        # Nobody answered before its sleep was over, and nobody waited for a later batch:
        # the whole set ends within the bound.
        assert min(ended) >= sleep_s
        assert max(ended) < bound_s, max(ended)
        print(
            f"\n{count} durable {sleep_s} s sleeps: first answer {min(ended):.2f} s, "
            f"last {max(ended):.2f} s"
        )
    finally:
        server.stop()
