"""The guest's monotonic clock never goes backwards, and a wall-clock step neither
stretches nor cuts a sleep (issue "Nothing lost, nobody let in, part 2", F13).

The wall clock is stepped by shifting ``time.time_ns`` as the runtime's clock module
sees it; everything else (host, store, replay, guest) is real."""

from __future__ import annotations

import time
import types

import pytest

from host.runtime import pollables
from host.service import HostService
from tests.fixtures.build import build_fixture

STEP_NS = 120 * 10**9


def _step_wall_clock_back(monkeypatch: pytest.MonkeyPatch) -> None:
    real = time.time_ns
    shifted = types.SimpleNamespace(
        time_ns=lambda: real() - STEP_NS, monotonic_ns=time.monotonic_ns, sleep=time.sleep
    )
    monkeypatch.setattr(pollables, "time", shifted)


def test_now_never_goes_back_across_a_replay_after_a_wall_clock_step(
    host: HostService, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = host.add_component(build_fixture("clock-0.2.3"))
    agent, _ = host.create_agent(record.id, "steady")
    first = int(host.invoke(agent, "now()").result or "")
    _step_wall_clock_back(monkeypatch)
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
    _step_wall_clock_back(monkeypatch)
    host.executor.forget_instance(agent)
    started = time.monotonic()
    inv = host.invoke(agent, "sleep(100000000)")  # 0.1 s
    assert inv.state == "done", host.store.get_agent(agent)
    assert time.monotonic() - started < 5
