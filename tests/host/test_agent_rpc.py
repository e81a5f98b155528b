"""Agent-to-agent RPC and golem:agent/host's agent functions, with a real componentize-py
guest (tests/fixtures/py/rpc_pair: CallerAgent calls CounterAgent through agent_sdk's
client, i.e. golem:agent/host@1.5.0 wasm-rpc) on real SQLite stores.

Covered: await, fire-and-forget, a future polled on the guest's event loop, a callee
suspending on a promise (the caller suspends too; completing the callee's promise
finishes both), replay in a new host process does not call the callee again (counted by
the callee), the errors (unknown type, unknown method, the callee's agent error, an agent
awaiting itself), what the caller's oplog and the callee's invocation record, the pool
scheduler, and the agent type and agent id functions (parse-agent-id agrees with the
host's own parser)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from host.agents.agentid import canonical_agent_id
from host.ids import AgentId, PromiseId
from host.oplog import FinishSpan, HostCall, InvocationStarted, PromiseCreated, StartSpan
from host.runtime.scheduler import PoolScheduler
from host.service import HostService
from host.store import InvocationRecord
from tests.fixtures.build import build_python_fixture

# slow: builds (first time) and compiles an 18 MB componentize-py guest
pytestmark = pytest.mark.slow

AWAIT = "golem:agent/host@1.5.0.[method]wasm-rpc.invoke-and-await"


@pytest.fixture(scope="module")
def wasm() -> Path:
    return build_python_fixture("rpc_pair")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, wasm: Path) -> Iterator[HostService]:
    # One store for the module (compiling the guest takes seconds); tests use own agents.
    service = HostService(tmp_path_factory.mktemp("rpc") / "store")
    service.add_component(wasm, "pair")
    try:
        yield service
    finally:
        service.close()


def agent(host: HostService, name: str) -> AgentId:
    return host.agent_id("pair", name)


def call(host: HostService, who: AgentId, text: str) -> InvocationRecord:
    return host.submit(host.agent_call_from_wave(who, text))


def result(host: HostService, who: AgentId, text: str) -> object:
    inv = call(host, who, text)
    assert inv.state == "done", f"{text}: {inv.state} {inv.error}"
    outcome = host.agent_result(inv)
    assert outcome is not None and outcome.error is None, outcome
    return outcome.json


def calls_made(host: HostService, counter: str) -> object:
    return result(host, agent(host, f'CounterAgent("{counter}")'), "calls_made")


def test_await_fire_and_forget_and_future(host: HostService) -> None:
    caller = agent(host, 'CallerAgent("a")')
    assert result(host, caller, 'call_add("c1", 5)') == 5
    assert result(host, caller, 'call_add("c1", 2)') == 7
    assert result(host, caller, 'send_add("c1", 10)') == "sent"
    assert result(host, caller, 'future_add("c1", 1)') == 18
    assert calls_made(host, "c1") == 4  # the callee was created on first use, in this host

    # The callee's invocations carry the caller's idempotency keys and principal.
    counter = agent(host, 'CounterAgent("c1")')
    invocations = [
        i for i in host.store.list_invocations(counter) if i.function.endswith("{invoke}")
    ]
    keys = [i.idempotency_key or "" for i in invocations[:4]]
    assert [k.split(":")[0] for k in keys] == ["rpc", "rpc", "rpc-send", "rpc"]
    assert all(k.endswith(':CallerAgent("a")') for k in keys)
    assert "agent({agent-id: {component-id:" in invocations[0].params[2]
    assert 'agent-id: "CallerAgent(\\"a\\")"' in invocations[0].params[2]

    # The caller's oplog: its promise for the call, then the recorded result.
    entries = host.store.read_oplog(caller)
    created = [n for n, e in enumerate(entries, 1) if isinstance(e, PromiseCreated)]
    assert entries[created[0] - 1] == PromiseCreated(AWAIT, entries[created[0] - 1].timestamp)
    answers = [e for e in entries if isinstance(e, HostCall) and e.function == AWAIT]
    assert len(answers) == 2
    assert invocations[0].idempotency_key == f"rpc:{caller.component_id}:{created[0]}:{caller.name}"


def _spans_of(host: HostService, agent: AgentId, invocation_id: str) -> list[object]:
    """The span entries of one invocation in ``agent``'s oplog, in order."""
    out: list[object] = []
    inside = False
    for e in host.store.read_oplog(agent):
        if isinstance(e, InvocationStarted):
            inside = e.invocation_id == invocation_id
        elif inside and isinstance(e, StartSpan | FinishSpan):
            out.append(e)
    return out


def test_the_callee_invocation_is_in_the_callers_trace(host: HostService) -> None:
    # Golem's wasm-rpc passes the caller's invocation context: the callee's invocation has
    # the caller's trace id and tracestate, its root span's parent the call's
    # rpc-invocation span, a child of the wasm-rpc resource's rpc-connection span, a
    # child of the caller's span (the callee's invocation keeps it as its trace
    # context). Awaited, sent and future calls.
    from host.tracecontext import trace_context

    caller = agent(host, 'CallerAgent("traced")')
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    ctx = trace_context(f"00-{trace}-00f067aa0ba902b7-01", "vendor=x")
    for text in ['call_add("ct", 1)', 'send_add("ct", 1)', 'future_add("ct", 1)']:
        inv = host.submit(host.agent_call_from_wave(caller, text), None, ctx)
        assert inv.state == "done", (text, inv.error)
    untraced = call(host, caller, 'call_add("ct", 1)')  # the caller's own trace, derived
    assert calls_made(host, "ct") == 4
    counter = agent(host, 'CounterAgent("ct")')
    callee = [i for i in host.store.list_invocations(counter) if i.function.endswith("{invoke}")]
    made = [i for i in host.store.list_invocations(caller) if i.function.endswith("{invoke}")]
    assert len(callee) == 5 and len(made) == 4  # the callee's last: calls_made, untraced
    assert callee[4].traceparent is None
    for sent, by in zip(callee[:4], made, strict=True):
        traced = by.invocation_id != untraced.invocation_id
        expected = trace if traced else untraced.invocation_id.replace("-", "")
        root = hashlib.sha256(f"span:{by.invocation_id}".encode()).hexdigest()[:16]
        spans = _spans_of(host, caller, by.invocation_id)
        starts = {dict(e.attributes)["name"]: e for e in spans if isinstance(e, StartSpan)}
        connection, invocation = starts["rpc-connection"], starts["rpc-invocation"]
        assert connection.parent == root
        assert dict(connection.attributes)["target_agent_id"] == str(counter)
        assert invocation.parent == connection.span_id
        assert dict(invocation.attributes) == {
            "name": "rpc-invocation",
            "function_name": "add",
            "idempotency_key": sent.idempotency_key,
        }
        # Both finished within the call (the client drops the resource and the future).
        finished = [e.span_id for e in spans if isinstance(e, FinishSpan)]
        assert sorted(finished) == sorted([connection.span_id, invocation.span_id])
        assert sent.traceparent == f"00-{expected}-{invocation.span_id}-00", (sent, by)
        assert sent.tracestate == ("vendor=x" if traced else None)


def test_replay_in_a_new_process_does_not_call_again(tmp_path: Path, wasm: Path) -> None:
    store = tmp_path / "store"
    first = HostService(store)
    try:
        first.add_component(wasm, "pair")
        caller = agent(first, 'CallerAgent("r")')
        assert result(first, caller, 'call_add("c2", 3)') == 3
        assert result(first, caller, 'send_add("c2", 4)') == "sent"
        assert result(first, caller, 'future_add("c2", 5)') == 12
        assert calls_made(first, "c2") == 3
    finally:
        first.close()
    second = HostService(store)  # no live instance: the caller replays its whole oplog
    try:
        caller = agent(second, 'CallerAgent("r")')
        assert result(second, caller, 'call_add("c2", 1)') == 13
        assert calls_made(second, "c2") == 4  # three replayed calls, one new
        counter = agent(second, 'CounterAgent("c2")')
        invokes = [
            i for i in second.store.list_invocations(counter) if i.function.endswith("{invoke}")
        ]
        assert len([i for i in invokes if (i.idempotency_key or "").startswith("rpc")]) == 4
    finally:
        second.close()


def test_callee_suspends_and_completing_its_promise_finishes_both(host: HostService) -> None:
    caller = agent(host, 'CallerAgent("s")')
    inv = call(host, caller, 'call_wait("w1")')
    assert inv.state == "started"
    counter = agent(host, 'CounterAgent("w1")')
    assert host.agent(caller).status == "suspended"
    assert host.agent(counter).status == "suspended"
    (promise,) = [
        PromiseId(counter, n)
        for n, e in enumerate(host.store.read_oplog(counter), 1)
        if isinstance(e, PromiseCreated)
    ]
    host.complete(promise, b'"yes"')
    done = host.store.get_invocation(inv.invocation_id)
    assert done.state == "done"
    outcome = host.agent_result(done)
    assert outcome is not None and outcome.json == "w1 got yes"
    assert host.agent(caller).status == "idle"


def test_errors_are_rpc_errors(host: HostService) -> None:
    caller = agent(host, 'CallerAgent("e")')
    failed = result(host, caller, 'call_fail("c3")')
    assert failed == "rpc-error remote-agent-error: custom-error: ValueError: counter c3 refuses"
    unknown = result(host, caller, 'call_raw("NoSuchAgent", "x")')
    assert unknown == (
        "rpc-error not-found: no agent type 'NoSuchAgent' "
        "(agent types: CounterAgent, ConfigAgent, SnapAgent, CallerAgent)"
    )
    method = result(host, caller, 'call_raw("CounterAgent", "nope")')
    assert isinstance(method, str) and method.startswith(
        "rpc-error not-found: agent type CounterAgent has no method 'nope'"
    )
    # CallerAgent("x") awaiting a call to itself would wait on its own queue forever.
    me = agent(host, 'CallerAgent("x")')
    denied = result(host, me, 'call_raw("CallerAgent", "agent_types")')
    assert isinstance(denied, str) and denied.startswith("rpc-error denied: agent CallerAgent")
    # The caller stays usable after each.
    assert result(host, caller, 'call_add("c3", 1)') == 1


def test_agent_types_and_ids_agree_with_the_host(host: HostService) -> None:
    caller = agent(host, 'CallerAgent("t")')
    component = host.store.get_component("pair")
    types = result(host, caller, "agent_types")
    assert isinstance(types, list)
    high, low = agent(host, 'CounterAgent("q")').uuid_halves
    names = ["CounterAgent", "ConfigAgent", "SnapAgent", "CallerAgent"]
    assert types == [f"{n}@{high:x}-{low:x}" for n in names]
    assert result(host, caller, 'has_type("CounterAgent")') is True
    assert result(host, caller, 'has_type("NoSuchAgent")') is False
    host_types = host.agent_types(component.id)
    for text in ['CounterAgent("c1")', 'counter-agent("c1")', 'CounterAgent( "a b" )']:
        parsed = result(host, caller, f"parse_id({_wave_string(text)})")
        assert parsed == f"CounterAgent {canonical_agent_id(text, host_types)}"
    phantom = 'CounterAgent("p")[6f1d3a52-6a43-4b53-9d1c-9a4f0e1b2c7d]'
    assert result(host, caller, f"parse_id({_wave_string(phantom)})") == f"CounterAgent {phantom}"
    bad = result(host, caller, 'parse_id("NoSuch(1)")')
    assert bad == (
        "error AgentError_InvalidAgentId: no agent type 'NoSuch' "
        "(agent types: CounterAgent, ConfigAgent, SnapAgent, CallerAgent)"
    )


def _wave_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_pool_scheduler_runs_the_callee_while_the_caller_waits(tmp_path: Path, wasm: Path) -> None:
    scheduler = PoolScheduler(workers=2, poll_interval=0.05)
    host = HostService(tmp_path / "store", scheduler=scheduler)
    scheduler.start()
    try:
        host.add_component(wasm, "pair")
        caller = agent(host, 'CallerAgent("p")')
        inv = call(host, caller, 'call_add("c4", 6)')
        deadline = time.monotonic() + 60
        while host.store.get_invocation(inv.invocation_id).state != "done":
            assert time.monotonic() < deadline, host.store.get_invocation(inv.invocation_id)
            time.sleep(0.05)
        outcome = host.agent_result(host.store.get_invocation(inv.invocation_id))
        assert outcome is not None and outcome.json == 6
    finally:
        scheduler.stop()
        host.close()


# -- Golem 1.4: golem:rpc/types@0.2.2 wasm-rpc, by export name with wit-values ----------
API = "agent-host:rpc14/api"


def test_golem_1_4_wasm_rpc(tmp_path: Path) -> None:
    wasm14 = build_python_fixture("rpc14")
    store = tmp_path / "store"
    first = HostService(store)
    try:
        cid = first.add_component(wasm14, "r14").id

        def invoke(host: HostService, who: str, call: str) -> str | None:
            inv = host.invoke(host.agent_id(cid, who), f"{API}.{call}")
            assert inv.state == "done", inv.error
            return inv.result

        assert invoke(first, "a", f'{{call-add}}("{cid}", "b", 5)') == "ok(5)"
        assert invoke(first, "a", f'{{send-add}}("{cid}", "b", 2)') == "ok"
        assert invoke(first, "a", f'{{future-add}}("{cid}", "b", 1)') == "ok(8)"
        # A function without parameters; its u32 result wrapped in a one-tuple (2 nodes).
        calls = f'"{API}.{{calls}}"'
        assert invoke(first, "a", f'{{call-function}}("{cid}", "b", {calls})') == 'ok("2 node(s)")'
        missing = invoke(first, "a", f'{{call-function}}("{cid}", "b", "nope")')
        assert missing is not None and missing.startswith(
            "err(\"RpcError_NotFound: the component exports no function 'nope'"
        )
        me = invoke(first, "a", f'{{call-function}}("{cid}", "a", {calls})')
        assert me == 'err("RpcError_Denied: agent a cannot await a call to itself")'
        nobody = "00000000-0000-0000-0000-000000000001"
        unknown = invoke(first, "a", f'{{call-add}}("{nobody}", "b", 5)')
        assert unknown is not None and unknown.startswith('err("RpcError_NotFound: no component')
        assert invoke(first, "b", "{calls}()") == "3"
    finally:
        first.close()
    second = HostService(store)  # replays agent a's calls: b is not called again
    try:
        assert invoke(second, "a", f'{{call-add}}("{cid}", "b", 1)') == "ok(9)"
        assert invoke(second, "b", "{calls}()") == "4"
    finally:
        second.close()


def test_an_oplog_recorded_before_rpc_spans_replays(
    tmp_path: Path, wasm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A caller whose calls were recorded before rpc spans (no StartSpan / FinishSpan
    # around them) replays in a new process without a divergence or a second call; its
    # new calls get their spans.
    from host.runtime import rpc_spans

    store = tmp_path / "store"
    old = HostService(store)
    try:
        old.add_component(wasm, "pair")
        caller = agent(old, 'CallerAgent("legacy")')
        with monkeypatch.context() as patched:
            patched.setattr(rpc_spans, "start_connection", lambda session, target: None)
            patched.setattr(rpc_spans, "start_invocation", lambda session, *args: None)
            assert result(old, caller, 'call_add("c9", 3)') == 3
            assert result(old, caller, 'send_add("c9", 4)') == "sent"
            assert result(old, caller, 'future_add("c9", 5)') == 12
        assert not any(isinstance(e, StartSpan) for e in old.store.read_oplog(caller))
    finally:
        old.close()
    new = HostService(store)  # no live instance: the caller replays its whole oplog
    try:
        caller = agent(new, 'CallerAgent("legacy")')
        assert result(new, caller, 'call_add("c9", 1)') == 13
        assert calls_made(new, "c9") == 4  # three replayed calls, one new
        names = [
            dict(e.attributes)["name"]
            for e in new.store.read_oplog(caller)
            if isinstance(e, StartSpan)
        ]
        assert names == ["rpc-connection", "rpc-invocation"]
    finally:
        new.close()
