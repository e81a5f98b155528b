"""host.replay on golden oplogs, with a scripted guest and no wasm.

A guest here is a Python function making host calls by name through ``call``; the
driver does what the executor does around it (next invocation, the guest's calls,
its finish or suspension). Live host functions count their calls and, while a test
forbids it, raise: a replayed answer provably came from the log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host import oplog
from host.errors import Divergence
from host.ids import AgentId
from host.oplog import (
    AgentCreated,
    Entry,
    HostCall,
    InvocationFailed,
    InvocationFinished,
    InvocationStarted,
    PromiseCreated,
    Suspended,
)
from host.replay import HostFunc, Kind, Replay, host_call
from host.values import Case
from host.values.types import (
    BOOL,
    U32,
    U64,
    FuncSig,
    ListT,
    Prim,
    RecordT,
    ResourceT,
    ResultT,
    WitType,
)

GOLDEN = Path(__file__).parent / "golden"
COMPONENT = "6f1c1c1e-0000-4000-8000-000000000001"
AGENT = AgentId(uuid.UUID(COMPONENT), "golden")

RAND = "wasi:random/random@0.2.3.get-random-u64"
BYTES = "wasi:random/random@0.2.3.get-random-bytes"
NOW = "wasi:clocks/wall-clock@0.2.3.now"
SUB = "wasi:clocks/monotonic-clock@0.2.3.subscribe-duration"
POLL = "wasi:io/poll@0.2.3.poll"
CREATE = "golem:api/host@1.3.0.create-promise"
AWAIT = "golem:api/host@1.3.0.await-promise"
KEY = "golem:api/host@1.3.0.generate-idempotency-key"
MODE = "golem:api/host@1.3.0.set-idempotence-mode"
CHARGE = "example:payments/api@1.0.0.charge"
STREAM = "wasi:cli/stdout@0.2.3.get-stdout"

UUID_T = RecordT((("high-bits", U64), ("low-bits", U64)))
PROMISE_T = RecordT((("oplog-idx", U64),))
STRING = Prim("string")


class LiveForbidden(AssertionError):
    """A live host function ran while the test said every answer comes from the log."""


class Suspend(Exception):  # noqa: N818 - a control-flow signal, as in the host
    def __init__(self, promises: tuple[int, ...], wake_at_ns: int | None) -> None:
        super().__init__("suspend")
        self.promises = promises
        self.wake_at_ns = wake_at_ns


class Timer:
    def __init__(self, deadline_ns: int) -> None:
        self.deadline_ns = deadline_ns


class Scripted(Replay):
    """A Replay with what the scripted host functions keep: live-call counts, state."""

    def __init__(self, entries: list[Entry], *, live: bool = True) -> None:
        super().__init__(AGENT, entries)
        self.live_allowed = live
        self.live_calls: list[str] = []
        self.flushes = 0
        self.mode = True
        self.completed: dict[int, bytes] = {}  # promises completed from outside
        self.counter = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def _live(name: str, body: Callable[..., Any]) -> Callable[..., Any]:
    def impl(session: Scripted, *args: Any) -> Any:
        if not session.live_allowed:
            raise LiveForbidden(f"{name} ran live during replay")
        session.live_calls.append(name)
        return body(session, *args)

    return impl


def _next(session: Scripted) -> int:
    session.counter += 1
    return session.counter * 1_000_003


def _create(session: Scripted) -> dict[str, int]:
    # JOURNALED: writes its own entry, committed with everything before it.
    session.mark_persisted(PromiseCreated(CREATE))
    return {"oplog-idx": len(session.entries)}


def _await(session: Scripted, promise: dict[str, int]) -> bytes:
    if promise["oplog-idx"] in session.completed:
        return session.completed[promise["oplog-idx"]]
    raise Suspend((promise["oplog-idx"],), None)


def _poll(session: Scripted, timers: list[Timer]) -> list[int]:
    due = [i for i, t in enumerate(timers) if t.deadline_ns <= 100_000_000_000]
    if due:
        return due
    raise Suspend((), 1_700_000_001_000_000_000)


def _set_mode(session: Scripted, mode: bool) -> None:
    session.mode = mode


def _state(name: str, body: Callable[..., Any]) -> Callable[..., Any]:
    # STATE runs in both modes: no live guard, but counted.
    def impl(session: Scripted, *args: Any) -> Any:
        session.live_calls.append(name)
        return body(session, *args)

    return impl


_SPECS: list[tuple[str, tuple[WitType, ...], WitType | None, Kind, Callable[..., Any]]] = [
    (RAND, (), U64, Kind.READ, _next),
    (BYTES, (U64,), ListT(Prim("u8")), Kind.READ, lambda s, n: bytes(range(n))),
    (NOW, (), RecordT((("seconds", U64), ("nanoseconds", U32))), Kind.READ,
     lambda s: {"seconds": 1_700_000_000, "nanoseconds": _next(s) % 10**9}),
    (CREATE, (), PROMISE_T, Kind.JOURNALED, _create),
    (AWAIT, (PROMISE_T,), ListT(Prim("u8")), Kind.READ, _await),
    (POLL, (ListT(ResourceT("pollable", own=False)),), ListT(U32), Kind.READ, _poll),
    (KEY, (), UUID_T, Kind.EFFECT, lambda s: {"high-bits": _next(s), "low-bits": 22}),
    (MODE, (BOOL,), None, Kind.STATE, _set_mode),
    (CHARGE, (U64, UUID_T), ResultT(STRING, STRING), Kind.EFFECT,
     lambda s, amount, key: Case("ok", f"receipt-{amount}")),
    (STREAM, (), ResourceT("output-stream"), Kind.PURE, lambda s: object()),
]  # fmt: skip


def _funcs() -> dict[str, tuple[FuncSig, HostFunc]]:
    funcs: dict[str, tuple[FuncSig, HostFunc]] = {}
    for name, params, result, kind, body in _SPECS:
        sig = FuncSig(name, tuple((f"p{i}", t) for i, t in enumerate(params)), result)
        impl = _state(name, body) if kind in (Kind.STATE, Kind.PURE) else _live(name, body)
        replay = _replay_promise if kind is Kind.JOURNALED else None
        funcs[name] = (sig, HostFunc(impl, kind, replay=replay))
    # A READ function returning a resource: its deadline is recorded, the timer rebuilt.
    funcs[SUB] = (
        FuncSig(SUB, (("p0", U64),), ResourceT("pollable")),
        HostFunc(
            _live(SUB, lambda s, d: Timer(99_000_000_000)),
            Kind.READ,
            snapshot=lambda timer: timer.deadline_ns,
            rebuild=lambda s, deadline: Timer(int(deadline)),
        ),
    )
    return funcs


def _replay_promise(session: Scripted, entry: Any, index: int) -> dict[str, int]:
    return {"oplog-idx": index}


FUNCS = _funcs()
Guest = Callable[[Callable[..., Any], tuple[str, ...]], str | None]


def call_in(session: Scripted) -> Callable[..., Any]:
    def call(name: str, *args: Any) -> Any:
        sig, spec = FUNCS[name]
        return host_call(session, sig, spec, sig.param_types, args)

    return call


def invoke(session: Scripted, guest: Guest, started: InvocationStarted) -> str:
    """One invocation as the executor runs it; how it ended."""
    try:
        result = guest(call_in(session), started.params)
    except Suspend as suspend:
        session.mark_persisted(Suspended(suspend.promises, suspend.wake_at_ns))
        return "suspended"
    except (Divergence, LiveForbidden):
        raise  # not the guest failing: the test's verdict
    except Exception as exc:
        if not session.replaying:
            session.mark_persisted(InvocationFailed(started.invocation_id, str(exc)))
        return "failed"
    if not session.expect_finished(started, result):
        session.mark_persisted(InvocationFinished(started.invocation_id, result))
    return "finished"


def run(
    session: Scripted, guests: dict[str, Guest], queue: tuple[InvocationStarted, ...] = ()
) -> str:
    """Replay the log, then run ``queue`` live: the executor's ``_run`` without wasm."""
    while (entry := session.next_invocation()) is not None:
        if isinstance(entry, InvocationFailed):
            return "stopped"
        ended = invoke(session, guests[entry.function], entry)
        if ended != "finished":
            return ended
    for started in queue:
        session.mark_persisted(started)
        ended = invoke(session, guests[started.function], started)
        if ended != "finished":
            return ended
    return "idle"


# -- the scripted guests of the golden oplogs -------------------------------------------
def request_approval(call: Callable[..., Any], params: tuple[str, ...]) -> str:
    call(STREAM)  # bookkeeping: never recorded, runs in both modes
    nonce = call(RAND)
    call(NOW)
    promise = call(CREATE)
    decision = call(AWAIT, promise).decode()
    return json.dumps(f"{decision} by {nonce}")


def nap(call: Callable[..., Any], params: tuple[str, ...]) -> None:
    call(NOW)
    timer = call(SUB, int(params[0]))
    call(POLL, [timer])
    return None


def pay(call: Callable[..., Any], params: tuple[str, ...]) -> str:
    amount = int(params[0])
    if amount < 10:
        raise RuntimeError("unreachable")
    call(MODE, False)
    key = call(KEY)
    receipt = call(CHARGE, amount, key)
    return f'ok("{receipt.value}")'


GUESTS: dict[str, Guest] = {"request-approval": request_approval, "nap": nap, "pay": pay}


def golden(name: str) -> list[Entry]:
    data = json.loads((GOLDEN / f"{name}.json").read_text())
    return [oplog.from_dict(d) for d in data]


# -- the module stays wasm-free ------------------------------------------------------------
def test_replay_imports_no_wasmtime() -> None:
    code = "import sys, host.replay; assert 'wasmtime' not in sys.modules, sorted(sys.modules)"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_golden_files_round_trip() -> None:
    for path in sorted(GOLDEN.glob("*.json")):
        data = json.loads(path.read_text())
        entries = [oplog.from_dict(d) for d in data]
        assert [json.loads(oplog.encode(e)) for e in entries] == data, path.name
        assert [oplog.decode(oplog.encode(e)) for e in entries] == entries


# -- golden oplogs replay from the record ------------------------------------------------
@pytest.mark.parametrize("name", ["approval", "retried"])
def test_a_complete_log_replays_without_a_live_call(name: str) -> None:
    entries = golden(name)
    session = Scripted(list(entries), live=False)
    ended = run(session, GUESTS)
    assert session.entries == entries  # nothing recorded
    assert session.replaying is (name == "retried")  # left on inv-2's failure
    # inv-2 of the retried log fails again where it failed: nothing new is recorded.
    assert ended == ("idle" if name == "approval" else "failed")
    # Only bookkeeping (PURE) and state (STATE) functions ran.
    assert set(session.live_calls) <= {STREAM, MODE}


def test_approval_answers_are_the_recorded_ones() -> None:
    session = Scripted(golden("approval"), live=False)
    started = session.next_invocation()
    assert isinstance(started, InvocationStarted)
    call = call_in(session)
    assert call(RAND) == 12345678901234567890
    assert call(NOW) == {"seconds": 1_700_000_000, "nanoseconds": 5000}
    assert call(CREATE) == {"oplog-idx": 5}  # the promise's index is its entry's
    assert session.cursor == 5  # the Suspended marker is next, skipped by the next call
    assert call(AWAIT, {"oplog-idx": 5}) == b"approved"
    assert session.expect_finished(started, '"approved by 12345678901234567890"')
    assert session.next_invocation() is None  # the end: live from here


def test_state_runs_on_replay_and_rebuilds_the_state() -> None:
    session = Scripted(golden("retried"), live=False)
    run(session, GUESTS)
    assert session.mode is False
    assert session.live_calls == [MODE]


def test_a_log_ending_in_a_suspension_goes_live_at_the_call_that_suspended() -> None:
    entries = golden("timer")
    session = Scripted(list(entries), live=True)
    assert run(session, GUESTS) == "idle"
    # now and subscribe-duration came from the log (the timer rebuilt from its deadline);
    # the poll that suspended ran live, found the timer due, and the finish was recorded.
    assert session.live_calls == [POLL]
    assert session.entries[: len(entries)] == entries
    poll, finished = session.entries[len(entries) :]
    assert isinstance(poll, HostCall) and poll.function == POLL and poll.response == [0]
    assert poll.request == ["<list>"]  # a list of resources is recorded by a placeholder
    assert isinstance(finished, InvocationFinished) and finished.result is None
    assert session.persisted == len(session.entries)


def test_the_suspension_itself_is_recorded_live_then_skipped() -> None:
    # A fresh approval run, live to its suspension: the same entries as the golden file.
    entries = golden("approval")
    session = Scripted(entries[:1], live=True)
    assert run(session, GUESTS, (entries[1],)) == "suspended"  # type: ignore[arg-type]
    shape = [(oplog.kind(e), getattr(e, "function", None)) for e in session.entries]
    assert shape == [(oplog.kind(e), getattr(e, "function", None)) for e in entries[:6]]
    assert session.entries[5] == Suspended((5,), None, timestamp=session.entries[5].timestamp)
    # Completed from outside, the next run replays to the marker and awaits live.
    session = Scripted(list(session.entries), live=True)
    session.completed[5] = b"approved"
    assert run(session, GUESTS) == "idle"
    assert session.live_calls == [STREAM, AWAIT]
    assert isinstance(session.entries[-1], InvocationFinished)


def test_a_retried_failure_is_skipped_and_the_invocation_continues_live() -> None:
    entries = golden("retried")
    upto_retry = entries[:6]  # ... InvocationFailed(inv-1), Retried(inv-1)
    session = Scripted(list(upto_retry), live=True)
    assert run(session, GUESTS) == "idle"
    # mode and key from the log; the charge that failed before runs live now.
    assert session.live_calls == [MODE, CHARGE]
    assert session.flushes == 1  # CHARGE is an EFFECT: committed before the guest goes on
    charge, finished = session.entries[6:]
    assert isinstance(charge, HostCall) and charge.response == {"ok": "receipt-250"}
    assert charge.request == [250, {"high-bits": 11, "low-bits": 22}]
    assert finished == InvocationFinished("inv-1", 'ok("receipt-250")', finished.timestamp)


def test_a_failure_that_was_not_retried_stops_replay() -> None:
    entries = golden("retried")[:5]  # inv-1 failed, and no Retried follows
    failed = InvocationFailed("inv-0", "instantiation failed")
    session = Scripted([entries[0], failed, *entries[1:]], live=False)
    assert run(session, GUESTS) == "stopped"
    assert session.next_invocation() is failed  # the cursor stays on it
    assert session.live_calls == []


def test_the_same_failure_on_replay_records_nothing() -> None:
    entries = golden("retried")
    session = Scripted(list(entries), live=False)
    assert run(session, GUESTS) == "failed"
    assert session.entries == entries
    assert isinstance(session.entries[session.cursor], InvocationFailed)


# -- divergence ------------------------------------------------------------------------------
def test_the_divergent_golden_log_names_agent_index_recorded_and_called() -> None:
    session = Scripted(golden("divergent"), live=False)
    with pytest.raises(Divergence) as caught:
        run(session, GUESTS)
    exc = caught.value
    assert (exc.agent, exc.index, exc.recorded, exc.called) == (str(AGENT), 3, BYTES, RAND)
    assert str(exc).startswith(
        f"replay of agent {AGENT} diverged at oplog index 3: the oplog recorded "
        f"'{BYTES}' but the component now calls '{RAND}'."
    )


def test_a_different_result_diverges_at_the_finish() -> None:
    entries = golden("approval")
    entries[-1] = InvocationFinished("inv-1", '"rejected"', entries[-1].timestamp)
    with pytest.raises(Divergence) as caught:
        run(Scripted(entries, live=False), GUESTS)
    assert caught.value.index == 8
    assert caught.value.recorded == 'result "rejected"'
    assert caught.value.called == 'result "approved by 12345678901234567890"'


def test_returning_early_diverges_at_the_entry_still_recorded() -> None:
    entries = golden("approval")
    with pytest.raises(Divergence) as caught:
        run(Scripted(entries, live=False), {"request-approval": lambda call, p: '"early"'})
    assert caught.value.index == 3
    assert caught.value.recorded == oplog.describe(entries[2])
    assert caught.value.called == "<return from request-approval>"


def test_a_host_call_outside_an_invocation_diverges() -> None:
    entries = golden("approval")
    entries.insert(1, HostCall(RAND, [], 1))
    with pytest.raises(Divergence) as caught:
        run(Scripted(entries, live=False), GUESTS)
    assert (caught.value.index, caught.value.recorded) == (2, "HostCall")
    assert caught.value.called == "<no host call outside an invocation>"


def test_a_call_where_a_non_call_was_recorded_names_its_kind() -> None:
    entries = golden("approval")[:2] + [InvocationFinished("inv-1", None)]
    with pytest.raises(Divergence) as caught:
        run(Scripted(entries, live=False), GUESTS)
    assert (caught.value.index, caught.value.recorded) == (3, "<invocation-finished>")


# -- the property: record live, replay the same, replay a different one ------------------
ARGS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    RAND: st.just(()),
    BYTES: st.tuples(st.integers(0, 8)),
    NOW: st.just(()),
    CREATE: st.just(()),
    KEY: st.just(()),
    MODE: st.tuples(st.booleans()),
}
calls = st.lists(st.sampled_from(sorted(ARGS)).flatmap(lambda n: ARGS[n].map(lambda a: (n, a))))


def script(seq: list[tuple[str, tuple[Any, ...]]]) -> Guest:
    def guest(call: Callable[..., Any], params: tuple[str, ...]) -> str:
        answers = [call(name, *args) for name, args in seq]
        return json.dumps(repr(answers))

    return guest


START = InvocationStarted("inv-1", "f", ())


def record_live(seq: list[tuple[str, tuple[Any, ...]]]) -> tuple[Scripted, list[Any]]:
    session = Scripted([AgentCreated(COMPONENT, "sha256:ff")], live=True)
    session.mark_persisted(START)
    answers = [call_in(session)(name, *args) for name, args in seq]
    session.mark_persisted(InvocationFinished("inv-1", None))
    return session, answers


@settings(max_examples=60, deadline=None)
@given(calls)
def test_replaying_the_recorded_sequence_gives_the_same_answers_with_no_live_call(
    seq: list[tuple[str, tuple[Any, ...]]],
) -> None:
    recorded, answers = record_live(seq)
    assert len(recorded.entries) == 3 + len(seq)  # one entry per non-PURE call
    replay = Scripted(list(recorded.entries), live=False)
    assert replay.next_invocation() == START
    assert [call_in(replay)(name, *args) for name, args in seq] == answers
    assert replay.expect_finished(START, None)
    assert replay.entries == recorded.entries
    assert replay.live_calls == [name for name, _ in seq if name == MODE]


@settings(max_examples=60, deadline=None)
@given(calls.filter(bool), st.data())
def test_a_sequence_differing_at_k_diverges_at_the_kth_calls_index(
    seq: list[tuple[str, tuple[Any, ...]]], data: st.DataObject
) -> None:
    recorded, _ = record_live(seq)
    k = data.draw(st.integers(0, len(seq) - 1))
    other = data.draw(st.sampled_from(sorted(set(ARGS) - {seq[k][0]})))
    changed = [*seq[:k], (other, data.draw(ARGS[other])), *seq[k + 1 :]]
    replay = Scripted(list(recorded.entries), live=False)
    with pytest.raises(Divergence) as caught:
        run(replay, {"f": script(changed)})
    # Entry 1 is AgentCreated, 2 the InvocationStarted: call k was recorded at k + 3.
    assert caught.value.index == k + 3
    assert caught.value.recorded == seq[k][0]
    assert caught.value.called == other
    assert caught.value.agent == str(AGENT)
