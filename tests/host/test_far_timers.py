"""A timer too far away for the store must not wedge its agent (issue "Nothing lost,
nobody let in, part 2", F5): sleep(2^64-1) and a wait for the instant 2^64-1 suspend the
agent with a far but representable wake-up, and it can be interrupted and deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.service import HostService
from tests.fixtures.build import build_fixture

MAX_U64 = 2**64 - 1


@pytest.mark.parametrize("call", [f"sleep({MAX_U64})", f"wait-instant({MAX_U64})"])
def test_a_timer_at_the_end_of_time_suspends_and_the_agent_stays_manageable(
    data_dir: Path, call: str
) -> None:
    host = HostService(data_dir)
    try:
        record = host.add_component(build_fixture("clock-0.2.3"))
        agent, _ = host.create_agent(record.id, "forever")
        inv = host.invoke(agent, call)
        assert inv.state == "started"
        state = host.store.get_agent(agent)
        assert state.status == "suspended"
        assert state.wake_at_ns is not None and state.wake_at_ns >= 2**62  # year 2116+
        assert host.check().problems == ()
    finally:
        host.close()
    host = HostService(data_dir)  # a restart does not wake it either
    try:
        assert host.run_due() == []
        assert host.store.get_agent(agent).status == "suspended"
        assert host.interrupt(agent).record.status == "interrupted"
        host.delete_agent(agent)
        assert [a.agent for a in host.store.list_agents()] == []
    finally:
        host.close()
