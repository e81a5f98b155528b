"""Replay determinism, divergence detection, durable timers and the suspension race
(spec rule 4), with the durable-1.3.0 WAT fixture and real store files, on an in-process
Host; its SIGKILL crashes are in tests/crash/test_sigkill.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from host.clock import steady_ns
from host.errors import PromiseNotFound
from host.ids import AgentId, PromiseId
from host.oplog import HostCall, InvocationStarted, PromiseCreated, Suspended
from host.service import HostService
from host.store import open_store
from tests.fixtures.build import build_fixture


@pytest.fixture
def host(tmp_path: Path):
    h = HostService(tmp_path / "store")
    yield h
    h.close()


def _agent(host: HostService, fixture: str = "durable-1.3.0", name: str = "alice") -> AgentId:
    host.add_component(build_fixture(fixture), name="durable")
    agent, created = host.create_agent("durable", name)
    assert created
    return agent


def _host_calls(host: HostService, agent: AgentId) -> list[HostCall]:
    return [e for e in host.store.read_oplog(agent) if isinstance(e, HostCall)]


def test_values_seen_before_suspending_are_replayed_identically(host: HostService) -> None:
    agent = _agent(host)
    inv = host.invoke(agent, "observe-and-await()")
    assert inv.state == "started"
    assert host.store.get_agent(agent).status == "suspended"
    calls = _host_calls(host, agent)
    random = next(c for c in calls if c.function.endswith("get-random-u64"))
    clock = next(c for c in calls if c.function.endswith("wall-clock@0.2.3.now"))
    (idx,) = host.store.get_agent(agent).waiting_promises

    time.sleep(0.01)  # a live re-read of the clock would now differ
    assert host.complete_promise(PromiseId(agent, idx), b"ok") is True
    done = host.store.get_invocation(inv.invocation_id)
    assert done.state == "done"
    t = clock.response["seconds"] * 10**9 + clock.response["nanoseconds"]
    assert done.result == f"({random.response}, {t}, [111, 107])"
    # Replay answered from the log: neither call was made a second time.
    after = _host_calls(host, agent)
    assert sum(c.function.endswith("get-random-u64") for c in after) == 1
    assert sum(c.function.endswith("wall-clock@0.2.3.now") for c in after) == 1


def test_changed_component_is_rejected_with_divergence(host: HostService) -> None:
    agent = _agent(host)
    inv = host.invoke(agent, "observe-and-await()")
    (idx,) = host.store.get_agent(agent).waiting_promises
    # The agent's code is swapped under it, not through an update (which would try the
    # new version first, test_fork_update.py): it reads the clock before the random number.
    new = host.add_component(build_fixture("durable-diverged-1.3.0"), name="durable")
    host.store.set_component_hash(agent, new.hash)
    host.complete_promise(PromiseId(agent, idx), b"ok")

    record = host.store.get_agent(agent)
    assert record.status == "failed"
    error = record.last_error or ""
    assert "diverged" in error and str(agent) in error
    assert "get-random-u64" in error and "wall-clock@0.2.3.now" in error
    assert host.store.get_invocation(inv.invocation_id).state != "done"
    # Nothing was appended for the diverged run: the oplog still ends with the suspension.
    assert isinstance(host.store.read_oplog(agent)[-1], Suspended)


def test_completion_in_the_race_window_does_not_suspend(host: HostService, tmp_path: Path) -> None:
    agent = _agent(host)
    other = open_store(tmp_path / "store")  # another process's view

    def complete_now(who: AgentId) -> None:
        # The guest found its promise not completed; complete it before the suspension commits.
        (pending,) = other.list_promises(who)
        assert other.complete_promise(pending.id, b"raced") is True

    host.executor.before_suspend = complete_now
    inv = host.invoke(agent, "observe-and-await()")
    host.executor.before_suspend = None
    assert inv.state == "done"
    assert inv.result is not None and inv.result.endswith("[114, 97, 99, 101, 100])")
    assert not any(isinstance(e, Suspended) for e in host.store.read_oplog(agent))
    assert host.store.get_agent(agent).status == "idle"
    other.close()


def test_long_sleep_is_a_durable_timer_that_survives_a_restart(tmp_path: Path) -> None:
    first = HostService(tmp_path / "store")
    agent = _agent(first)
    inv = first.invoke(agent, "sleep(1500000000)")  # 1.5 s: longer than an in-place wait
    record = first.store.get_agent(agent)
    assert inv.state == "started" and record.status == "suspended"
    assert record.wake_at_ns is not None and record.waiting_promises == ()
    assert first.run_due() == []  # not due yet
    first.close()

    time.sleep(max(0.0, (record.wake_at_ns - steady_ns()) / 1e9) + 0.05)
    second = HostService(tmp_path / "store")  # a restarted host
    assert agent in second.run_due()
    assert second.store.get_invocation(inv.invocation_id).state == "done"
    assert second.store.get_agent(agent).status == "idle"
    second.close()


def test_timer_and_promise_in_one_poll(host: HostService) -> None:
    agent = _agent(host)
    idx = int(host.invoke(agent, "create()").result or "0")
    # The timer wins when the promise is not completed.
    assert host.invoke(agent, f"race({idx}, 1000000)").result == "none"
    # The promise wins once completed, and the timer pollable does not matter.
    host.complete_promise(PromiseId(agent, idx), b"x")
    assert host.invoke(agent, f"race({idx}, 60000000000)").result == "some([120])"


def test_race_suspends_until_the_promise_when_the_timer_is_far(host: HostService) -> None:
    agent = _agent(host)
    idx = int(host.invoke(agent, "create()").result or "0")
    inv = host.invoke(agent, f"race({idx}, 3600000000000)")  # an hour
    record = host.store.get_agent(agent)
    assert inv.state == "started" and record.status == "suspended"
    assert record.waiting_promises == (idx,) and record.wake_at_ns is not None
    host.complete_promise(PromiseId(agent, idx), b"y")
    assert host.store.get_invocation(inv.invocation_id).result == "some([121])"


def test_invocations_queue_while_suspended_and_run_in_order(host: HostService) -> None:
    agent = _agent(host)
    waiting = host.invoke(agent, "observe-and-await()")
    assert waiting.state == "started"
    (idx,) = host.store.get_agent(agent).waiting_promises
    # Arrives while the agent is suspended: queued durably, not run.
    queued = host.invoke(agent, "create()")
    assert queued.state == "queued"
    assert host.store.get_agent(agent).status == "suspended"
    host.complete_promise(PromiseId(agent, idx), b"z")
    assert host.store.get_invocation(waiting.invocation_id).state == "done"
    later = host.store.get_invocation(queued.invocation_id)
    assert later.state == "done"
    starts = [e for e in host.store.read_oplog(agent) if isinstance(e, InvocationStarted)]
    assert [e.invocation_id for e in starts] == [waiting.invocation_id, queued.invocation_id]
    created = [
        i + 1 for i, e in enumerate(host.store.read_oplog(agent)) if isinstance(e, PromiseCreated)
    ]
    assert int(later.result or "0") == created[-1] and created[-1] > idx


def test_unknown_promise_completion_is_not_found(host: HostService) -> None:
    agent = _agent(host)
    with pytest.raises(PromiseNotFound):
        host.complete_promise(PromiseId(agent, 99), b"")
