"""The code-first guest SDK (agent_sdk) inside real components, on an in-process Host:
its asyncio loop over wasi:io/poll (gather, first-of, a promise raced against a durable
timer), suspension (status suspended, the instance dropped), resumption by another
agent's completion, and the JSON helpers' errors reaching the caller as the agent's
error, not a trap.

The components are the code-first examples under guest_examples/ built by
scripts/build_examples.py (about 15-40 s each the first time, then cached by input hash);
they are registered once per session into a template data directory that each test
clones (compiled code is hard-linked). Methods are called by their names with WAVE
arguments through the host's agent-method path (host/service/agents.py)."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from host.clock import steady_ns
from host.ids import AgentId, PromiseId
from host.oplog import HostCall, PromiseCreated
from host.runtime import pollshim
from host.service import HostService
from host.service.agents import AgentResult
from host.store.base import InvocationRecord
from tests.server_util import add_component, build_example, clone_store

# slow: registers the four SDK examples (componentize-py guests): 45-120 s here
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("approval", "rendezvous", "ingest", "template")
WAIT = f"{pollshim.HELPER}.wait"  # what a guest's wasi:io/poll.poll records

_template: tuple[Path, dict[str, str]] | None = None


def example_store() -> tuple[Path, dict[str, str]]:
    """A data directory with every SDK example registered under its own name, made once
    per test process (test_examples.py uses it too; pytest may import this module under
    two names, so the directory, not a module global, is the cache); (path, name -> id)."""
    global _template
    if _template is None:
        wasm = {n: build_example(n) for n in EXAMPLES}
        stamps = "".join(p.with_suffix(".wasm.stamp").read_text() for p in wasm.values())
        digest = hashlib.sha256(stamps.encode()).hexdigest()[:12]
        root = Path(tempfile.gettempdir()) / f"agent-host-sdk-examples-{os.getpid()}-{digest}"
        store, ready = root / "store", root / "ids.json"
        if not ready.is_file():
            shutil.rmtree(root, ignore_errors=True)
            atexit.register(shutil.rmtree, root, ignore_errors=True)
            add_component(store, wasm["approval"], "approval")  # creates the store alone
            with ThreadPoolExecutor(max_workers=3) as pool:  # compiling is the slow part
                ids = dict(
                    zip(
                        EXAMPLES[1:],
                        pool.map(lambda n: add_component(store, wasm[n], n), EXAMPLES[1:]),
                        strict=True,
                    )
                )
            ids["approval"] = add_component(store, wasm["approval"], "approval")
            ready.write_text(json.dumps(ids))
        _template = (store, json.loads(ready.read_text()))
    return _template


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return clone_store(example_store()[0], tmp_path / "store")


@pytest.fixture
def host(data_dir: Path) -> Iterator[HostService]:
    h = HostService(data_dir)
    yield h
    h.close()


def rendezvous(host: HostService, name: str) -> AgentId:
    return host.create_agent("rendezvous", f'RendezvousAgent("{name}")')[0]


def call(host: HostService, who: AgentId, text: str) -> InvocationRecord:
    """A method call by name with WAVE arguments: ``open_slots(2)``."""
    return host.submit(host.agent_call_from_wave(who, text))


def finished(host: HostService, invocation: InvocationRecord) -> AgentResult:
    record = host.store.get_invocation(invocation.invocation_id)
    assert record.state == "done", (record, host.store.get_agent(invocation.agent))
    result = host.agent_result(record)
    assert result is not None, record
    return result


def ok(host: HostService, invocation: InvocationRecord) -> str:
    """The WAVE result of a method call that returned (not the agent's error)."""
    result = finished(host, invocation)
    assert result.error is None, result
    return result.wave


def error(host: HostService, invocation: InvocationRecord) -> str:
    """The agent's error of a method call that raised."""
    result = finished(host, invocation)
    assert result.error is not None, result
    return result.error


def open_slots(host: HostService, boss: AgentId, count: int) -> list[PromiseId]:
    result = finished(host, call(host, boss, f"open_slots({count})"))
    assert isinstance(result.json, list), result
    return [PromiseId.parse(s) for s in result.json]


def assert_suspended_on(host: HostService, who: AgentId, promises: list[PromiseId]) -> None:
    record = host.store.get_agent(who)
    assert record.status == "suspended", record
    assert record.waiting_promises == tuple(p.oplog_idx for p in promises)
    assert who not in host.executor._live  # suspension dropped the instance: nothing is held


def fill(host: HostService, worker: AgentId, slot: PromiseId, value: str) -> None:
    """The worker agent completes the coordinator's promise from inside its own code."""
    assert ok(host, call(host, worker, f'fill({json.dumps(str(slot))}, "{value}")')) == "true"


def waits(host: HostService, who: AgentId) -> list[tuple[list[int], list[int]]]:
    """(pollable count, ready indexes) of every poll that returned, in order."""
    return [
        (e.request, e.response)
        for e in host.store.read_oplog(who)
        if isinstance(e, HostCall) and e.function == WAIT
    ]


def promises_created(host: HostService, who: AgentId) -> int:
    return sum(isinstance(e, PromiseCreated) for e in host.store.read_oplog(who))


# -- gather ----------------------------------------------------------------------------------
def test_gather_suspends_until_both_promises_and_another_agent_resumes_it(
    host: HostService,
) -> None:
    boss, worker = rendezvous(host, "boss"), rendezvous(host, "w1")
    a, b = open_slots(host, boss, 2)
    gathering = call(host, boss, "gather")
    assert gathering.state == "started"
    assert_suspended_on(host, boss, [a, b])  # one poll saw both promise pollables

    fill(host, worker, b, "B")
    assert_suspended_on(host, boss, [a])  # resumed, took B, suspended again on a alone
    fill(host, worker, a, "A")
    assert ok(host, gathering) == '["w1: A", "w1: B"]'  # in slot order
    assert host.store.get_agent(boss).status == "idle"
    # One poll over both (b ready), then one over a: the loop polls everything at once.
    assert waits(host, boss) == [([2], [1]), ([1], [0])]
    # Each resumption replayed the invocation: the recorded ids came back, no new promise.
    assert promises_created(host, boss) == 2


def test_gather_of_completed_promises_does_not_wait(host: HostService) -> None:
    boss, worker = rendezvous(host, "boss"), rendezvous(host, "w1")
    for slot, value in zip(open_slots(host, boss, 3), "xyz", strict=True):
        fill(host, worker, slot, value)
    assert ok(host, call(host, boss, "gather")) == '["w1: x", "w1: y", "w1: z"]'
    assert waits(host, boss) == []  # every payload was there: no poll at all


# -- first of ---------------------------------------------------------------------------------
@pytest.mark.parametrize("which", [0, 1])
def test_first_of_two_resumes_on_either(host: HostService, which: int) -> None:
    boss, worker = rendezvous(host, "boss"), rendezvous(host, "w2")
    slots = open_slots(host, boss, 2)
    first = call(host, boss, "first")
    assert_suspended_on(host, boss, slots)
    fill(host, worker, slots[which], "go")
    assert ok(host, first) == f'"slot {which + 1}: w2: go"'
    # The other promise is still open, and nothing waits on it any more.
    other = slots[1 - which]
    assert not host.store.get_promise(other).completed
    assert host.store.get_agent(boss).status == "idle"
    assert waits(host, boss) == [([2], [which])]


# -- a promise raced against a durable timer --------------------------------------------------
def test_timeout_race_timer_first_survives_a_host_restart(data_dir: Path) -> None:
    host = HostService(data_dir)
    boss, worker = rendezvous(host, "boss"), rendezvous(host, "w1")
    a, b = open_slots(host, boss, 2)
    racing = call(host, boss, "gather_within(2.0)")
    assert_suspended_on(host, boss, [a, b])
    wake = host.store.get_agent(boss).wake_at_ns
    assert wake is not None and 0 < wake - steady_ns() <= 2.0e9  # a host timer
    fill(host, worker, a, "A")  # one of two in time
    assert_suspended_on(host, boss, [b])
    assert host.store.get_agent(boss).wake_at_ns == wake  # the same deadline, rebuilt
    host.close()  # "crash": nothing of the agent lives in this process any more

    time.sleep(max(0.0, (wake - steady_ns()) / 1e9) + 0.05)
    restarted = HostService(data_dir)
    try:
        assert restarted.run_due() == [boss]  # the due timer wakes it
        assert "timed out after 2 s: 1 of 2 slots filled" in error(restarted, racing)
        assert restarted.store.get_agent(boss).wake_at_ns is None
        assert not restarted.store.get_promise(b).completed
        assert promises_created(restarted, boss) == 2
    finally:
        restarted.close()


def test_timeout_race_promise_first(host: HostService) -> None:
    boss, worker = rendezvous(host, "boss"), rendezvous(host, "w1")
    (slot,) = open_slots(host, boss, 1)
    racing = call(host, boss, "gather_within(60.0)")
    assert_suspended_on(host, boss, [slot])
    wake = host.store.get_agent(boss).wake_at_ns
    assert wake is not None and wake - steady_ns() > 50e9
    fill(host, worker, slot, "fast")
    assert ok(host, racing) == '["w1: fast"]'
    record = host.store.get_agent(boss)
    assert record.status == "idle" and record.wake_at_ns is None  # the timer was dropped
    assert waits(host, boss) == [([2], [0])]  # one poll: the promise and the timer


# -- JSON helpers: a bad payload is the agent's error, not a trap -----------------------------
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON (Expecting value"),
        (b'{"by": 1, "value": "x"}', "at $.by: expected a string, got a number 1"),
        (b'{"by": "x"}', "missing field 'value' of Report"),
        (b'"just a string"', "expected an object (Report), got a string"),
    ],
)
def test_a_payload_that_does_not_decode_is_a_clear_agent_error(
    host: HostService, payload: bytes, reason: str
) -> None:
    boss = rendezvous(host, "boss")
    (slot,) = open_slots(host, boss, 1)
    gathering = call(host, boss, "gather")
    assert host.complete_promise(slot, payload)  # an outsider, through the host API
    message = error(host, gathering)
    assert f"the payload of promise {slot} is not a valid Report: " in message
    assert reason in message
    assert host.store.get_agent(boss).status == "idle"  # an agent error, not a failure


def test_filling_a_filled_slot_is_false_and_the_first_payload_stays(host: HostService) -> None:
    boss, other = rendezvous(host, "boss"), rendezvous(host, "other")
    (slot,) = open_slots(host, boss, 1)
    # `other` has no slots of its own; fill() completes, it never awaits: fine.
    fill(host, other, slot, "v")
    assert ok(host, call(host, other, f'fill({json.dumps(str(slot))}, "again")')) == "false"
    assert ok(host, call(host, boss, "gather")) == '["other: v"]'
