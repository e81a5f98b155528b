"""golem:api/oplog@1.5.0 (host/runtime/golem_oplog.py, host/oplog_public.py): agents
read oplogs as Golem's public oplog entries.

The mapping is checked against the WIT's own ``public-oplog-entry`` type, as wasmtime
reads it from the fixture component's imports; the guest (tests/fixtures/wat/
oplog-reader-1.5.0) pages its own and another agent's oplog with get-oplog and
search-oplog and returns the pages, which the tests read back as WAVE values.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
import wasmtime
from wasmtime.component import Component, ComponentInstanceType, FuncType

from host import oplog, oplog_public
from host import retry_policy as rp
from host.hostfunc import HostFunc, Kind
from host.ids import AgentId
from host.oplog import HostCall
from host.replay import host_call
from host.retry_policy_wit import named_from_wit
from host.runtime import golem_agent, golem_oplog
from host.runtime.session import Session
from host.runtime.typeconv import func_sig
from host.service import HostService
from host.values import U64, Case, from_json, to_json
from host.values.types import FuncSig, ListT, OptionT, Some, TupleT, WitType, check
from host.values.wave import parse_value
from tests.fixtures.build import build_fixture

FIXTURE = "oplog-reader-1.5.0"
IFACE = "golem:api/oplog@1.5.0"
NEXT = "[method]get-oplog.get-next"
SEARCH_NEXT = "[method]search-oplog.get-next"


def _sigs() -> dict[str, FuncSig]:
    engine = wasmtime.Engine()
    component = Component.from_file(engine, str(build_fixture(FIXTURE)))
    imports = component.type.imports(engine)
    named: list[tuple[str, Any]] = []
    for extern in imports.values():
        if isinstance(extern.ty, ComponentInstanceType):
            for rname, rext in extern.ty.exports(engine).items():
                if isinstance(rext.ty, wasmtime.component.ResourceType):
                    named.append((rname, rext.ty))
    ty = imports[IFACE].ty
    assert isinstance(ty, ComponentInstanceType)
    return {
        n: func_sig(f"{IFACE}.{n}", e.ty, named)
        for n, e in ty.exports(engine).items()
        if isinstance(e.ty, FuncType)
    }


_SIGS: dict[str, FuncSig] = {}


def sigs() -> dict[str, FuncSig]:
    if not _SIGS:
        _SIGS.update(_sigs())
    return _SIGS


def entry_type() -> WitType:
    result = sigs()[NEXT].result
    assert isinstance(result, OptionT) and isinstance(result.payload, ListT)
    return result.payload.elem


AGENT = AgentId(uuid.UUID("8f0d5f5e-3b0c-4a53-9d51-0a1b2c3d4e5f"), "alice")
HASH = "ab" * 32
NAMED = rp.NamedPolicy(
    "http",
    7,
    ("pred-and", ("prop-exists", "status-code"), ("prop-gte", "status-code", 500)),
    ("count-box", 3, ("jitter", 0.25, ("exponential", 10**8, 2.0))),
)


def _one_of_each() -> list[oplog.Entry]:
    snap = base64.b64encode(b"state").decode()
    return [
        oplog.AgentCreated(
            str(AGENT.component_id),
            HASH,
            ("a",),
            (("K", "v"), ("GOLEM_AGENT_ID", "alice")),
            config=((("db", "url"), '"x"'),),
        ),
        oplog.InvocationStarted(
            "inv-1",
            "checkout",
            ('"cart"', "7"),
            "key-1",
            5,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "a=1,b=2",
        ),  # fmt: skip
        oplog.InvocationStarted("inv-0", "golem:agent/guest@1.5.0.{initialize}", ()),
        oplog.HostCall("wasi:clocks/wall-clock@0.2.3.now", [], {"seconds": 1}),
        oplog.HostCall("wasi:logging/logging.log", ["warn", "ctx", "careful"], None),
        oplog.HostCall("wasi:http/outgoing-handler@0.2.3.handle", [{"$bytes": "AA=="}], None),
        oplog.PromiseCreated("golem:api/host@1.5.0.create-promise"),
        oplog.Suspended((3,), 10),
        oplog.InvocationFinished("inv-1", "42"),
        oplog.InvocationFinished("inv-2", None),
        oplog.InvocationFailed("inv-3", "trap"),
        oplog.Retried("inv-3"),
        oplog.BeginAtomicRegion(),
        oplog.EndAtomicRegion(13),
        oplog.BeginRemoteWrite("wasi:http/outgoing-handler@0.2.3.handle"),
        oplog.EndRemoteWrite(15),
        oplog.Jump(2, 17),
        oplog.ChangePersistenceLevel("persist-nothing"),
        oplog.Snapshot(snap, "application/octet-stream"),
        oplog.PendingUpdate(1, HASH, "automatic"),
        oplog.PendingUpdate(1, HASH, "snapshot-based"),
        oplog.SuccessfulUpdate(1, HASH, snap, "application/octet-stream"),
        oplog.FailedUpdate(2, "no such export"),
        oplog.DurableFunctionCall(
            "my-api::fetch",
            {"value": {"nodes": []}, "typ": {"nodes": []}},
            {"value": {"nodes": []}, "typ": {"nodes": []}},
            {"write-remote-batched": 7},
        ),
        oplog.DurableFunctionCall("my-api::read", None, None, {"read-remote": None}),
        oplog.StartSpan("00f067aa0ba902b7", "", (("name", "checkout"),)),
        oplog.StartSpan("00f067aa0ba902b8", "00f067aa0ba902b7", ()),
        oplog.SetSpanAttribute("00f067aa0ba902b8", "user", "alice"),
        oplog.FinishSpan("00f067aa0ba902b8"),
        oplog.SetRetryPolicy(rp.named_to_json(NAMED)),
        oplog.RemoveRetryPolicy("http"),
        oplog.InFunctionRetry(
            "wasi:http/types@0.2.3.[method]future-incoming-response.get",
            {"connection-refused": None},
            "127.0.0.1:1 refused the connection",
            "http",
            ["count-box", 1, ["counter", 1]],
            0,
        ),
    ]


EXPECTED_CASES = [
    "create",
    "agent-invocation-started",
    "agent-invocation-started",
    "host-call",
    "log",
    "host-call",
    "host-call",
    "suspend",
    "agent-invocation-finished",
    "agent-invocation-finished",
    "error",
    "no-op",
    "begin-atomic-region",
    "end-atomic-region",
    "begin-remote-write",
    "end-remote-write",
    "jump",
    "change-persistence-level",
    "snapshot",
    "pending-update",
    "pending-update",
    "successful-update",
    "failed-update",
    "host-call",
    "host-call",
    "start-span",
    "start-span",
    "set-span-attribute",
    "finish-span",
    "set-retry-policy",
    "remove-retry-policy",
    "error",  # an in-function retry: Golem's error entry
]


def test_every_entry_type_maps_to_a_value_of_the_wit_type() -> None:
    entries = _one_of_each()
    assert {type(e) for e in entries} == set(oplog._TYPES.values())  # none left out
    ctx = oplog_public.Context(AGENT, {HASH: (0, 1234)})
    ty = entry_type()
    revision = 0
    cases = []
    for index, entry in enumerate(entries, 1):
        revision = oplog_public.revision_after(entry, ctx, revision)
        value = oplog_public.to_public(index, entry, ctx, revision)
        check(value, ty, handles=False)  # raises if the value does not fit
        # ... and it round-trips through the value layer's JSON (the oplog's record form)
        assert from_json(to_json(value, ty, compact_bytes=True), ty, compact_bytes=True) == value
        cases.append(value.name)
    assert cases == EXPECTED_CASES


def test_an_in_function_retry_is_an_error_retrying_from_the_call() -> None:
    entries = _one_of_each()
    ctx = oplog_public.Context(AGENT, {HASH: (0, 1234)})
    value = oplog_public.to_public(40, entries[-1], ctx, 0).value
    assert value["retry-from"] == 41  # the call's own entry follows the retries
    assert "refused the connection" in value["error"] and "policy http" in value["error"]


def test_the_mapping_keeps_what_we_record() -> None:
    entries = _one_of_each()
    ctx = oplog_public.Context(AGENT, {HASH: (3, 1234)})
    created = oplog_public.to_public(1, entries[0], ctx, 0).value
    assert created["agent-id"] == oplog_public.agent_id(AGENT)
    assert created["component-revision"] == 3 and created["component-size"] == 1234
    assert created["env"] == [("K", "v")]  # the host's GOLEM_* are not the agent's own
    started = oplog_public.to_public(2, entries[1], ctx, 3).value["invocation"]
    assert started.name == "agent-method-invocation"
    assert started.value["method-name"] == "checkout"
    assert started.value["idempotency-key"] == "key-1"
    # The request's trace context, as Golem's public oplog has it.
    assert started.value["trace-id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert started.value["trace-states"] == ["a=1", "b=2"]
    assert len(started.value["function-input"]["value"].value) == 2  # one per parameter
    init = oplog_public.to_public(3, entries[2], ctx, 3).value["invocation"]
    assert init.name == "agent-initialization"
    # None came: the trace id the invocation's context has (derived from its id).
    assert init.value["trace-id"] == hashlib.sha256(b"inv0").hexdigest()[:32]
    assert init.value["trace-states"] == []
    log = oplog_public.to_public(5, entries[4], ctx, 3).value
    assert (log["level"], log["context"], log["message"]) == ("warn", "ctx", "careful")
    finished = oplog_public.to_public(9, entries[8], ctx, 3).value
    assert finished["component-revision"] == 3
    jump = oplog_public.to_public(17, entries[16], ctx, 3).value
    assert jump["jump"] == {"start": 2, "end": 17}
    snapshot = oplog_public.to_public(19, entries[18], ctx, 3).value
    assert snapshot["data"]["data"] == b"state"
    updated = oplog_public.to_public(22, entries[21], ctx, 3).value
    assert updated["target-revision"] == 1
    # Golem's set-retry-policy-parameters: the named-retry-policy as the guest gave it.
    named = oplog_public.to_public(len(entries) - 1, entries[-3], ctx, 3).value
    assert named_from_wit(named["policy"]) == NAMED
    assert named["timestamp"] == oplog_public.datetime(entries[-3].timestamp)
    removed = oplog_public.to_public(len(entries), entries[-2], ctx, 3).value
    assert removed["name"] == "http"


# -- through a guest -----------------------------------------------------------------------
@pytest.fixture
def component_id(host: HostService) -> str:
    return host.add_component(build_fixture(FIXTURE)).id


def _done(host: HostService, agent: AgentId, call: str) -> str:
    inv = host.invoke(agent, call)
    assert inv.state == "done", f"{call}: {inv.state} {inv.error}"
    return inv.result or ""


def _pages(host: HostService, agent: AgentId, call: str) -> list[list[Any]]:
    """The guest's pages, parsed with the export's result type."""
    ty = ListT(ListT(entry_type()))
    if call.startswith("search-pages"):
        ty = ListT(ListT(TupleT((U64, entry_type()))))
    value = parse_value(_done(host, agent, call), ty)
    assert isinstance(value, list) and all(isinstance(page, list) for page in value)
    return cast(list[list[Any]], value)


def _cases(page: list[Any]) -> list[str]:
    return [e.name if isinstance(e, Case) else e[1].name for e in page]


def test_an_agent_reads_its_own_oplog(host: HostService, component_id: str) -> None:
    alice, _ = host.create_agent(component_id, "alice")
    assert _done(host, alice, "marks(2)") == "3"
    (page,) = _pages(host, alice, 'read-pages("", 1)')
    # created, marks: started, 2 host calls, finished; this read: started, get-self-metadata
    assert _cases(page) == [
        "create",
        "agent-invocation-started",
        "host-call",
        "host-call",
        "agent-invocation-finished",
        "agent-invocation-started",
        "host-call",
    ]
    assert page[5].value["invocation"].value["method-name"] == "read-pages"
    assert page[6].value["function-name"] == "golem:api/host@1.5.0.get-self-metadata"
    # from a later start, the same entries from there
    (later,) = _pages(host, alice, 'read-pages("", 5)')
    assert later[0] == page[4]
    # The first read's recorded pages show as host calls with their size, not the page.
    reads = [e.value for e in later if e.name == "host-call" and "get-oplog" in str(e.value)]
    assert [r["function-name"].rpartition(".")[2] for r in reads] == ["get-next", "get-next"]
    shown = [r["response"]["value"]["nodes"][0].value for r in reads]
    # The second get-next passed over the first one's record (index 8, hidden from the
    # cursor that made it) and found nothing else: none, the cursor after the record.
    assert shown == ['{"entries":7,"next":8}', '{"entries":0,"next":9}']


def test_pages_are_100_indexes_from_start(host: HostService, component_id: str) -> None:
    alice, _ = host.create_agent(component_id, "alice")
    _done(host, alice, "marks(150)")
    length = host.store.oplog_length(alice)  # 1 + 152
    bob, _ = host.create_agent(component_id, "bob")
    pages = _pages(host, bob, 'read-pages("alice", 1)')
    assert [len(p) for p in pages] == [100, length - 100]
    pages = _pages(host, bob, 'read-pages("alice", 120)')
    assert [len(p) for p in pages] == [length - 119]
    assert _pages(host, bob, f'read-pages("alice", {length + 1})') == []
    assert _cases(pages[0])[-1] == "agent-invocation-finished"


def test_another_agents_oplog_and_an_unknown_one(host: HostService, component_id: str) -> None:
    alice, _ = host.create_agent(component_id, "alice")
    bob, _ = host.create_agent(component_id, "bob")
    _done(host, alice, 'log("hello there")')
    (page,) = _pages(host, bob, 'read-pages("alice", 1)')
    assert _cases(page) == [
        "create",
        "agent-invocation-started",
        "log",
        "agent-invocation-finished",
    ]
    assert page[0].value["agent-id"]["agent-id"] == "alice"
    assert page[2].value["message"] == "hello there"
    # Golem: an agent without an oplog reads as empty, get-next answers none at once.
    assert _pages(host, bob, 'read-pages("nobody", 1)') == []


def test_search_finds_entries_by_their_text(host: HostService, component_id: str) -> None:
    alice, _ = host.create_agent(component_id, "alice")
    bob, _ = host.create_agent(component_id, "bob")
    _done(host, alice, 'log("Hello There")')
    _done(host, alice, "marks(1)")
    (hits,) = _pages(host, bob, 'search-pages("alice", "hello")')
    assert [(i, e.name) for i, e in hits] == [(3, "log")]
    (hits,) = _pages(host, bob, 'search-pages("alice", "get-oplog-index OR create")')
    assert [(i, e.name) for i, e in hits] == [(1, "create"), (6, "host-call")]
    # a scan that found nothing still moved: some(empty), then none
    assert _pages(host, bob, 'search-pages("alice", "\\"hello there\\"")') == [[]]
    inv = host.invoke(bob, 'search-pages("alice", "(broken")')
    assert inv.state == "failed" and "search query" in (inv.error or "")


def test_replay_answers_the_pages_the_first_run_read(tmp_path: Path) -> None:
    first = HostService(tmp_path / "store")
    cid = first.add_component(build_fixture(FIXTURE)).id
    alice, _ = first.create_agent(cid, "alice")
    bob, _ = first.create_agent(cid, "bob")
    _done(first, alice, "marks(3)")
    seen = len(_pages(first, bob, 'read-pages("alice", 1)')[0])
    assert _done(first, bob, "seen()") == str(seen)
    _done(first, alice, "marks(5)")  # alice's oplog grows meanwhile
    first.close()
    # A restarted host replays bob: his read is answered from his oplog, so his memory
    # holds what the first run read, not alice's oplog as it is now.
    second = HostService(tmp_path / "store")
    assert _done(second, bob, "seen()") == str(seen)
    grown = len(_pages(second, bob, 'read-pages("alice", 1)')[0])
    assert grown == seen + 7  # started, 5 host calls, finished
    assert _done(second, bob, "seen()") == str(seen + grown)
    second.close()


def test_a_replayed_page_moves_the_cursor_on(host: HostService, component_id: str) -> None:
    """The cursor follows a replayed get-next: a live call after it continues there."""
    alice, _ = host.create_agent(component_id, "alice")
    _done(host, alice, "marks(150)")
    sig = sigs()[NEXT]
    spec = golem_agent.provided(IFACE, NEXT, sig)
    bob = AgentId(alice.component_id, "bob")
    live = Session(bob, host.store, [])
    cursor = golem_oplog.OplogCursor(alice, 1, None, None)
    first = host_call(live, sig, spec, sig.param_types, [cursor])
    assert len(first.value) == 100 and cursor.next == 101
    (recorded,) = [e for e in live.entries if isinstance(e, HostCall)]
    assert recorded.response["next"] == 101
    # On replay the recorded page answers, and a fresh cursor goes where the first one
    # went: the live call after it reads the second page.
    created = host.store.read_oplog(alice, 1, 1)[0]
    replay = Session(bob, host.store, [created, recorded])
    assert replay.replaying
    again = golem_oplog.OplogCursor(alice, 1, None, None)
    assert host_call(replay, sig, spec, sig.param_types, [again]) == first
    assert not replay.replaying
    assert (again.next, again.revision) == (101, cursor.revision)
    second = host_call(replay, sig, spec, sig.param_types, [again])
    assert len(second.value) == host.store.oplog_length(alice) - 100
    assert second.value[0] != first.value[0]


def test_enrich_answers_an_error(host: HostService) -> None:
    # (the fixture does not import it, so its signature is not at hand: the answer needs none)
    spec = golem_oplog.FUNCS["enrich-oplog-entries"](sigs()[NEXT])
    answer = spec.impl(Session(AGENT, host.store, []), None, None, [], 0)
    assert isinstance(answer, Case) and answer.name == "err"
    assert isinstance(answer.value, str) and "oplog processor" in answer.value


def test_durable_functions_and_spans_keep_what_we_record() -> None:
    ctx = oplog_public.Context(AGENT, {HASH: (0, 1234)})
    call = oplog.DurableFunctionCall("my-api::fetch", None, None, {"write-remote-batched": 7})
    value = oplog_public.to_public(5, call, ctx, 0)
    assert isinstance(value, Case) and isinstance(value.value, dict)
    assert value.value["function-name"] == "my-api::fetch"
    assert value.value["durable-function-type"] == Case("write-remote-batched", Some(7))
    root = oplog_public.to_public(6, oplog.StartSpan("a" * 16, "", (("k", "v"),)), ctx, 0)
    child = oplog_public.to_public(7, oplog.StartSpan("b" * 16, "a" * 16, ()), ctx, 0)
    assert isinstance(root, Case) and isinstance(root.value, dict)
    assert isinstance(child, Case) and isinstance(child.value, dict)
    assert root.value["parent"] is None and child.value["parent"] == Some("a" * 16)
    assert root.value["attributes"] == [{"key": "k", "value": Case("string", "v")}]


# -- the agent's own oplog, live (Golem's get-next reads the oplog as it is) ---------------
MARK = FuncSig("golem:api/host@1.5.0.get-oplog-index", (), U64)
MARK_SPEC = HostFunc(lambda s: s.cursor, Kind.READ)  # any recorded host call


def _own_reads(session: Session, alice: AgentId) -> list[Any]:
    """A cursor on the agent's own oplog made now; get-next, a host call, get-next twice,
    another host call, get-next: each answer (the page's cases, or None)."""
    sig = sigs()[NEXT]
    spec = golem_agent.provided(IFACE, NEXT, sig)
    cursor = golem_oplog.OplogCursor(alice, 1, None, session.cursor)  # as the constructor
    answers: list[Any] = []

    def next_page() -> None:
        got = host_call(session, sig, spec, sig.param_types, [cursor])
        answers.append(None if got is None else _cases(got.value))

    next_page()
    host_call(session, MARK, MARK_SPEC, (), [])
    next_page()
    next_page()
    host_call(session, MARK, MARK_SPEC, (), [])
    host_call(session, MARK, MARK_SPEC, (), [])
    next_page()
    next_page()
    return answers


def test_an_own_cursor_sees_entries_added_after_it_was_made(
    host: HostService, component_id: str
) -> None:
    alice, _ = host.create_agent(component_id, "alice")
    live = Session(alice, host.store, host.store.read_oplog(alice))
    assert not live.replaying
    answers = _own_reads(live, alice)
    # The first page: the create entry. Then the host call made after the cursor (its
    # own read's record hidden); none; then the two later calls; none again.
    assert answers == [["create"], ["host-call"], None, ["host-call", "host-call"], None]
    recorded = live.entries
    reads = [e for e in recorded if isinstance(e, HostCall) and "get-next" in e.function]
    assert [r.response["next"] for r in reads] == [2, 4, 5, 8, 9]
    assert all(r.response["since"] == 1 for r in reads)
    # Replay: every read answers what it answered live, the same records in the same
    # places, and the cursor goes where it went.
    replay = Session(alice, host.store, list(recorded))
    assert replay.replaying
    assert _own_reads(replay, alice) == answers
    assert not replay.replaying and replay.entries == recorded


def test_a_record_of_the_bounded_view_replays(host: HostService, component_id: str) -> None:
    """A get-next recorded before the live view kept ``end``: it still replays, and the
    cursor then reads on live from where it was."""
    alice, _ = host.create_agent(component_id, "alice")
    created = host.store.read_oplog(alice)
    sig = sigs()[NEXT]
    spec = golem_agent.provided(IFACE, NEXT, sig)
    assert sig.result is not None
    page = to_json(Some([]), sig.result, compact_bytes=True)
    old = HostCall(sig.name, [], {"page": page, "next": 2, "revision": 0, "end": 1})
    session = Session(alice, host.store, [*created, old])
    cursor = golem_oplog.OplogCursor(alice, 1, None, session.cursor)
    assert host_call(session, sig, spec, sig.param_types, [cursor]) == Some([])
    assert (cursor.next, cursor.since) == (2, 1)
    host_call(session, MARK, MARK_SPEC, (), [])
    got = host_call(session, sig, spec, sig.param_types, [cursor])
    assert got is not None and _cases(got.value) == ["host-call"]
