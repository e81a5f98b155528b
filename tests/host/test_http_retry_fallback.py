"""Where in-function retries of a transient outgoing HTTP failure stop (Golem 1.5's
durability.rs, AsyncRetryDecision): a step longer than the max in-function delay and a
failure inside an atomic region fall back to a trap (the worker-level retry re-executes
live); an interrupt or a shutdown wakes the sleep between retries at once. The real
componentize-py http_client guest against a loopback server that drops connections."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from host.clock import steady_ns
from host.ids import AgentId
from host.oplog import InFunctionRetry, InvocationFailed
from host.service import HostService
from tests.host import test_http_inline_retry as inline
from tests.host.test_http_inline_retry import DroppingServer, _count_box, _fetch, _tail
from tests.server_util import wait_until

# The loopback server and the store with the guest registered, as the inline tests have them.
template, data_dir, web = inline.template, inline.data_dir, inline.web

pytestmark = pytest.mark.slow  # compiles the componentize-py http_client guest


def _periodic(seconds: float, retries: int = 3) -> dict[str, Any]:
    policy = ["count-box", retries, ["periodic", int(seconds * 1e9)]]
    return {**_count_box(retries), "policy": policy}


def _finish(host: HostService, agent: AgentId, invocation_id: str) -> dict[str, Any]:
    """Run the agent's due retries until the invocation ends; its result."""

    def ended() -> bool:
        host.run_due()
        return host.store.get_invocation(invocation_id).state in ("done", "failed")

    wait_until(ended, timeout=60)
    done = host.store.get_invocation(invocation_id)
    assert done.state == "done", done.error
    return dict(json.loads(json.loads(done.result or "null")))


def _failures(host: HostService, agent: AgentId) -> list[InvocationFailed]:
    return [e for e in host.store.read_oplog(agent) if isinstance(e, InvocationFailed)]


def test_a_delay_above_the_max_falls_back_to_a_trap_retried_live(
    data_dir: Path, web: DroppingServer
) -> None:
    """Golem: delay > max_in_function_retry_delay is FallBackToTrap, and try_trigger_retry
    traps when the policy retries; the worker-level retry sends the request again."""
    host = HostService(data_dir, max_in_function_retry_delay_s=0.2)
    try:
        host.set_retry_policy(_periodic(1.0))
        agent, _ = host.create_agent("http", "long-delay")
        web.drops = 1
        inv = host.invoke(agent, f'fetch-under("GET", {json.dumps(web.url)}, true, false)')
        assert inv.state != "done"  # not answered with the error: the agent retries
        retrying = host.store.get_agent(agent)
        assert retrying.status == "retrying" and retrying.retry_count == 1
        (failed,) = _failures(host, agent)
        assert "transient error" in failed.error and "future-incoming-response.get" in failed.error
        got = _finish(host, agent, inv.invocation_id)
        assert got["status"] == 200 and got["body"] == "served 2"
        assert web.seen == 2
        assert not [e for e in _tail(host, agent) if isinstance(e, InFunctionRetry)]
    finally:
        host.close()


def test_a_delay_within_the_max_is_still_retried_in_the_call(
    data_dir: Path, web: DroppingServer
) -> None:
    """The same policy under the default 20 s max retries in the call, no trap."""
    host = HostService(data_dir)
    try:
        host.set_retry_policy(_periodic(0.3))
        agent, _ = host.create_agent("http", "short-delay")
        web.drops = 1
        got = _fetch(host, agent, "GET", web.url)
        assert got["status"] == 200 and web.seen == 2
        assert not _failures(host, agent)
        assert len([e for e in _tail(host, agent) if isinstance(e, InFunctionRetry)]) == 1
    finally:
        host.close()


def test_a_failure_in_an_atomic_region_traps_and_the_region_runs_again(
    data_dir: Path, web: DroppingServer
) -> None:
    host = HostService(data_dir)
    try:
        host.set_retry_policy(_count_box(3))
        agent, _ = host.create_agent("http", "region")
        web.drops = 1
        inv = host.invoke(agent, f'fetch-in-region("GET", {json.dumps(web.url)})')
        assert inv.state != "done"
        assert len(_failures(host, agent)) == 1
        got = _finish(host, agent, inv.invocation_id)
        assert got["status"] == 200 and web.seen == 2
        assert not [e for e in _tail(host, agent) if isinstance(e, InFunctionRetry)]
    finally:
        host.close()


def test_a_policy_that_gives_up_in_a_region_gives_the_error_to_the_guest(
    data_dir: Path, web: DroppingServer
) -> None:
    """try_trigger_retry's GiveUp: the failure is the guest's, nothing traps."""
    host = HostService(data_dir)
    try:
        never = {**_count_box(0, priority=100), "name": "never", "policy": ["never"]}
        host.set_retry_policy(never)
        agent, _ = host.create_agent("http", "region-never")
        web.drops = 1
        inv = host.invoke(agent, f'fetch-in-region("GET", {json.dumps(web.url)})')
        assert inv.state == "done", inv.error
        assert "error" in json.loads(json.loads(inv.result or "null"))
        assert web.seen == 1 and not _failures(host, agent)
    finally:
        host.close()


def test_an_interrupt_wakes_the_retry_sleep_and_resume_steps_on(
    data_dir: Path, web: DroppingServer
) -> None:
    host = HostService(data_dir, max_in_function_retry_delay_s=60)
    try:
        host.set_retry_policy(_periodic(30.0))
        agent, _ = host.create_agent("http", "interrupted")
        web.drops = 1
        call = f'fetch-under("GET", {json.dumps(web.url)}, true, false)'
        thread = threading.Thread(target=lambda: host.invoke(agent, call), daemon=True)
        thread.start()
        wait_until(
            lambda: any(isinstance(e, InFunctionRetry) for e in host.store.read_oplog(agent)),
            timeout=60,
        )
        began = steady_ns()
        view = host.interrupt(agent)
        thread.join(10)
        took = (steady_ns() - began) / 1e9
        assert view.status == "interrupted" and not thread.is_alive()
        assert took < 2.0, took  # not the 30 s sleep
        (inv,) = host.store.list_invocations(agent)
        assert inv.state == "started"  # a resume continues it
        host.resume(agent)
        got = _finish(host, agent, inv.invocation_id)
        assert got["status"] == 200 and web.seen == 2
        retries = [e for e in _tail(host, agent) if isinstance(e, InFunctionRetry)]
        assert [e.retry_state for e in retries] == [["count-box", 1, ["counter", 1]]]
        assert len(set(web.keys)) == 1
    finally:
        host.close()


def test_a_shutdown_wakes_the_retry_sleep_and_the_next_start_steps_on(
    data_dir: Path, web: DroppingServer
) -> None:
    first = HostService(data_dir, max_in_function_retry_delay_s=60)
    first.set_retry_policy(_periodic(30.0))
    agent, _ = first.create_agent("http", "shut-down")
    web.drops = 100
    call = f'fetch-under("GET", {json.dumps(web.url)}, true, false)'
    thread = threading.Thread(target=lambda: first.invoke(agent, call), daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: any(isinstance(e, InFunctionRetry) for e in first.store.read_oplog(agent)),
            timeout=60,
        )
        began = steady_ns()
        first.executor.stop_running()
        thread.join(10)
        assert not thread.is_alive() and (steady_ns() - began) / 1e9 < 2.0
        assert first.store.get_agent(agent).status == "running"  # nothing failed
    finally:
        first.close()
    web.drops = 0
    second = HostService(data_dir)
    try:
        (inv,) = second.store.list_invocations(agent)
        got = _finish(second, agent, inv.invocation_id)
        assert got["status"] == 200 and web.seen == 2
        retries = [e for e in _tail(second, agent) if isinstance(e, InFunctionRetry)]
        assert len(retries) == 1 and not _failures(second, agent)
    finally:
        second.close()
