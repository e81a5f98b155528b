"""Golem 1.5's named retry policies (golem:api/retry@1.5.0) served for real: set, remove,
get and resolve, durable across a replay and a host restart, and deciding a trap's
retries as Golem's executor does (the highest-priority policy matching the trap's
properties, stepped from the state the previous failed attempt recorded)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime.component import Component, ComponentInstanceType, FuncType

from host.ids import AgentId
from host.oplog import (
    HostCall,
    InvocationFailed,
    RemoveRetryPolicy,
    Retried,
    SetRetryPolicy,
    Snapshot,
)
from host.oplog_codec import decode_row, encode_row
from host.replay import jsonable
from host.retry_policy import NamedPolicy, Value, named_from_json, named_to_json
from host.retry_policy_wit import named_to_wit
from host.runtime import golem, golem_retry
from host.runtime.session import Session
from host.runtime.typeconv import func_sig
from host.server.shapes import metadata
from host.service import HostService
from host.store import DB_FILENAME
from host.store.check import check_store
from host.values.types import WitType
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
    # 5: a 1 ns time-box around two 30 ms retries: Golem steps a trap's policy with elapsed
    # zero, so the box never closes and the inner count-box decides
    NamedPolicy("boxed", 50, ON_TRAP, ("time-box", 1, ("count-box", 2, ("periodic", 30 * MS)))),
]
RESOLVES: list[tuple[str, str, list[tuple[str, Value]]]] = [
    ("GET", "https://api.example.com/items", [("status-code", 503)]),
    ("GET", "http://api.example.com/items", [("status-code", 503)]),
    ("GET", "https://api.example.com/items", [("status-code", 404)]),
    ("put", "kv://bucket", []),
]
ROOT_COUNT_BOX, ROOT_IMMEDIATE = 1 + 5, 1 + 3


class _AnyTime(int):
    """Equal to any timestamp: entries compare with it in their timestamp's place."""

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, int)

    __hash__ = int.__hash__


ANY_TIME = _AnyTime(0)
_BUILT: list[Path] = []


def guest_path() -> Path:
    assert _BUILT, "the wasm fixture builds the guest first"
    return _BUILT[0]


@pytest.fixture(scope="module")
def wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = guest(tmp_path_factory.mktemp("retry-guest"), POLICIES, RESOLVES)
    _BUILT[:] = [built]
    return built


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


def test_a_time_box_at_a_trap_is_golems_elapsed_zero(host: HostService, cid: str) -> None:
    """The second attempt fails at least 30 ms after the first: a box of 1 ns measured
    since the first failure would give up there (one retry); Golem's rule retries twice."""
    agent, _ = host.create_agent(cid, "boxed")
    _call(host, agent, "set-5()")
    host.invoke(agent, "boom()")
    _settle(host, agent)
    record = host.store.get_agent(agent)
    assert record.status == "failed" and record.retry_count == 2
    failed = [e for e in host.store.read_oplog(agent) if isinstance(e, InvocationFailed)]
    assert [f.retry_state for f in failed] == [
        ["wrapper", ["count-box", 1, ["counter", 1]]],
        ["wrapper", ["count-box", 2, ["counter", 2]]],
        None,
    ]


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
        # set / remove are entries of their own (Golem's SetRetryPolicy / RemoveRetryPolicy),
        # the getters host calls.
        entries = host.store.read_oplog(agent)
        assert [e for e in entries if isinstance(e, SetRetryPolicy | RemoveRetryPolicy)] == [
            SetRetryPolicy(named_to_json(POLICIES[0]), ANY_TIME),
            SetRetryPolicy(named_to_json(POLICIES[2]), ANY_TIME),
            RemoveRetryPolicy("default", ANY_TIME),
        ]
        assert [e.function.rpartition(".")[2] for e in entries if isinstance(e, HostCall)] == [
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
    calls = [e for e in entries if isinstance(e, SetRetryPolicy | RemoveRetryPolicy)]
    assert len(calls) == 5
    expected = {
        "twice": POLICIES[0],
        "http-5xx": POLICIES[2],
        "strict": None,
        "default": None,
    }
    # Entries of an older host: the same calls as host calls (their request the WIT
    # value's JSON); a mix of both rebuilds the same overlay.
    legacy = [_legacy(call) for call in calls[:3]] + calls[3:]
    for recorded in (calls, legacy):
        rebuilt = Session(agent, host.store, [entries[0], *recorded, Snapshot("AAAAAAAAAAA=", "")])
        golem.restore_durable_state(rebuilt, len(recorded) + 2)
        assert golem_retry.mutations(rebuilt) == expected
        assert [p.name for p in golem_retry.policies(rebuilt)] == ["http-5xx", "twice"]
    # The snapshot entry's host state carries it as JSON.
    state = golem.durable_state(rebuilt)
    fresh = Session(agent, host.store, [entries[0]])
    golem.apply_durable_state(fresh, json.loads(json.dumps(state)))
    assert golem_retry.mutations(fresh) == expected


# -- oplogs of hosts before SetRetryPolicy / RemoveRetryPolicy ---------------------------------
_NAMED_TYPE: list[WitType] = []


def _named_type() -> WitType:
    """golem:api/retry's named-retry-policy, as wasmtime reads it from a built guest."""
    if not _NAMED_TYPE:
        engine = wasmtime.Engine()
        built = guest_path()
        imports = Component.from_file(engine, str(built)).type.imports(engine)
        iface = imports[golem_retry.INTERFACE].ty
        assert isinstance(iface, ComponentInstanceType)
        func = iface.exports(engine)["set-retry-policy"].ty
        assert isinstance(func, FuncType)
        sig = func_sig(f"{golem_retry.INTERFACE}.set-retry-policy", func, [])
        _NAMED_TYPE.append(sig.params[0][1])
    return _NAMED_TYPE[0]


def _legacy(entry: SetRetryPolicy | RemoveRetryPolicy) -> HostCall:
    """The HostCall an older host recorded for ``entry``'s call (host.replay.host_call's
    record of a STATE function: the request the arguments' JSON, no response)."""
    if isinstance(entry, RemoveRetryPolicy):
        return HostCall(f"{golem_retry.INTERFACE}.remove-retry-policy", [entry.name], None)
    value = named_to_wit(named_from_json(entry.policy))
    request = [jsonable(value, _named_type())]
    return HostCall(f"{golem_retry.INTERFACE}.set-retry-policy", request, None, entry.timestamp)


# sqlite_only: it rewrites the SQLite rows into the form an older agent-host wrote.
@pytest.mark.sqlite_only
def test_an_oplog_with_the_older_host_call_form_still_replays(data_dir: Path, wasm: Path) -> None:
    host = HostService(data_dir)
    try:
        cid = host.add_component(wasm, name="retry-guest").id
        agent, _ = host.create_agent(cid, "legacy")
        for call in ("set-0()", "set-2()", 'remove("default")'):
            _call(host, agent, call)
        assert _call(host, agent, "count()") == "2"
    finally:
        host.close()
    db = sqlite3.connect(data_dir / DB_FILENAME)
    try:
        rows = db.execute("SELECT idx, entry, data FROM oplog WHERE name = 'legacy'").fetchall()
        rewritten = 0
        for idx, head, blob in rows:
            entry = decode_row(head, blob)
            if isinstance(entry, SetRetryPolicy | RemoveRetryPolicy):
                new_head, new_blob = encode_row(_legacy(entry))
                db.execute(
                    "UPDATE oplog SET entry = ?, data = ?, kind = 'host-call' "
                    "WHERE name = 'legacy' AND idx = ?",
                    (new_head, new_blob, idx),
                )
                rewritten += 1
        db.commit()
    finally:
        db.close()
    assert rewritten == 3
    host = HostService(data_dir)
    try:
        # The replay takes each host call where the entry would be: no divergence, the
        # overlay rebuilt (count() replays its recorded answer, priority-of runs live),
        # and the trap follows "twice".
        assert _call(host, agent, 'priority-of("http-5xx")') == "31"
        assert _call(host, agent, 'priority-of("default")') == "0"
        _call(host, agent, "set-3()")  # live now: an entry of its own after the old ones
        assert isinstance(host.store.read_oplog(agent)[-2], SetRetryPolicy)
        host.invoke(agent, "boom()")
        _settle(host, agent)
        assert host.store.get_agent(agent).retry_count == 2
        assert check_store(host.store) == []
    finally:
        host.close()


def test_a_fork_rebuilds_the_policies_from_the_copied_entries(host: HostService, cid: str) -> None:
    agent, _ = host.create_agent(cid, "source")
    _call(host, agent, "set-1()")  # never, for deterministic traps
    cut = len(host.store.read_oplog(agent))
    _call(host, agent, 'remove("never")')  # after the cut: not the fork's
    fork = host.fork_agent(agent, "forked", cut)
    assert _call(host, fork, 'priority-of("never")') == "21"
    assert _call(host, agent, 'priority-of("never")') == "0"
    assert host.invoke(fork, "boom()").state == "failed"
    assert host.store.get_agent(fork).retry_count == 0


def test_set_is_recorded_under_persist_nothing_as_golem_records_it(
    host: HostService, cid: str
) -> None:
    """Golem writes the entry whatever the persistence level; a replay takes it there."""
    agent, _ = host.create_agent(cid, "nothing")
    session = Session(agent, host.store, host.store.read_oplog(agent))
    session.persistence_level = "persist-nothing"
    golem_retry.FUNCS["set-retry-policy"].impl(session, named_to_wit(POLICIES[0]))
    assert isinstance(session.entries[-1], SetRetryPolicy)
    assert session.persisted == len(session.entries)  # committed at once
    replay = Session(agent, host.store, list(session.entries))
    replay.persistence_level = "persist-nothing"
    golem_retry.FUNCS["set-retry-policy"].impl(replay, named_to_wit(POLICIES[0]))
    assert not replay.replaying and golem_retry.mutations(replay) == {"twice": POLICIES[0]}


# -- host-wide policies (Golem's environment-level ones; host/service/retry_policies.py) ----
def _host_policy(name: str, priority: int, policy: list[Any], predicate: Any = None) -> Any:
    return {
        "name": name,
        "priority": priority,
        "predicate": predicate or ["prop-eq", "verb", "trap"],
        "policy": policy,
    }


def test_a_host_wide_policy_decides_the_trap_of_an_agent_that_set_none(
    host: HostService, cid: str
) -> None:
    """Without it the trap of an agent that never touched the interface is retried three
    times (the default); with it, the host's count-box of one decides."""
    host.set_retry_policy(_host_policy("host-once", 10, ["count-box", 1, ["immediate"]]))
    agent, _ = host.create_agent(cid, "host-decides")
    assert _call(host, agent, "count()") == "2"  # Golem's default and the host's
    assert _call(host, agent, 'priority-of("host-once")') == "11"
    host.invoke(agent, "boom()")
    _settle(host, agent)
    record = host.store.get_agent(agent)
    assert record.status == "failed" and record.retry_count == 1
    failed = [e for e in host.store.read_oplog(agent) if isinstance(e, InvocationFailed)]
    assert [f.retry_state for f in failed] == [["count-box", 1, ["counter", 1]], None]


def test_the_agents_own_policy_wins_over_a_host_wide_one_of_its_name(
    host: HostService, cid: str
) -> None:
    """Golem's order: default, environment, then the agent's overlay, by name; the
    agent's remove hides a host-wide policy too."""
    host.set_retry_policy(_host_policy("twice", 10, ["count-box", 4, ["immediate"]]))
    host.set_retry_policy(_host_policy("host-only", 1, ["never"], ["pred-false"]))
    agent, _ = host.create_agent(cid, "own-wins")
    assert _call(host, agent, "count()") == "3"
    _call(host, agent, "set-0()")  # its own "twice": count-box 2
    assert _call(host, agent, "count()") == "3"
    host.invoke(agent, "boom()")
    _settle(host, agent)
    assert host.store.get_agent(agent).retry_count == 2

    other, _ = host.create_agent(cid, "hides")
    _call(host, other, 'remove("host-only")')
    assert _call(host, other, "count()") == "2"
    assert _call(host, other, 'priority-of("host-only")') == "0"


def test_a_change_reaches_a_running_agent_and_replay_keeps_the_recorded_answer(
    data_dir: Path, wasm: Path
) -> None:
    """Read at each use (Golem fetches the environment's policies each time); a replay
    answers what the agent read then, whatever the host holds now."""
    first = HostService(data_dir)
    try:
        cid = first.add_component(wasm, name="retry-guest").id
        agent, _ = first.create_agent(cid, "live")
        assert _call(first, agent, "count()") == "1"
        first.set_retry_policy(_host_policy("added", 3, ["immediate"]))
        assert _call(first, agent, "count()") == "2"
        first.remove_retry_policy("added")
        assert _call(first, agent, "count()") == "1"
        first.set_retry_policy(_host_policy("later", 3, ["immediate"]))
    finally:
        first.close()
    second = HostService(data_dir)  # replays the three counts, then answers live
    try:
        assert _call(second, agent, "count()") == "2"
        answers = [
            e.response
            for e in second.store.read_oplog(agent)
            if isinstance(e, HostCall) and e.function.endswith("get-retry-policies")
        ]
        assert len(answers) == 4
        assert check_store(second.store) == []
    finally:
        second.close()
