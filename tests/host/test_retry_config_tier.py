"""Golem 1.5's agent-config tier of named retry policies with a real guest: the
componentize-py fixture tests/fixtures/py/retry_config declares a config key of type
golem:api/retry@1.5.0 ``named-retry-policy``; the policy given at creation decides the
agent's traps, overlaid in Golem's order (default < agent config < host-wide < the
agent's own set/remove)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host.ids import AgentId
from host.oplog import InvocationFailed
from host.service import HostService
from tests.fixtures.build import build_python_fixture
from tests.server_util import clone_store

pytestmark = pytest.mark.slow  # builds (first time) and compiles an 18 MB guest


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("config-tier") / "store"
    setup = HostService(store)
    try:
        setup.add_component(build_python_fixture("retry_config"), name="rc")
    finally:
        setup.close()
    return store


@pytest.fixture
def host(template: Path, tmp_path: Path) -> Iterator[HostService]:
    service = HostService(clone_store(template, tmp_path / "store"))
    try:
        yield service
    finally:
        service.close()


def _policy(name: str, priority: int, policy: str) -> str:
    return (
        f'retry={{name: "{name}", priority: {priority}, '
        f"predicate: {{nodes: [pred-true]}}, policy: {{nodes: [{policy}]}}}}"
    )


def _create(host: HostService, name: str, *config: str) -> AgentId:
    host.create_new_agent("rc", f'RetryAgent("{name}")', config=list(config))
    return host.agent_id("rc", f'RetryAgent("{name}")')


def _boom(host: HostService, agent: AgentId) -> str:
    return host.submit(host.agent_call_from_wave(agent, "boom")).state


def test_a_never_policy_in_the_config_fails_a_trap_at_once(host: HostService) -> None:
    agent = _create(host, "never", _policy("from-config", 10, "never"))
    assert _boom(host, agent) == "failed"
    record = host.store.get_agent(agent)
    assert record.status == "failed" and record.retry_count == 0


def test_without_a_config_policy_the_trap_is_retried(host: HostService) -> None:
    agent = _create(host, "plain")
    assert _boom(host, agent) != "failed"
    assert host.store.get_agent(agent).status == "retrying"


def test_the_config_policy_is_counted_and_host_wide_ones_win_by_name(host: HostService) -> None:
    one_retry = "count-box({max-retries: 1, inner: 1}), immediate"
    counted = _create(host, "counted", _policy("mine", 10, one_retry))
    assert _boom(host, counted) == "failed"  # retried once at once (immediate), then failed
    failures = [e for e in host.store.read_oplog(counted) if isinstance(e, InvocationFailed)]
    assert [f.retry_state for f in failures] == [["count-box", 1, ["counter", 1]], None]
    host.set_retry_policy(
        {"name": "mine", "priority": 10, "predicate": ["pred-true"], "policy": ["never"]}
    )
    overridden = _create(host, "overridden", _policy("mine", 10, one_retry))
    assert _boom(host, overridden) == "failed"
    failures = [e for e in host.store.read_oplog(overridden) if isinstance(e, InvocationFailed)]
    assert len(failures) == 1  # the host-wide "mine" (never) replaced the config's
