"""The code-first examples (guest_examples/*, on agent_sdk) through the agent CLI, each
command its own process, as their READMEs show them: agents named by agent id, methods
by name, promises completed by `promise complete COMPONENT AGENT-ID IDX`, resumption by
replay in a later process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.server_util import build_example

# slow: builds (first time) and compiles the componentize-py examples (15-60 s each here)
pytestmark = pytest.mark.slow


def run(store: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(Path(sys.executable).parent / "agent-host"), "--store", str(store), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ)
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def invoke_json(store: Path, component: str, agent: str, call: str) -> dict[str, Any]:
    data = json.loads(run(store, "--json", "invoke", component, agent, call).stdout)
    assert isinstance(data, dict)
    return data


def added(tmp_path: Path, name: str) -> Path:
    store = tmp_path / "data"
    run(store, "component", "add", str(build_example(name)), "--name", name)
    return store


def test_approval_is_the_seeds_workflow_agent(tmp_path: Path) -> None:
    store = added(tmp_path, "approval")
    shown = run(store, "component", "show", "approval").stdout
    assert "WorkflowAgent(name: string)  durable" in shown
    assert "POST /workflows/{name}/approve -> approve" in shown
    alice = 'WorkflowAgent("alice")'
    started = run(store, "--json", "invoke", "approval", alice, "start_approval")
    waiting = json.loads(started.stdout)
    (idx,) = waiting["oplog_indexes"]
    # What the agent printed before it suspended is shown (once its record is committed).
    assert "Workflow alice: waiting for promise" in started.stderr, started.stderr
    # Later calls queue behind the suspended one (so its own approve cannot run yet).
    queued = run(store, "invoke", "approval", alice, "status").stdout
    assert queued.startswith("queued: the agent is suspended, waiting on promise")
    done = run(store, "promise", "complete", "approval", alice, str(idx), "--json", '"approved"')
    assert done.stdout.startswith("true")
    assert run(store, "invoke", "approval", alice, "status").stdout.strip() == (
        '"Workflow alice approved"'
    )
    again = run(store, "promise", "complete", "approval", alice, str(idx), "--json", '"rejected"')
    assert again.stdout.strip() == "false"
    # The non-blocking flow: open a request, decide from inside the agent, read the status.
    bob = 'WorkflowAgent("bob")'
    run(store, "invoke", "approval", bob, "request")
    assert run(store, "invoke", "approval", bob, 'reject(some("carol"))').stdout.strip() == "true"
    decided = invoke_json(store, "approval", bob, "start_approval")
    assert decided["result"] == "Workflow bob rejected by carol"  # no wait: decided already


def test_rendezvous_workers_fill_the_coordinators_slots(tmp_path: Path) -> None:
    store = added(tmp_path, "rendezvous")
    boss = 'RendezvousAgent("boss")'
    slots = invoke_json(store, "rendezvous", boss, "open_slots(2)")["result"]
    assert len(slots) == 2 and all('/RendezvousAgent("boss")/' in s for s in slots)
    waiting = invoke_json(store, "rendezvous", boss, "gather")
    assert len(waiting["oplog_indexes"]) == 2
    w1, w2 = 'RendezvousAgent("w1")', 'RendezvousAgent("w2")'
    fill = f'fill({json.dumps(slots[1])}, "B")'
    assert run(store, "invoke", "rendezvous", w1, fill).stdout.strip() == "true"
    assert run(store, "invoke", "rendezvous", w1, fill).stdout.strip() == "false"
    run(store, "invoke", "rendezvous", w2, f'fill({json.dumps(slots[0])}, "A")')
    shown = run(store, "--json", "agent", "show", "rendezvous", boss).stdout
    assert json.loads(shown)["pending_promises"] == []
    bad = run(store, "invoke", "rendezvous", w1, 'fill("nope", "C")', ok=False)
    assert bad.returncode != 0 and "invalid promise id 'nope'" in bad.stderr


def test_ingest_meter_suspends_between_events_and_aggregates(tmp_path: Path) -> None:
    store = added(tmp_path, "ingest")
    m1 = 'MeterAgent("m1")'
    (idx,) = invoke_json(store, "ingest", m1, "watch(2, 30.0, 0.0)")["oplog_indexes"]
    reading = '{"value": 21.5, "sensor": "s-1"}'
    run(store, "promise", "complete", "ingest", m1, str(idx), "--json", reading)
    shown = json.loads(run(store, "--json", "agent", "show", "ingest", m1).stdout)
    (idx,) = [p["oplog_idx"] for p in shown["pending_promises"]]  # a new promise per event
    run(store, "promise", "complete", "ingest", m1, str(idx), "--json", '{"value": 31.5}')
    summary = invoke_json(store, "ingest", m1, "summary")["result"]
    assert summary["readings"] == 2 and summary["max"] == 31.5
    assert summary["alerts"] == ["reading 2 from sensor: 31.5 > 30"]


def test_template_greets_and_asks(tmp_path: Path) -> None:
    store = added(tmp_path, "template")
    t1 = 'HelloAgent("t1")'
    assert run(store, "invoke", "template", t1, 'greet("Bob")').stdout.strip() == '"Hello, Bob!"'
    (idx,) = invoke_json(store, "template", t1, 'ask("meaning?", 600.0)')["oplog_indexes"]
    done = run(store, "promise", "complete", "template", t1, str(idx), "--json", '"42"')
    assert done.stdout.startswith("true")
    timed_out = run(store, "invoke", "template", t1, 'ask("anyone?", 0.2)', ok=False)
    out = timed_out.stdout + timed_out.stderr
    if "suspended" in out:  # the durable timer: a later call runs once it is due
        out = run(store, "invoke", "template", t1, "open_question", ok=False).stdout
    assert "no answer within 0.2 s" in out or "none" in out
