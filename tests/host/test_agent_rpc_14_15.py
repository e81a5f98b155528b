"""Golem 1.4 and 1.5 agents calling each other in one host, with real componentize-py
guests: tests/fixtures/py/agent14 (a 1.4 agent: unversioned golem:agent/guest) calls
rpc_pair's 1.5 ``CounterAgent.add`` through golem:rpc/types@0.2.2 ``wasm-rpc`` the way
golem-rust 1.4's clients do (its kebab-case id, the method as ``counter-agent.{add}``,
wit-value parameters, the outputs back as a tuple); and rpc_pair's 1.5 ``CallerAgent``
calls the 1.4 agent through golem:agent/host@1.5.0 ``wasm-rpc``. Replay in a new host
does not call again."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.service import HostService
from host.store import InvocationRecord
from tests.fixtures.build import build_python_fixture

pytestmark = pytest.mark.slow  # builds (first time) and compiles two componentize-py guests


def call(host: HostService, component: str, name: str, text: str) -> InvocationRecord:
    return host.submit(host.agent_call_from_wave(host.agent_id(component, name), text))


def result(host: HostService, component: str, name: str, text: str) -> object:
    inv = call(host, component, name, text)
    assert inv.state == "done", f"{text}: {inv.state} {inv.error}"
    outcome = host.agent_result(inv)
    assert outcome is not None and outcome.error is None, outcome
    return outcome.json


def test_1_4_agent_calls_1_5_agent_and_back(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = HostService(store)
    try:
        # agent14 first: its CounterAgent is the one the 1.5 caller's type lookup finds.
        first.add_component(build_python_fixture("agent14"), "c14")
        pair = first.add_component(build_python_fixture("rpc_pair"), "pair").id
        caller14 = 'counter-agent("a")'
        assert result(first, "c14", caller14, f'call_add("{pair}", "t", 5)') == 5
        assert result(first, "c14", caller14, f'call_add("{pair}", "t", 2)') == 7
        assert result(first, "pair", 'CounterAgent("t")', "calls_made") == 2
        # The callee's invocations: guest invoke("add", ...) under the caller's rpc keys.
        callee = first.agent_id("pair", 'CounterAgent("t")')
        invokes = [
            i for i in first.store.list_invocations(callee) if i.function.endswith("{invoke}")
        ]
        assert invokes[0].params[0] == '"add"'
        assert (invokes[0].idempotency_key or "").startswith("rpc:")

        # Back: a 1.5 agent calls the 1.4 agent through golem:agent/host wasm-rpc.
        assert (
            result(first, "pair", 'CallerAgent("b")', 'call_raw("CounterAgent", "whoami")') == "ok"
        )
        called = first.agent_id("c14", 'CounterAgent("x")')
        (whoami,) = [i for i in first.store.list_invocations(called) if '"whoami"' in i.params[0]]
        assert whoami.state == "done"

        negative = result(first, "c14", 'counter-agent("e")', f'call_add("{pair}", "t", -1)')
        assert negative == 6  # a negative s64 goes through as it is
    finally:
        first.close()
    second = HostService(store)  # replays the 1.4 caller: the 1.5 callee is not called again
    try:
        assert result(second, "c14", caller14, f'call_add("{pair}", "t", 1)') == 7
        assert result(second, "pair", 'CounterAgent("t")', "calls_made") == 4
    finally:
        second.close()
