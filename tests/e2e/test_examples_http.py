"""The code-first examples' own routes (their `@agent(mount=...)` and `@endpoint`s)
through a real `agent-host serve`, as their READMEs show them: the approval workflow's
request/approve/status, the template's query-bound greeting, the rendezvous slots filled
by other agents over HTTP, and start_approval through Golem's invoke-agent."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server_util import example_store, serving

# slow: builds (first time) and compiles three componentize-py examples (~30 s each here)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    store = tmp_path_factory.mktemp("examples-http") / "store"
    with (
        serving(example_store(store, "approval", "rendezvous", "template")) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        yield client


def invoke(http: httpx.Client, agent_type: str, name: str, method: str) -> object:
    body = {
        "agentTypeName": agent_type,
        "parameters": [name],
        "methodName": method,
        "methodParameters": [],
        "mode": "await",
    }
    done = http.post("/v1/agents/invoke-agent", json=body)
    assert done.status_code == 200, done.text
    (element,) = done.json()["result"]["elements"]
    return element["value"]


def test_approval_over_its_own_routes(http: httpx.Client) -> None:
    opened = http.post("/workflows/alice/request")
    assert opened.status_code == 200, opened.text
    promise = opened.json()
    assert promise.endswith('/WorkflowAgent("alice")/' + promise.rsplit("/", 1)[1])
    idx = int(promise.rsplit("/", 1)[1])
    status = http.get("/workflows/alice/status")
    assert status.json() == f"Workflow alice: waiting on promise {idx}"
    approved = http.post("/workflows/alice/approve", json={"by": "bob"})
    assert (approved.status_code, approved.json()) == (200, True)
    # The decision is in: start_approval (through invoke-agent) does not wait.
    assert invoke(http, "WorkflowAgent", "alice", "start_approval") == (
        "Workflow alice approved by bob"
    )
    assert http.get("/workflows/alice/status").json() == "Workflow alice approved by bob"
    # Nothing open for carol: rejecting answers false.
    assert http.post("/workflows/carol/reject", json={"by": None}).json() is False


def test_template_greets_by_query(http: httpx.Client) -> None:
    greeted = http.get("/hello/t1/greet", params={"who": "Bob"})
    assert (greeted.status_code, greeted.json()) == (200, "Hello, Bob!")
    assert http.get("/hello/t1/question").status_code == 404  # none open: option none


def test_rendezvous_slots_filled_over_http(http: httpx.Client) -> None:
    slots = http.post("/rendezvous/boss/open-slots", json={"count": 1}).json()
    assert len(slots) == 1 and '/RendezvousAgent("boss")/' in slots[0]
    filled = http.post("/rendezvous/w1/fill", json={"slot": slots[0], "value": "A"})
    assert (filled.status_code, filled.json()) == (200, True)
    again = http.post("/rendezvous/w2/fill", json={"slot": slots[0], "value": "B"})
    assert again.json() is False
    assert invoke(http, "RendezvousAgent", "boss", "gather") == ["w1: A"]
    bad = http.post("/rendezvous/w1/fill", json={"slot": "nope", "value": "C"})
    assert bad.status_code == 500 and "invalid promise id" in bad.text
