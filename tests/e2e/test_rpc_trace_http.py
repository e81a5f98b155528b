"""Golem's invocation context across agent-to-agent calls through a real
`agent-host serve` (the componentize-py guest tests/fixtures/py/rpc_pair): a REST
``invoke-agent`` with a W3C traceparent makes CallerAgent await CounterAgent; the REST
oplog of the caller shows the rpc-connection and rpc-invocation spans as start-span /
finish-span entries, and the callee's invocation-started keeps the request's trace id
with the rpc-invocation span as its parent. A call the caller schedules (fired by the
server's scheduler) carries the same trace, its parent the caller's span."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.fixtures.build import build_python_fixture
from tests.server_util import Server, add_component, wait_until

pytestmark = pytest.mark.slow  # builds and compiles an 18 MB componentize-py guest

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
HEADERS = {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01", "tracestate": "vendor=x"}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    store = tmp_path_factory.mktemp("rpctrace") / "store"
    add_component(store, build_python_fixture("rpc_pair"), "pair")
    server = Server(store, poll_interval=0.1).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            yield client
    finally:
        server.stop()


def tup(*values: object) -> dict[str, object]:
    return {"type": "Tuple", "elements": [{"type": "ComponentModel", "value": v} for v in values]}


def invoke(http: httpx.Client, agent_type: str, name: str, method: str, *args: object) -> Any:
    body = {
        "appName": "pair",
        "envName": "local",
        "agentTypeName": agent_type,
        "parameters": tup(name),
        "methodName": method,
        "methodParameters": tup(*args),
        "mode": "await",
    }
    done = http.post("/v1/agents/invoke-agent", json=body, headers=HEADERS)
    assert done.status_code == 200, done.text
    return done.json()


def oplog(http: httpx.Client, cid: str, agent: str) -> list[dict[str, Any]]:
    got = http.get(
        f"/v1/components/{cid}/workers/{quote(agent, safe='')}/oplog",
        params={"format": "agent-host"},
    )
    assert got.status_code == 200, got.text
    return [e["entry"] for e in got.json()["entries"]]


def test_rpc_spans_and_the_callees_trace_in_the_rest_oplog(http: httpx.Client) -> None:
    done = invoke(http, "CallerAgent", "h", "call_add", "hc", 2)
    assert done["result"]["elements"][0]["value"] == 2
    cid = done["agentId"]["componentId"]
    entries = oplog(http, cid, 'CallerAgent("h")')
    starts = {dict(e["attributes"])["name"]: e for e in entries if e["type"] == "start-span"}
    connection, invocation = starts["rpc-connection"], starts["rpc-invocation"]
    assert invocation["parent"] == connection["span_id"]
    assert dict(invocation["attributes"])["function_name"] == "add"
    finished = {e["span_id"] for e in entries if e["type"] == "finish-span"}
    assert {connection["span_id"], invocation["span_id"]} <= finished

    callee = oplog(http, cid, 'CounterAgent("hc")')
    (started,) = [
        e
        for e in callee
        if e["type"] == "invocation-started" and str(e.get("idempotency_key")).startswith("rpc:")
    ]
    assert started["traceparent"] == f"00-{TRACE}-{invocation['span_id']}-00"
    assert started["tracestate"] == "vendor=x"
    assert started["idempotency_key"] == dict(invocation["attributes"])["idempotency_key"]


def test_a_scheduled_call_carries_the_trace(http: httpx.Client) -> None:
    past = time.time_ns() // 1_000_000 - 1  # already due: the server's scan fires it
    done = invoke(http, "CallerAgent", "hs", "schedule_add", "hsc", 4, past)
    cid = done["agentId"]["componentId"]
    caller = oplog(http, cid, 'CallerAgent("hs")')
    (scheduling,) = [e for e in caller if e["type"] == "invocation-started"][-1:]

    def fired() -> list[dict[str, Any]]:
        try:
            entries = oplog(http, cid, 'CounterAgent("hsc")')
        except AssertionError:
            return []  # not created yet
        return [
            e
            for e in entries
            if e["type"] == "invocation-started"
            and str(e.get("idempotency_key")).startswith("rpc-at:")
        ]

    (started,) = wait_until(fired, timeout=60, interval=0.2, what="the scheduled call")
    assert started["traceparent"].startswith(f"00-{TRACE}-")
    assert started["tracestate"] == "vendor=x"
    assert scheduling["traceparent"] == HEADERS["traceparent"]
