"""The guest's monotonic clock never goes backwards, and a wall-clock step neither
stretches nor cuts a sleep (issue "Nothing lost, nobody let in, part 2", F13).

The wall clock is stepped by shifting ``time.time_ns`` for the whole process, which is
what a step looks like to it; everything else (host, store, replay, guest) is real."""

from __future__ import annotations

import time

import pytest

from host.service import HostService
from tests.fixtures.build import build_fixture

STEP_NS = 120 * 10**9


def _step_wall_clock(monkeypatch: pytest.MonkeyPatch, step_ns: int = -STEP_NS) -> None:
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() + step_ns)


def test_now_never_goes_back_across_a_replay_after_a_wall_clock_step(
    host: HostService, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = host.add_component(build_fixture("clock-0.2.3"))
    agent, _ = host.create_agent(record.id, "steady")
    first = int(host.invoke(agent, "now()").result or "")
    _step_wall_clock(monkeypatch)
    host.executor.forget_instance(agent)  # the next invocation replays the first
    second = int(host.invoke(agent, "now()").result or "")
    assert second >= first
    time.sleep(0.05)
    third = int(host.invoke(agent, "now()").result or "")  # and the clock moves on
    assert third > second


def test_a_backward_step_does_not_stretch_a_short_sleep(
    host: HostService, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = host.add_component(build_fixture("clock-0.2.3"))
    agent, _ = host.create_agent(record.id, "sleeper")
    host.invoke(agent, "now()")
    _step_wall_clock(monkeypatch)
    host.executor.forget_instance(agent)
    started = time.monotonic()
    inv = host.invoke(agent, "sleep(100000000)")  # 0.1 s
    assert inv.state == "done", host.store.get_agent(agent)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("step_s", [-60, 3600])
def test_a_wall_clock_step_neither_stretches_nor_cuts_a_durable_sleep(
    host: HostService, monkeypatch: pytest.MonkeyPatch, step_s: int
) -> None:
    """A 2 s sleep suspends the agent with a durable wake-up; the wall clock then steps.
    Before the fix a -60 s step made it sleep 62 s and +1 h ended it at once."""
    record = host.add_component(build_fixture("clock-0.2.3"))
    agent, _ = host.create_agent(record.id, "napper")
    inv = host.invoke(agent, "sleep(2000000000)")
    assert inv.state == "started" and host.store.get_agent(agent).status == "suspended"
    _step_wall_clock(monkeypatch, step_s * 10**9)
    assert host.run_due() == []  # not due yet, whichever way the clock stepped
    time.sleep(2.2)
    assert host.run_due() == [agent]
    assert host.store.get_invocation(inv.invocation_id).state == "done"
