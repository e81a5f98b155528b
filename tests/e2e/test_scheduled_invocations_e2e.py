"""Scheduled invocations end to end, with the componentize-py guest tests/fixtures/py/rpc_pair
(CallerAgent schedules CounterAgent.add through wasm-rpc schedule-invocation):

* through the CLI, each command its own process (so the host "restarts" between the
  schedule and its time): `agent-host worker --once` queues a due call and leaves one due
  in an hour; a call cancelled before its time never runs;
* through a real `agent-host serve`: a call scheduled by a guest over REST survives a
  server restart before its time and is run by the new server's scheduler; REST
  ``invoke-agent`` with ``mode: schedule`` and ``scheduleAt`` schedules a user's call;
  a bad ``scheduleAt`` is a 400 naming the field."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.build import build_python_fixture
from tests.fixtures.postgres import env_for
from tests.server_util import Server, add_component, store_view, wait_until

pytestmark = pytest.mark.slow  # builds and compiles an 18 MB componentize-py guest
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def run(store: Path, *args: str) -> str:
    cmd = [str(Path(sys.executable).parent / "agent-host"), "--store", str(store), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env_for(store))
    assert done.returncode == 0, done.stderr
    return done.stdout


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def schedule_states(store: Path) -> list[str]:
    db = store_view(store)
    try:
        return [s.state for s in db.list_schedules()]
    finally:
        db.close()


def test_scheduled_calls_through_the_cli(tmp_path: Path) -> None:
    store = tmp_path / "data"
    run(store, "component", "add", str(build_python_fixture("rpc_pair")), "--name", "pair")
    caller = 'CallerAgent("cli")'
    soon = now_ms() + 2000
    later = now_ms() + 3_600_000
    out = run(store, "invoke", "pair", caller, f'schedule_add("k1", 2, {soon})')
    assert out.strip() == '"scheduled"'
    run(store, "invoke", "pair", caller, f'schedule_add("k1", 100, {later})')
    out = run(store, "invoke", "pair", caller, f'schedule_cancelable_add("k2", 9, {soon})')
    assert out.strip() == '"scheduled 1"'
    assert run(store, "invoke", "pair", caller, "cancel_scheduled()").strip() == "1"
    assert schedule_states(store) == ["waiting", "waiting", "cancelled"]

    wait_until(lambda: now_ms() > soon + 10, timeout=10, what="the scheduled time")
    run(store, "worker", "--once")
    assert run(store, "invoke", "pair", 'CounterAgent("k1")', "get()").strip() == "2"
    assert schedule_states(store) == ["enqueued", "waiting", "cancelled"]
    run(store, "worker", "--once")  # queued once only
    assert run(store, "invoke", "pair", 'CounterAgent("k1")', "calls_made()").strip() == "1"
    agents = json.loads(run(store, "--json", "agent", "list", "--component", "pair"))
    assert 'CounterAgent("k2")' not in [a["name"] for a in agents]  # the cancelled call


def tup(*values: object) -> dict[str, object]:
    return {"type": "Tuple", "elements": [{"type": "ComponentModel", "value": v} for v in values]}


def invoke(
    http: httpx.Client,
    agent_type: str,
    name: str,
    method: str,
    *args: object,
    headers: dict[str, str] | None = None,
    **extra: Any,
):
    body = {
        "appName": "pair",
        "envName": "local",
        "agentTypeName": agent_type,
        "parameters": tup(name),
        "methodName": method,
        "methodParameters": tup(*args),
        "mode": "await",
        **extra,
    }
    return http.post("/v1/agents/invoke-agent", json=body, headers=headers)


def counter_value(http: httpx.Client, name: str) -> int | None:
    done = invoke(http, "CounterAgent", name, "get")
    assert done.status_code == 200, done.text
    value = done.json()["result"]["elements"][0]["value"]
    return None if value is None else int(value)


def test_scheduled_calls_through_rest_survive_a_server_restart(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_component(store, build_python_fixture("rpc_pair"), "pair")
    server = Server(store, poll_interval=0.1).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            due = now_ms() + 6000
            done = invoke(http, "CallerAgent", "rest", "schedule_add", "r1", 4, due)
            assert done.status_code == 200, done.text
            assert done.json()["result"]["elements"][0]["value"] == "scheduled"
        server.stop()
        # The server stopped before the time (else this restart would test nothing).
        assert schedule_states(store) == ["waiting"]
        server.start()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            got = wait_until(
                lambda: counter_value(http, "r1") == 4, timeout=60, interval=0.2, what="r1 == 4"
            )
            assert got and now_ms() >= due  # not before its time

            at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
            done = invoke(
                http,
                "CounterAgent",
                "r2",
                "add",
                3,
                headers={"traceparent": TRACEPARENT, "tracestate": "vendor=z"},
                mode="schedule",
                scheduleAt=at.isoformat(),
            )
            assert done.status_code == 200, done.text
            assert done.json()["agentId"]["agentId"] == 'CounterAgent("r2")'
            assert "result" not in done.json()
            wait_until(
                lambda: counter_value(http, "r2") == 3, timeout=60, interval=0.2, what="r2 == 3"
            )
            # The scheduled invocation carries the scheduling request's W3C trace context.
            db = store_view(store)
            try:
                (rest,) = [s for s in db.list_schedules() if s.callee.name == 'CounterAgent("r2")']
                (ran,) = [
                    i for i in db.list_invocations(rest.callee) if i.idempotency_key == rest.key
                ]
            finally:
                db.close()
            assert (ran.traceparent, ran.tracestate) == (TRACEPARENT, "vendor=z")

            bad = invoke(http, "CounterAgent", "r3", "add", 1, mode="schedule", scheduleAt="soon")
            assert bad.status_code == 400 and "scheduleAt" in bad.text, bad.text
            naive = invoke(
                http, "CounterAgent", "r3", "add", 1, mode="schedule", scheduleAt="2030-01-01T00:00"
            )
            assert naive.status_code == 400 and "time zone" in naive.text, naive.text
            awaited = invoke(http, "CounterAgent", "r3", "add", 1, scheduleAt=at.isoformat())
            assert awaited.status_code == 400 and "mode" in awaited.text, awaited.text
    finally:
        server.stop()
