"""Retry policy (issue "Golem's whole host API, with Golem's semantics", item 2): a guest
trap is retried automatically with the agent's retry policy (Golem's default, or what the
guest set with set-retry-policy); in between the agent is `retrying` with a durable wake-up
time; once the attempts are used up it is `failed`, and a call to a failed agent fails at
once with the error, which ends with the tail of what the guest wrote to stderr."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from host.errors import AgentFailed
from host.ids import AgentId
from host.oplog import InvocationFailed, Retried
from host.runtime.failures import DEFAULT_RETRY_POLICY, retry_delay_ns
from host.server.shapes import metadata
from host.service import HostService
from host.store import AgentRecord
from host.store.check import check_store
from host.values import Some
from tests.fixtures.build import build_fixture

MS = 1_000_000


@pytest.fixture
def flaky(host: HostService) -> HostService:
    host.add_component(build_fixture("flaky"), name="flaky")
    return host


def _settle(host: HostService, agent: AgentId, timeout: float = 15.0) -> list[AgentRecord]:
    """Run due work until the agent is no longer retrying; every record seen on the way."""
    seen = [host.store.get_agent(agent)]
    deadline = time.monotonic() + timeout
    while seen[-1].status == "retrying":
        assert time.monotonic() < deadline, seen[-1]
        time.sleep(0.01)
        host.run_due()
        record = host.store.get_agent(agent)
        if record != seen[-1]:
            seen.append(record)
    return seen


def _set_policy(host: HostService, agent: AgentId, attempts: int, min_ms: int, mul: float) -> None:
    inv = host.invoke(agent, f"set-policy({attempts}, {min_ms * MS}, {10_000 * MS}, {mul})")
    assert inv.state == "done", inv


def test_the_delay_follows_golems_formula() -> None:
    rng = random.Random(1)
    for attempt, base in ((1, 100), (2, 300), (3, 900)):
        for _ in range(50):
            delay = retry_delay_ns(None, attempt, rng)
            assert delay is not None
            assert base * MS <= delay <= min(1000, base) * MS * 1.15 + 1
    assert retry_delay_ns(None, 4) is None  # max-attempts 3: the fourth retry is not made
    assert retry_delay_ns(DEFAULT_RETRY_POLICY, 4) is None
    no_jitter: dict[str, object] = {"max-attempts": 5, "min-delay": 10 * MS}
    no_jitter |= {"max-delay": 50 * MS, "multiplier": 2.0, "max-jitter-factor": None}
    assert [retry_delay_ns(no_jitter, a) for a in range(1, 7)] == [
        10 * MS,
        20 * MS,
        40 * MS,
        50 * MS,  # capped at max-delay
        50 * MS,
        None,
    ]
    assert retry_delay_ns({"max-attempts": 0}, 1) is None
    jitter = {**no_jitter, "max-jitter-factor": Some(1.0)}
    assert 10 * MS <= (retry_delay_ns(jitter, 1) or 0) <= 20 * MS


def test_a_trap_is_retried_with_the_default_policy_then_fails(flaky: HostService) -> None:
    host = flaky
    agent, _ = host.create_agent("flaky", "default")
    started = time.monotonic()
    inv = host.invoke(agent, "boom()")
    # The first attempt failed; the invocation waits for its retry.
    assert inv.state == "started", inv
    first = host.store.get_agent(agent)
    assert first.status == "retrying" and first.retry_count == 1
    assert first.wake_at_ns is not None
    assert "the guest trapped" in (first.last_error or "")
    assert metadata(host.agent(agent))["status"] == "Retrying"
    assert metadata(host.agent(agent))["retryCount"] == 1
    assert check_store(host.store) == []

    seen = _settle(host, agent)
    elapsed = time.monotonic() - started
    final = seen[-1]
    assert final.status == "failed" and final.retry_count == 3
    counts = [r.retry_count for r in seen if r.status == "retrying"]
    assert sorted(set(counts)) == [1, 2, 3], seen
    # 100 ms, 300 ms and 900 ms at least (jitter only lengthens them).
    assert 1.3 <= elapsed < 10, elapsed
    record = host.store.get_invocation(inv.invocation_id)
    assert record.state == "failed" and "the guest trapped" in (record.error or "")
    entries = host.store.read_oplog(agent)
    failed = [e for e in entries if isinstance(e, InvocationFailed)]
    retried = [e for e in entries if isinstance(e, Retried)]
    assert len(failed) == 4 and len(retried) == 3  # four attempts, three retries
    assert {e.invocation_id for e in failed + retried} == {inv.invocation_id}
    assert isinstance(entries[-1], InvocationFailed)
    view = metadata(host.agent(agent))
    assert view["status"] == "Failed" and view["retryCount"] == 3
    assert check_store(host.store) == []


def test_the_guests_retry_policy_takes_effect_for_later_failures(flaky: HostService) -> None:
    host = flaky
    agent, _ = host.create_agent("flaky", "custom")
    _set_policy(host, agent, attempts=2, min_ms=20, mul=1.0)
    started = time.monotonic()
    host.invoke(agent, "boom()")
    seen = _settle(host, agent)
    # Two retries (the replay rebuilt the policy from the oplog each time), 20 ms apart.
    assert seen[-1].status == "failed" and seen[-1].retry_count == 2
    assert 0.04 <= time.monotonic() - started < 5
    assert sum(isinstance(e, Retried) for e in host.store.read_oplog(agent)) == 2

    other, _ = host.create_agent("flaky", "no-retries")
    _set_policy(host, other, attempts=0, min_ms=20, mul=1.0)
    inv = host.invoke(other, "boom()")
    assert inv.state == "failed"  # at once, without retrying
    assert host.store.get_agent(other).retry_count == 0


def test_a_manual_retry_starts_the_count_afresh(flaky: HostService) -> None:
    host = flaky
    agent, _ = host.create_agent("flaky", "reset")
    _set_policy(host, agent, attempts=1, min_ms=10, mul=1.0)
    host.invoke(agent, "boom()")
    assert host.store.get_agent(agent).retry_count == 1
    assert _settle(host, agent)[-1].status == "failed"
    host.resume(agent)  # a manual retry starts the count afresh; boom traps again
    assert host.store.get_agent(agent).retry_count == 1
    assert _settle(host, agent)[-1].status == "failed"
    # Failed again: a failed agent runs nothing new.
    with pytest.raises(AgentFailed):
        host.invoke(agent, "ok()")


def test_a_call_to_a_failed_agent_fails_at_once_with_the_error(flaky: HostService) -> None:
    host = flaky
    agent, _ = host.create_agent("flaky", "broken")
    _set_policy(host, agent, attempts=0, min_ms=10, mul=1.0)
    assert host.invoke(agent, "boom()").state == "failed"
    queued = len(host.store.list_invocations(agent))
    with pytest.raises(AgentFailed) as raised:
        host.invoke(agent, "ok()")
    assert "the guest trapped" in str(raised.value)
    assert raised.value.error == host.store.get_agent(agent).last_error
    assert len(host.store.list_invocations(agent)) == queued  # nothing was queued
    # `agent resume` still retries the failed invocation (which traps again).
    view = host.resume(agent)
    assert view.record.status == "failed"
    assert sum(isinstance(e, Retried) for e in host.store.read_oplog(agent)) == 1


def test_failure_messages_end_with_the_stderr_tail(flaky: HostService) -> None:
    host = flaky
    agent, _ = host.create_agent("flaky", "loud")
    _set_policy(host, agent, attempts=0, min_ms=10, mul=1.0)
    inv = host.invoke(agent, "shout-and-boom()")
    assert inv.state == "failed"
    assert (inv.error or "").startswith("the guest trapped")
    assert (inv.error or "").endswith("stderr:\nflaky: about to fail"), inv.error
    with pytest.raises(AgentFailed) as raised:
        host.invoke(agent, "ok()")
    assert str(raised.value).count("flaky: about to fail") == 1

    # Retried attempts replay the write instead of repeating it: the tail carries over.
    retried, _ = host.create_agent("flaky", "loud-again")
    _set_policy(host, retried, attempts=2, min_ms=10, mul=1.0)
    host.invoke(retried, "shout-and-boom()")
    final = _settle(host, retried)[-1]
    assert final.status == "failed"
    assert (final.last_error or "").endswith("stderr:\nflaky: about to fail"), final.last_error


def test_limits_are_not_retried(tmp_path: Path) -> None:
    from host.limits import Limits

    host = HostService(tmp_path / "store", limits=Limits(deadline_s=0.5))
    try:
        host.add_component(build_fixture("hostile"), name="hostile")
        agent, _ = host.create_agent("hostile", "spinner")
        inv = host.invoke(agent, "spin()")
        assert inv.state == "failed" and "deadline_s" in (inv.error or "")
        assert host.store.get_agent(agent).retry_count == 0
    finally:
        host.close()


def test_a_retrying_agent_survives_a_restart(tmp_path: Path) -> None:
    host = HostService(tmp_path / "store")
    host.add_component(build_fixture("flaky"), name="flaky")
    agent, _ = host.create_agent("flaky", "durable")
    _set_policy(host, agent, attempts=1, min_ms=50, mul=1.0)
    host.invoke(agent, "boom()")
    assert host.store.get_agent(agent).status == "retrying"
    host.close()
    again = HostService(tmp_path / "store")
    try:
        record = again.store.get_agent(agent)
        assert record.status == "retrying" and record.retry_count == 1
        assert _settle(again, agent)[-1].status == "failed"
        assert again.store.get_agent(agent).retry_count == 1
    finally:
        again.close()


def test_agent_show_json_reports_the_retry_count(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from host.cli import main

    store = tmp_path / "store"
    host = HostService(store)
    host.add_component(build_fixture("flaky"), name="flaky")
    agent, _ = host.create_agent("flaky", "shown")
    _set_policy(host, agent, attempts=1, min_ms=60_000, mul=1.0)  # a minute away
    host.invoke(agent, "boom()")
    host.close()
    result = CliRunner().invoke(
        main, ["agent", "show", "flaky", "shown", "--json"], env={"AGENT_HOST_STORE": str(store)}
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "retrying" and data["retry_count"] == 1
    assert "the guest trapped" in data["last_error"]


def test_a_host_wide_named_policy_decides_unless_the_guest_chose_its_own(
    flaky: HostService,
) -> None:
    """A host-wide named policy (Golem's environment-level) decides the trap of an agent
    that kept the default; one that chose its policy with golem:api/host's
    set-retry-policy keeps it (the agent's own choice wins over the environment's)."""
    host = flaky
    host.set_retry_policy(
        {"name": "host-never", "priority": 10, "predicate": ["pred-true"], "policy": ["never"]}
    )
    plain, _ = host.create_agent("flaky", "plain")
    assert host.invoke(plain, "boom()").state == "failed"
    assert host.store.get_agent(plain).retry_count == 0

    own, _ = host.create_agent("flaky", "own")
    _set_policy(host, own, attempts=1, min_ms=20, mul=1.0)
    host.invoke(own, "boom()")
    seen = _settle(host, own)
    assert seen[-1].status == "failed" and seen[-1].retry_count == 1
