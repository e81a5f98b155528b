"""Golem 1.5's named retry policies (golem:api/retry@1.5.0) served for real: set, remove,
get and resolve, durable across a replay and a host restart, and deciding a trap's
retries as Golem's executor does (the highest-priority policy matching the trap's
properties, stepped from the state the previous failed attempt recorded)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from host.ids import AgentId
from host.oplog import HostCall, InvocationFailed, Retried, Snapshot
from host.retry_policy import NamedPolicy, Value
from host.runtime import golem, golem_retry
from host.runtime.session import Session
from host.server.shapes import metadata
from host.service import HostService
from host.store.check import check_store
from tests.fixtures.retry_guest import guest

MS = 1_000_000
ON_TRAP = ("prop-eq", "verb", "trap")
POLICIES = [
    # 0: two immediate retries of any trap
    NamedPolicy("twice", 10, ON_TRAP, ("count-box", 2, ("immediate",))),
    # 1: never, for deterministic traps, above "twice" (a missing property is an evaluation
    # error in Golem, so the predicates ask whether it exists first: pred-and short-cuts)
    NamedPolicy(
        "never",
        20,
        ("pred-and", ("prop-exists", "trap-type"), ("prop-eq", "trap-type", "deterministic-trap")),
        ("never",),
    ),
    # 2: HTTP 5xx on https: count-box(5, ...)
    NamedPolicy(
        "http-5xx",
        30,
        (
            "pred-and",
            ("prop-exists", "status-code"),
            ("pred-and", ("prop-gte", "status-code", 500), ("prop-eq", "uri-scheme", "https")),
        ),
        ("count-box", 5, ("jitter", 0.1, ("periodic", 10 * MS))),
    ),
    # 3: a low-priority catch-all that matches everything: immediate
    NamedPolicy("everything", 1, ("pred-true",), ("immediate",)),
    # 4: compares a property no context has: resolving fails on it (Golem's
    # RetryEvaluationError::PropertyNotFound), and a trap falls back to the legacy rule
    NamedPolicy("strict", 40, ("prop-gt", "status-code", 0), ("periodic", MS)),
]
RESOLVES: list[tuple[str, str, list[tuple[str, Value]]]] = [
    ("GET", "https://api.example.com/items", [("status-code", 503)]),
    ("GET", "http://api.example.com/items", [("status-code", 503)]),
    ("GET", "https://api.example.com/items", [("status-code", 404)]),
    ("put", "kv://bucket", []),
]
ROOT_COUNT_BOX, ROOT_IMMEDIATE = 1 + 5, 1 + 3


@pytest.fixture(scope="module")
def wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return guest(tmp_path_factory.mktemp("retry-guest"), POLICIES, RESOLVES)


@pytest.fixture
def cid(host: HostService, wasm: Path) -> str:
    return host.add_component(wasm, name="retry-guest").id


def _call(host: HostService, agent: AgentId, call: str) -> str | None:
    inv = host.invoke(agent, call)
    assert inv.state == "done", f"{call}: {inv.state} {inv.error}"
    return inv.result


def _settle(host: HostService, agent: AgentId, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while host.store.get_agent(agent).status == "retrying":
        assert time.monotonic() < deadline
        time.sleep(0.01)
        host.run_due()


def test_count_box_two_then_trap_retries_exactly_twice_then_fails(
    host: HostService, cid: str
) -> None:
    agent, _ = host.create_agent(cid, "twice")
    _call(host, agent, "set-0()")
    inv = host.invoke(agent, "boom()")  # immediate retries: they may all run at once
    _settle(host, agent)
    record = host.store.get_agent(agent)
    assert record.status == "failed" and record.retry_count == 2
    view = metadata(host.agent(agent))
    assert view["status"] == "Failed" and view["retryCount"] == 2
    entries = host.store.read_oplog(agent)
    failed = [e for e in entries if isinstance(e, InvocationFailed)]
    assert sum(isinstance(e, Retried) for e in entries) == 2 and len(failed) == 3
    # Each retried failure carries the count-box state it stepped to (Golem's Error entry).
    assert [f.retry_state for f in failed] == [
        ["count-box", 1, ["counter", 1]],
        ["count-box", 2, ["counter", 2]],
        None,
    ]
    assert "the guest trapped" in (host.store.get_invocation(inv.invocation_id).error or "")
    assert check_store(host.store) == []


def test_never_fails_at_once_and_remove_restores_the_default(host: HostService, cid: str) -> None:
    agent, _ = host.create_agent(cid, "never")
    _call(host, agent, "set-0()")
    _call(host, agent, "set-1()")  # higher priority, matches the unreachable trap
    inv = host.invoke(agent, "boom()")
    assert inv.state == "failed" and host.store.get_agent(agent).retry_count == 0

    other, _ = host.create_agent(cid, "removed")
    _call(host, other, "set-1()")
    _call(host, other, 'remove("never")')
    # Only Golem's catch-all is left: 3 retries, 100 ms, 300 ms, 900 ms (plus jitter).
    assert _call(host, other, "count()") == "1"
    assert _call(host, other, 'priority-of("default")') == "1"
    started = time.monotonic()
    host.invoke(other, "boom()")
    _settle(host, other)
    assert host.store.get_agent(other).retry_count == 3
    assert time.monotonic() - started >= 1.3


def test_removing_the_default_leaves_no_match_and_a_deterministic_trap_is_not_retried(
    host: HostService, cid: str
) -> None:
    agent, _ = host.create_agent(cid, "bare")
    _call(host, agent, 'remove("default")')
    assert _call(host, agent, "count()") == "0"
    # Golem's legacy rule: a deterministic trap outside an atomic region fails at once.
    assert host.invoke(agent, "boom()").state == "failed"


def test_resolve_answers_the_highest_priority_match(host: HostService, cid: str) -> None:
    agent, _ = host.create_agent(cid, "resolve")
    for i in range(4):
        _call(host, agent, f"set-{i}()")
    assert _call(host, agent, "resolve-0()") == str(ROOT_COUNT_BOX)  # http-5xx
    assert _call(host, agent, "resolve-1()") == str(ROOT_IMMEDIATE)  # not https: everything
    assert _call(host, agent, "resolve-2()") == str(ROOT_IMMEDIATE)  # 404: everything
    calls = [e for e in host.store.read_oplog(agent) if isinstance(e, HostCall)]
    resolved = [c for c in calls if c.function.endswith("resolve-retry-policy")]
    assert len(resolved) == 3 and resolved[0].response is not None


def test_an_evaluation_error_fails_resolve_and_a_trap_falls_back(
    host: HostService, cid: str
) -> None:
    agent, _ = host.create_agent(cid, "strict")
    _call(host, agent, "set-0()")
    _call(host, agent, "set-4()")
    assert _call(host, agent, "resolve-0()") == str(1 + 0)  # has status-code: periodic
    inv = host.invoke(agent, "boom()")
    # "strict" is tried first and needs status-code: the legacy rule decides, and it
    # never retries a deterministic trap.
    assert inv.state == "failed" and host.store.get_agent(agent).retry_count == 0
    other, _ = host.create_agent(cid, "strict-2")
    _call(host, other, "set-4()")
    inv = host.invoke(other, "resolve-3()")  # kv://bucket: no status-code
    assert inv.state == "failed"
    assert "retry policy resolution error: Property not found: status-code" in (inv.error or "")


def test_get_answers_what_was_set_across_a_replay_and_a_restart(data_dir: Path, wasm: Path) -> None:
    host = HostService(data_dir)
    try:
        cid = host.add_component(wasm, name="retry-guest").id
        agent, _ = host.create_agent(cid, "durable")
        _call(host, agent, "set-0()")
        _call(host, agent, "set-2()")
        _call(host, agent, 'remove("default")')
        assert _call(host, agent, "count()") == "2"
        assert _call(host, agent, 'priority-of("http-5xx")') == "31"
        assert _call(host, agent, 'priority-of("default")') == "0"
        functions = [
            e.function.rpartition(".")[2]
            for e in host.store.read_oplog(agent)
            if isinstance(e, HostCall)
        ]
        assert functions == [
            "set-retry-policy",
            "set-retry-policy",
            "remove-retry-policy",
            "get-retry-policies",
            "get-retry-policy-by-name",
            "get-retry-policy-by-name",
        ]
    finally:
        host.close()
    # A restarted host replays the log: the overlay is rebuilt, the getters' recorded
    # answers replayed, and a new call answers the same; the trap then follows "twice"
    # ("http-5xx" is tried first: no status-code, its pred-and short-cuts to false).
    host = HostService(data_dir)
    try:
        assert _call(host, agent, "count()") == "2"
        assert _call(host, agent, 'priority-of("twice")') == "11"
        host.invoke(agent, "boom()")
        _settle(host, agent)
        assert host.store.get_agent(agent).retry_count == 2
    finally:
        host.close()


def test_a_policy_with_a_bad_index_fails_the_call(host: HostService, tmp_path: Path) -> None:
    from tests.fixtures import retry_guest

    low = retry_guest.Lowering(1024)
    params = list(low.named(NamedPolicy("bad", 1, ("pred-true",), ("count-box", 1, ("never",)))))
    # count-box's inner index (at the second node's... first node's body + 4) -> 9
    nodes = params[5]
    low.put(nodes + 8 + 4, "i", 9)
    args = " ".join(f"(i32.const {a})" for a in params)
    wat = f"""(module
  (import "golem:api/retry@1.5.0" "set-retry-policy"
    (func $set (param i32 i32 i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  {low.data()}
  (func (export "bad") (call $set {args}))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 8192)))
"""
    src = tmp_path / "src"
    src.mkdir()
    (src / "world.wit").write_text(
        "package agent-host:tests;\nworld bad-guest {\n  import golem:api/retry@1.5.0;\n"
        "  export bad: func();\n}\n"
    )
    (src / "guest.wat").write_text(wat)
    from host.conformance.build import build_wat
    from tests.fixtures.build import WIT_DIR

    cid = host.add_component(build_wat(src, tmp_path / "out", "bad", WIT_DIR)).id
    agent, _ = host.create_agent(cid, "bad")
    inv = host.invoke(agent, "bad()")
    assert inv.state == "failed"
    assert "refers to node 9, but there are 2 nodes" in (inv.error or "")


def test_a_snapshot_restores_the_named_policies(host: HostService, cid: str) -> None:
    """Recovery from a snapshot does not replay the calls before it: the overlay comes from
    the snapshot's host state, or, for a snapshot without one, from the recorded calls."""
    agent, _ = host.create_agent(cid, "snap")
    for call in ("set-0()", "set-2()", "set-4()", 'remove("strict")', 'remove("default")'):
        _call(host, agent, call)
    entries = host.store.read_oplog(agent)
    calls = [e for e in entries if isinstance(e, HostCall)]
    expected = {
        "twice": POLICIES[0],
        "http-5xx": POLICIES[2],
        "strict": None,
        "default": None,
    }
    rebuilt = Session(agent, host.store, [entries[0], *calls, Snapshot("AAAAAAAAAAA=", "")])
    golem.restore_durable_state(rebuilt, len(calls) + 2)
    assert golem_retry.mutations(rebuilt) == expected
    assert [p.name for p in golem_retry.policies(rebuilt)] == ["http-5xx", "twice"]
    # The snapshot entry's host state carries it as JSON.
    state = golem.durable_state(rebuilt)
    fresh = Session(agent, host.store, [entries[0]])
    golem.apply_durable_state(fresh, json.loads(json.dumps(state)))
    assert golem_retry.mutations(fresh) == expected
