"""Failover (issue 13 item 6): three ``agent-host serve`` processes on their own loopback
ports share one store (SQLite, and a real PostgreSQL server); agents suspended on
promises are completed by clients spread over the three while one host is killed with
SIGKILL. Every agent must finish with its own payload, each invocation's effect exactly
once: one promise created, one invocation started and one finished in its oplog (a run
twice would have created a second promise or finished twice).

The dead host's agents are taken over at once, not after the lease time: its pid is
dead on this machine, so the first survivor that wants one of them (a completion it
received, or its scanner finding a running agent) evicts the dead process's leases.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.build import build_fixture
from tests.server_util import Api, Server, cli, json_bytes, wait_until

pytestmark = pytest.mark.slow  # three servers, two stores: about a minute

AGENTS = 45
CLIENTS = 6
FINISH_S = 120.0  # far inside the lease TTL (300 s): a takeover did not wait for it


def _payload(i: int) -> list[int]:
    return json_bytes(f"payload-{i}")


@pytest.fixture(params=["sqlite", "postgresql"])
def hosts(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    store = tmp_path / "store"
    store_url: str | None = None
    global_args: tuple[str, ...] = ()
    if request.param == "postgresql":
        store_url = str(request.getfixturevalue("pg_url"))
        global_args = ("--data-dir", str(tmp_path / "data"))
    added = cli(
        store_url or store,
        *global_args,
        "component",
        "add",
        str(build_fixture("promises-1.3.0")),
        "--name",
        "promises",
    )
    assert added.returncode == 0, added.stderr
    servers = [
        Server(
            store,
            poll_interval=0.25,
            log=tmp_path / f"host-{i}.log",
            store_url=store_url,
            global_args=global_args,
        )
        for i in range(3)
    ]
    try:
        for server in servers:
            server.start()
        yield servers, added.stdout.strip()
    finally:
        for server in servers:
            server.stop()


def test_killing_one_of_three_hosts_under_load_loses_and_repeats_nothing(hosts: Any) -> None:
    servers, cid = hosts
    apis = [Api(s.client(timeout=30), cid) for s in servers]
    names = [f"fail-{i}" for i in range(AGENTS)]
    invocations: dict[str, str] = {}
    for i, name in enumerate(names):  # each host starts (and owns) a third of them
        answer = apis[i % 3].invoke(name, "create-and-await")
        assert answer.status_code == 202, answer.text
        invocations[name] = answer.json()["invocationId"]
    promise: dict[str, int] = {}
    for i, name in enumerate(names):
        meta = apis[i % 3].wait_status(name, "Suspended", timeout=60)
        promise[name] = int(meta["waitingOn"][0]["oplogIdx"])

    victim, survivors = servers[0], servers[1:]
    sent = 0
    lock = threading.Lock()
    killed = threading.Event()
    failures: list[str] = []
    orphaned: list[str] = []

    def complete(i: int) -> None:
        """Complete agent i's promise through some host, another one if that one is
        dead: an answer lost with the victim is sent again (then false: done already)."""
        nonlocal sent
        name = names[i]
        order = [servers[(i + 1) % 3], servers[(i + 2) % 3], servers[i % 3]]
        for server in order:
            if server is victim and killed.is_set():
                continue
            try:
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    answer = client.post(
                        f"/v1/components/{cid}/workers/{name}/complete",
                        json={"oplogIdx": promise[name], "data": _payload(i)},
                    )
            except httpx.TransportError:
                continue  # the victim, killed meanwhile
            if answer.status_code == 200 and isinstance(answer.json(), bool):
                with lock:
                    sent += 1
                    if killed.is_set() and i % 3 == 0:
                        orphaned.append(name)  # the victim's agent, completed after it died
                return
            failures.append(f"{name}: {answer.status_code} {answer.text}")
            return
        failures.append(f"{name}: no host took the completion")

    order = list(range(AGENTS))
    random.Random(13).shuffle(order)
    queue = iter(order)

    def client_loop() -> None:
        while True:
            with lock:
                i = next(queue, None)
            if i is None:
                return
            complete(i)

    threads = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    # Kill the victim while completions are in flight: some of its agents are resumed
    # and running, some completed but not yet run, some still waiting.
    wait_until(lambda: sent >= AGENTS // 4, timeout=60, what="a quarter of the completions")
    killed.set()
    victim.kill()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    assert orphaned, "no agent of the killed host was completed after it died: no failover"

    started = time.monotonic()
    check = [Api(s.client(timeout=60), cid) for s in survivors]
    for i, name in enumerate(names):
        api = check[i % 2]
        url = api.path(name, f"/invocations/{invocations[name]}")
        remaining = max(1.0, FINISH_S - (time.monotonic() - started))
        answer = api.http.get(url, params={"wait": min(remaining, 60)}, timeout=remaining + 30)
        assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.text}"
        assert bytes(answer.json()["result"]) == bytes(_payload(i)), name
    assert time.monotonic() - started < FINISH_S

    for i, name in enumerate(names):
        kinds = [e["type"] for e in check[i % 2].oplog(name)]
        assert kinds.count("promise-created") == 1, (name, kinds)
        assert kinds.count("invocation-started") == 1, (name, kinds)
        assert kinds.count("invocation-finished") == 1, (name, kinds)
        assert check[i % 2].status(name) == "Idle"
    for server in survivors:
        assert "Traceback" not in server.output(), server.output()[-3000:]
