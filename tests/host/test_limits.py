"""Guest limits: a guest that loops forever, allocates without bound, traps, or exceeds its
fuel, payload or pending-promise limits ends `failed` with a clear error, in the oplog and
the API; the host and every other agent keep running; a failed agent can be retried."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from host.errors import Conflict, InvalidInput
from host.ids import AgentId, PromiseId
from host.limits import Limits
from host.oplog import InvocationFailed, Retried
from host.service import HostService
from tests.fixtures.build import build_fixture


@pytest.fixture
def host(tmp_path: Path):
    # Retries off: these tests check what a single failed attempt records (a trap after a
    # refused memory or table growth is a trap like any other, retried by default; see
    # tests/host/test_retry_policy.py).
    h = HostService(
        tmp_path / "store", limits=Limits(deadline_s=1.0), retry_policy={"max-attempts": 0}
    )
    h.add_component(build_fixture("hostile"), name="hostile")
    h.add_component(build_fixture("promises-1.3.0"), name="p")
    yield h
    h.close()


def _failed_with(host: HostService, agent: AgentId, call: str, *needles: str) -> str:
    inv = host.invoke(agent, call)
    assert inv.state == "failed", inv
    record = host.store.get_agent(agent)
    assert record.status == "failed"
    last = host.store.read_oplog(agent)[-1]
    assert isinstance(last, InvocationFailed) and last.error == inv.error == record.last_error
    for needle in needles:
        assert needle in (inv.error or ""), inv.error
    return inv.error or ""


def test_an_endless_loop_is_stopped_at_the_deadline(host: HostService) -> None:
    agent, _ = host.create_agent("hostile", "spinner")
    started = time.monotonic()
    _failed_with(host, agent, "spin()", "time limit of 1 s", "deadline_s")
    assert time.monotonic() - started < 10
    # The host and other agents keep running.
    other, _ = host.create_agent("hostile", "calm")
    assert host.invoke(other, "ok()").result == "42"


def test_unbounded_allocation_hits_the_memory_limit(host: HostService) -> None:
    agent, _ = host.create_agent("hostile", "eater")
    host.set_limits(str(agent), {"memory_bytes": 4 << 20})
    _failed_with(host, agent, "eat(16)", "trapped", "unreachable")


def test_table_growth_hits_the_table_limit(host: HostService) -> None:
    agent, _ = host.create_agent("hostile", "tabler")
    host.set_limits(str(agent), {"table_elements": 100})
    assert host.invoke(agent, "grow-table(10)").result == "11"
    _failed_with(host, agent, "grow-table(1000)", "trapped", "unreachable")


def test_a_trap_fails_the_agent_and_nothing_else(host: HostService) -> None:
    agent, _ = host.create_agent("hostile", "panicky")
    _failed_with(host, agent, "boom()", "the guest trapped")
    with pytest.raises(Conflict):
        host.store.resume(agent)  # interrupt/resume is not how a failure is retried
    other, _ = host.create_agent("hostile", "fine")
    assert host.invoke(other, "ok()").result == "42"


def test_fuel_bounds_work_and_a_retry_with_more_fuel_finishes(host: HostService) -> None:
    agent, _ = host.create_agent("hostile", "counter")
    host.set_limits(str(agent.component_id), {"fuel": 10_000})
    assert host.invoke(agent, "count(100)").result == "100"  # within the fuel
    inv = host.invoke(agent, "count(1000000)")
    assert inv.state == "failed" and "ran out of fuel" in (inv.error or "")
    assert "10000" in (inv.error or "")
    # Raise the agent's own limit (it wins over the component's) and retry.
    host.set_limits(str(agent), {"fuel": 100_000_000})
    assert host.retry(agent) == inv.invocation_id
    host.run_agent(agent)
    done = host.store.get_invocation(inv.invocation_id)
    assert done.state == "done" and done.result == "1000000"
    assert host.store.get_agent(agent).status == "idle"
    kinds = [type(e) for e in host.store.read_oplog(agent)]
    assert InvocationFailed in kinds and Retried in kinds
    # A later replay (a fresh host) passes over the retried failure.
    host.executor.forget_instance(agent)
    assert host.invoke(agent, "ok()").result == "42"


def test_retry_needs_a_failed_agent(host: HostService) -> None:
    agent, _ = host.create_agent("hostile", "healthy")
    host.invoke(agent, "ok()")
    with pytest.raises(Conflict):
        host.retry(agent)


def test_pending_promise_limit(host: HostService) -> None:
    agent, _ = host.create_agent("p", "hoarder")
    host.set_limits(str(agent), {"max_pending_promises": 2})
    assert host.invoke(agent, "create()").state == "done"
    assert host.invoke(agent, "create()").state == "done"
    _failed_with(host, agent, "create()", "2 pending promises", "max_pending_promises")


def test_payload_limit_from_outside_and_from_a_guest(host: HostService) -> None:
    agent, _ = host.create_agent("p", "small")
    host.set_limits(str(agent), {"max_payload_bytes": 64})
    idx = int(host.invoke(agent, "create()").result or "0")
    with pytest.raises(InvalidInput, match="max_payload_bytes"):
        host.complete_promise(PromiseId(agent, idx), b"x" * 65)
    assert host.store.get_promise(PromiseId(agent, idx)).completed is False
    assert host.complete_promise(PromiseId(agent, idx), b"x" * 64) is True
    idx2 = int(host.invoke(agent, "create()").result or "0")
    big = "[" + ", ".join(["7"] * 65) + "]"
    _failed_with(host, agent, f"complete({idx2}, {big})", "max_payload_bytes")


def test_limits_are_validated_and_layered(host: HostService) -> None:
    agent, _ = host.create_agent("p", "layers")
    with pytest.raises(InvalidInput, match="unknown limit"):
        host.set_limits(str(agent), {"speed": 1})
    with pytest.raises(InvalidInput, match="positive"):
        host.set_limits(str(agent), {"fuel": -5})
    host.set_limits(str(agent.component_id), {"fuel": 5000, "deadline_s": 3})
    host.set_limits(str(agent), {"fuel": 7000})
    effective = host.limits_for(agent)
    assert (effective.fuel, effective.deadline_s) == (7000, 3.0)
    other, _ = host.create_agent("p", "plain")
    assert host.limits_for(other).fuel == 5000
