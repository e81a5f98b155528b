"""golem:api/context across an agent-to-agent call, with the componentize-py guest
tests/fixtures/py/rpc14 (golem:rpc/types@0.2.2 wasm-rpc and golem:api/context): agent
``a`` starts a span with an attribute and awaits ``inherited`` of agent ``b``, which
answers what it inherits from its caller (Golem's inherited invocation context stack):
the caller's attribute, the chain of ``name`` through the rpc-invocation and
rpc-connection spans to the caller's span, and its parent (the rpc-invocation span).
A callee called by a caller whose oplog has no such spans (a plain traceparent from a
request) inherits nothing, and a replay in a new process answers the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.ids import AgentId
from host.oplog import StartSpan
from host.service import HostService
from host.tracecontext import trace_context
from host.values import parse_value
from host.values.types import ListT, Prim
from tests.fixtures.build import build_python_fixture

pytestmark = pytest.mark.slow  # builds (first time) and compiles a componentize-py guest

API = "agent-host:rpc14/api"


def _invoke(host: HostService, agent: AgentId, call: str) -> str:
    inv = host.invoke(agent, f"{API}.{call}")
    assert inv.state == "done", inv.error
    assert inv.result is not None
    return inv.result


def _strings(text: str) -> list[str]:
    value = parse_value(text, ListT(Prim("string")))
    assert isinstance(value, list)
    return [str(v) for v in value]


def _spans(host: HostService, agent: AgentId) -> dict[str, StartSpan]:
    starts = [e for e in host.store.read_oplog(agent) if isinstance(e, StartSpan)]
    return {dict(e.attributes)["name"]: e for e in starts}


def test_the_callee_inherits_the_callers_spans(tmp_path: Path) -> None:
    store = tmp_path / "store"
    host = HostService(store)
    try:
        cid = host.add_component(build_python_fixture("rpc14"), "r14").id
        a, b = host.agent_id(cid, "a"), host.agent_id(cid, "b")
        answer = _invoke(host, a, f'{{context-call}}("{cid}", "b", "user", "alice")')
        spans = _spans(host, a)
        assert spans["rpc-invocation"].parent == spans["rpc-connection"].span_id
        assert spans["rpc-connection"].parent == spans["outer"].span_id
        expected = [
            "user=alice",  # set on the caller's span, inherited
            "names=rpc-invocation,rpc-connection,outer",  # nearest first
            f"parent={spans['rpc-invocation'].span_id}",
        ]
        assert answer.startswith("ok(") and _strings(answer[3:-1]) == expected
        # What the callee answered is its own invocation's result too.
        (callee,) = [i for i in host.store.list_invocations(b) if "inherited" in i.function]
        assert callee.result is not None and _strings(callee.result) == expected

        # Called with only a traceparent (no agent behind it): nothing to inherit.
        ctx = trace_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        plain = host.submit(host.call_from_wave(b, f"{API}.{{inherited}}()"), None, ctx)
        assert plain.result is not None
        assert _strings(plain.result) == ["user=-", "names=", "parent=00f067aa0ba902b7"]
    finally:
        host.close()
    again = HostService(store)  # b replays its oplog (rebuilding both contexts) and goes on
    try:
        b = again.agent_id(cid, "b")
        assert _strings(_invoke(again, b, "{inherited}()")) == ["user=-", "names=", "parent=-"]
        assert again.store.get_agent(b).status == "idle"
    finally:
        again.close()
