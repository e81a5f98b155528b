"""Agent config (Golem 1.5 agent-config declarations, get-config-value) with the real
componentize-py guest tests/fixtures/py/rpc_pair: ``ConfigAgent`` declares ``greeting:
str``, ``limits.max: int`` and ``note: option<string>`` and reads them through
agent_sdk.get_config; ``CallerAgent.call_config`` creates one through wasm-rpc with the
constructor's agent-config.

Covered: values given at creation are checked against the declared types (InvalidInput
naming the key; nothing created) and stored in the creation entry; get-config-value
answers them, also after a restart (replay); an optional key without a value and an
undeclared key read as optional are none; an undeclared or missing required key fails
the call naming it; RPC creation with agent-config; an existing callee keeps its config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host.errors import InvalidInput
from host.oplog import AgentCreated
from host.service import HostService
from host.store import InvocationRecord
from tests.fixtures.build import build_python_fixture

pytestmark = pytest.mark.slow  # builds (first time) and compiles an 18 MB guest


@pytest.fixture(scope="module")
def wasm() -> Path:
    return build_python_fixture("rpc_pair")


@pytest.fixture
def host(tmp_path: Path, wasm: Path) -> Iterator[HostService]:
    service = HostService(tmp_path / "store")
    service.add_component(wasm, "pair")
    try:
        yield service
    finally:
        service.close()


def call(host: HostService, name: str, text: str) -> InvocationRecord:
    return host.submit(host.agent_call_from_wave(host.agent_id("pair", name), text))


def result(host: HostService, name: str, text: str) -> object:
    inv = call(host, name, text)
    assert inv.state == "done", f"{text}: {inv.state} {inv.error}"
    outcome = host.agent_result(inv)
    assert outcome is not None and outcome.error is None, outcome
    return outcome.json


def test_config_given_at_creation_is_checked_stored_and_read(
    host: HostService, tmp_path: Path
) -> None:
    name = 'ConfigAgent("a")'
    host.create_new_agent("pair", name, config=['greeting="hello"', "limits.max=7"])
    assert result(host, name, "greet") == "hello, a"
    assert result(host, name, "limit") == 7
    assert result(host, name, "note") == "none"
    assert result(host, name, "undeclared(true)") == "none"
    created = host.store.read_oplog(host.agent_id("pair", name))[0]
    assert isinstance(created, AgentCreated)
    assert created.config == ((("greeting",), '"hello"'), (("limits", "max"), "7"))

    failed = call(host, name, "undeclared(false)")
    assert failed.state == "failed" and "no config declared for key nope" in (failed.error or "")


def test_config_survives_a_restart(tmp_path: Path, wasm: Path) -> None:
    store = tmp_path / "store"
    first = HostService(store)
    try:
        first.add_component(wasm, "pair")
        first.create_new_agent(
            "pair", 'ConfigAgent("r")', config=['greeting="hi"', 'note=some("n")']
        )
        assert result(first, 'ConfigAgent("r")', "greet") == "hi, r"
    finally:
        first.close()
    second = HostService(store)  # replays greet, then reads live
    try:
        assert result(second, 'ConfigAgent("r")', "note") == "n"
        assert result(second, 'ConfigAgent("r")', "greet") == "hi, r"
    finally:
        second.close()


@pytest.mark.parametrize(
    ("pairs", "named"),
    [
        (["greeting=5"], "greeting"),
        (['nope="x"'], "nope"),
        (["limits.max=-1x"], "limits.max"),
        (["greeting"], "KEY=VALUE"),
    ],
)
def test_bad_config_is_refused_naming_the_key(
    host: HostService, pairs: list[str], named: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        host.create_new_agent("pair", 'ConfigAgent("bad")', config=pairs)
    assert named in str(caught.value)
    assert not any(r.agent.name == 'ConfigAgent("bad")' for r in host.store.list_agents())


def test_a_missing_required_value_fails_the_call(host: HostService) -> None:
    host.create_new_agent("pair", 'ConfigAgent("m")')
    failed = call(host, 'ConfigAgent("m")', "greet")
    assert failed.state == "failed" and "config key greeting has no value" in (failed.error or "")


def test_rpc_creates_the_callee_with_its_agent_config(host: HostService) -> None:
    assert result(host, 'CallerAgent("c")', 'call_config("b", "hey")') == "hey, b"
    assert result(host, 'ConfigAgent("b")', "limit") == 3
    # The callee exists now: a client with other config values meets it as it is.
    assert result(host, 'CallerAgent("c")', 'call_config("b", "other")') == "hey, b"
