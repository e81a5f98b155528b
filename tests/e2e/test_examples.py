"""The code-first SDK examples (guest_examples/*, on agent_sdk) end to end through a real
`agent-host serve` (tests/server_util.py): human-in-the-loop approval, inter-agent
synchronization, external event ingestion across a server restart, the template, and
building every example with one command.

Methods are called through Golem's invoke-agent (a long wait is scheduled under an
idempotency key, and its result fetched later by awaiting the same key); promises are
completed and agents inspected through the worker API, whose worker names are the
URL-encoded agent ids; the examples' own routes come from their ``@agent(mount=...)``.
Each example's README shows the same flows as curl lines."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.host.test_sdk_async import REPO, example_store
from tests.server_util import AgentCall, Api, Server, clone_store, json_bytes, wait_until

# slow: registers the four SDK examples (componentize-py guests): 45-120 s here
pytestmark = pytest.mark.slow

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="held")

TYPES = {
    "approval": "WorkflowAgent",
    "rendezvous": "RendezvousAgent",
    "ingest": "MeterAgent",
    "template": "HelloAgent",
}


class Running:
    """A server on a private copy of the example store, with an Api per component."""

    def __init__(self, server: Server, ids: dict[str, str]) -> None:
        self.server = server
        self.ids = ids
        self.http = server.client()

    def api(self, name: str) -> Api:
        return Api(self.http, self.ids[name])

    def restart(self) -> None:
        self.server.restart()
        self.http = self.server.client()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    template, ids = example_store()
    server = Server(clone_store(template, tmp_path / "store"), poll_interval=0.05).start()
    yield Running(server, ids)
    server.stop()
    assert "Traceback" not in server.output(), server.output()[-3000:]


def worker(component: str, name: str) -> str:
    """The worker API's name of an example's agent: its agent id, URL-encoded."""
    return quote(f'{TYPES[component]}("{name}")', safe="")


def pending_promises(api: Api, name: str) -> list[int]:
    listed = api.http.get(api.path(name, "/promises")).json()["promises"]
    return [int(p["promiseId"]["oplogIdx"]) for p in listed]


# -- human-in-the-loop ------------------------------------------------------------------------
# (its own routes: test_examples_http.py; a bare "approved": tests/host/test_sdk_agents.py)
def test_approval_start_approval_suspends_until_a_decision_arrives(running: Running) -> None:
    api, dan = running.api("approval"), worker("approval", "dan")
    started = AgentCall(running.server, "WorkflowAgent", "dan", "start_approval", [])
    meta = api.wait_status(dan, "Suspended")
    (waiting,) = meta["waitingOn"]
    decision = {"decision": "rejected", "by": "eve"}
    assert api.complete(dan, waiting["oplogIdx"], json_bytes(decision)).json() is True
    assert started.result() == "Workflow dan rejected by eve"
    # A payload that is not a Decision: an explanatory outcome, the agent stays healthy.
    started = AgentCall(running.server, "WorkflowAgent", "dan", "start_approval", [])
    (waiting,) = api.wait_status(dan, "Suspended")["waitingOn"]
    api.complete(dan, waiting["oplogIdx"], json_bytes({"decision": "maybe"}))
    outcome = started.result()
    assert outcome.startswith("Workflow dan: invalid decision: at $.decision"), outcome
    assert api.status(dan) == "Idle"


# -- inter-agent synchronization --------------------------------------------------------------
def test_one_agent_waits_and_other_agents_complete_its_promises(running: Running) -> None:
    http, api, boss = running.http, running.api("rendezvous"), worker("rendezvous", "boss")
    slots = http.post("/rendezvous/boss/open-slots", json={"count": 2}).json()
    assert all('/RendezvousAgent("boss")/' in s for s in slots) and len(slots) == 2
    gathering = AgentCall(running.server, "RendezvousAgent", "boss", "gather", [])
    meta = api.wait_status(boss, "Suspended")
    assert len(meta["waitingOn"]) == 2  # both promises, in one wait

    # Two other agents fill the slots through their own declared endpoint.
    first = http.post("/rendezvous/w1/fill", json={"slot": slots[1], "value": "B"})
    assert first.status_code == 200 and first.json() is True
    wait_until(
        lambda: (
            m
            if (m := api.worker(boss))["status"] == "Suspended" and len(m["waitingOn"]) == 1
            else None
        ),
        what="boss to wait on the other slot alone",
    )
    assert http.post("/rendezvous/w2/fill", json={"slot": slots[0], "value": "A"}).json() is True
    assert gathering.result() == ["w2: A", "w1: B"]
    # Filling a filled slot: false, the first value stays.
    assert http.post("/rendezvous/w3/fill", json={"slot": slots[0], "value": "X"}).json() is False
    # Not a promise id: the agent raises (a 500 with the message, as Golem maps an agent's
    # error), and the agent stays healthy.
    url = running.server.url + "/rendezvous/w3/fill"
    bad = httpx.post(url, json={"slot": "nope", "value": "X"}, timeout=30)  # 500 expected
    assert bad.status_code == 500 and "invalid promise id 'nope'" in bad.text
    assert api.status(worker("rendezvous", "w3")) == "Idle"


def test_a_durable_timeout_fires_after_a_server_restart(running: Running) -> None:
    http, api = running.http, running.api("rendezvous")
    http.post("/rendezvous/cat/open-slots", json={"count": 2})
    racing = AgentCall(running.server, "RendezvousAgent", "cat", "gather_within", [1.5])
    api.wait_status(worker("rendezvous", "cat"), "Suspended")
    running.server.stop()  # nobody runs the agent while the deadline passes
    time.sleep(1.6)
    running.restart()
    assert "timed out after 1.5 s: 0 of 2 slots filled" in racing.error()


def test_first_of_two_over_http(running: Running) -> None:
    http, api = running.http, running.api("rendezvous")
    slots = http.post("/rendezvous/dog/open-slots", json={"count": 2}).json()
    held: Future[httpx.Response] = _pool.submit(
        lambda: running.server.client(timeout=60).post("/rendezvous/dog/first")
    )
    api.wait_status(worker("rendezvous", "dog"), "Suspended")
    http.post("/rendezvous/w9/fill", json={"slot": slots[1], "value": "second wins"})
    response = held.result(timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == "slot 2: w9: second wins"


# -- external event ingestion -----------------------------------------------------------------
def test_a_sensor_posts_events_the_meter_suspends_between_them_and_aggregates(
    running: Running,
) -> None:
    api, m1 = running.api("ingest"), worker("ingest", "m1")
    watching = AgentCall(running.server, "MeterAgent", "m1", "watch", [4, 30.0, 0.0])
    events: list[Any] = [
        {"value": 21.5, "sensor": "s-1"},
        {"value": 35, "sensor": "s-2"},
        "garbage",  # not a Reading: kept as rejected, the meter waits on
        {"value": 19.0},
        {"value": 30.5, "sensor": "s-1"},
    ]
    seen: list[int] = []

    def waiting_on_a_new_promise(api: Api) -> dict[str, Any] | None:
        meta = api.worker(m1)
        ok = meta["status"] == "Suspended" and meta["waitingOn"]
        return meta if ok and meta["waitingOn"][0]["oplogIdx"] not in seen else None

    for n, event in enumerate(events):
        # The simulator: find the promise the meter waits on, then complete it.
        meta = wait_until(
            lambda: waiting_on_a_new_promise(api),  # noqa: B023 (called right here)
            what=f"the meter to wait for event {n + 1}",
        )
        (idx,) = pending_promises(api, m1)
        assert idx == meta["waitingOn"][0]["oplogIdx"]
        seen.append(idx)
        if n == 2:  # a restart between events loses nothing
            running.restart()
            api = running.api("ingest")
            assert api.status(m1) == "Suspended"
        assert api.complete(m1, idx, json_bytes(event)).json() is True

    summary = watching.result()
    assert summary["readings"] == 4
    assert summary["min"] == 19.0 and summary["max"] == 35.0
    assert summary["mean"] == pytest.approx((21.5 + 35 + 19 + 30.5) / 4)
    assert summary["alerts"] == [
        "reading 2 from s-2: 35 > 30",
        "reading 4 from s-1: 30.5 > 30",
    ]
    (rejected,) = summary["rejected"]
    assert "expected an object (Reading), got a string" in rejected
    assert summary["silences"] == 0
    assert running.http.get("/sensors/m1/summary").json() == summary
    assert pending_promises(api, m1) == []


def test_silences_are_counted_by_a_durable_timer(running: Running) -> None:
    api, m2 = running.api("ingest"), worker("ingest", "m2")
    watching = AgentCall(running.server, "MeterAgent", "m2", "watch", [1, 100.0, 0.4])
    meta = api.wait_status(m2, "Suspended")
    idx = meta["waitingOn"][0]["oplogIdx"]
    # Each silence: the timer wakes the meter, it counts, and it suspends again.
    wait_until(
        lambda: api.count_entries(m2, "suspended") >= 3,
        timeout=20,
        what="two silences to pass",
    )
    assert pending_promises(api, m2) == [idx]  # still the same promise
    api.complete(m2, idx, json_bytes({"value": 1}))
    summary = watching.result()
    assert summary["readings"] == 1 and summary["silences"] >= 2


# -- the template -----------------------------------------------------------------------------
def test_the_template_agent_greets_and_asks(running: Running) -> None:
    http, api, t1 = running.http, running.api("template"), worker("template", "t1")
    assert http.get("/hello/t1/greet", params={"who": "Bob"}).json() == "Hello, Bob!"
    asking = AgentCall(running.server, "HelloAgent", "t1", "ask", ["meaning of life?", 30.0])
    (waiting,) = api.wait_status(t1, "Suspended")["waitingOn"]
    question = http.get("/hello/t2/question")
    assert question.status_code == 404  # another agent has no open question
    api.complete(t1, waiting["oplogIdx"], json_bytes("42"))
    assert asking.result() == "42"
    timed_out = AgentCall(running.server, "HelloAgent", "t1", "ask", ["anyone?", 0.3])
    assert "no answer within 0.3 s" in timed_out.error()


# -- building ---------------------------------------------------------------------------------
def test_every_example_builds_with_one_command() -> None:
    def build_all() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(REPO / "scripts" / "build_examples.py")],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    build_all()  # builds (or finds up to date) every code-first example
    done = build_all()  # this run must skip them all
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("approval", "ingest", "rendezvous", "template", "webhook"):
        assert f"{name}: up to date" in done.stdout, done.stdout
        assert (REPO / "guest_examples" / name / f"{name}.wasm").is_file()
    assert "sdk" not in [
        line.split(":")[0].split()[-1] for line in done.stdout.splitlines() if ":" in line
    ]
