"""Golem's durability controls as cursor rules (host.replay), on golden oplogs, no wasm.

Atomic regions cut short re-execute live, jumps back delete entries that every later
replay skips, persist-nothing zones run again on replay, and a remote write made with
idempotence off that never completed fails instead of running again.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from host import oplog
from host.errors import Divergence
from host.oplog import (
    BeginAtomicRegion,
    BeginRemoteWrite,
    ChangePersistenceLevel,
    EndAtomicRegion,
    EndRemoteWrite,
    Entry,
    HostCall,
    InvocationFailed,
    InvocationFinished,
    InvocationStarted,
    Jump,
    Retried,
    Suspended,
)
from host.replay import DurabilityError, HostFunc, Kind, NotIdempotent, Restart, host_call
from host.values.types import U64, FuncSig
from tests.unit.test_replay import GOLDEN, RAND, Scripted, Suspend, call_in, golden

SEND = "wasi:http/types@0.2.3.[method]future-incoming-response.get"


def _send_live(session: Scripted, amount: int) -> int:
    # Like the HTTP exchange: journaled, records and commits its own entry.
    if not session.live_allowed:
        raise AssertionError("sent live during replay")
    session.live_calls.append(SEND)
    if not session.persist_nothing:
        session.record(HostCall(SEND, [amount], amount * 2))
        session.flush()
    return amount * 2


SEND_SIG = FuncSig(SEND, (("p0", U64),), U64)
SEND_SPEC = HostFunc(
    _send_live,
    Kind.JOURNALED,
    replay=lambda s, entry, index: entry.response,
    remote_write=True,
)


class Guest:
    """A scripted guest with Golem's durability controls beside the host calls."""

    def __init__(self, session: Scripted) -> None:
        self.s = session
        self.call = call_in(session)

    def oplog_index(self) -> int:
        return int(host_call(self.s, INDEX_SIG, INDEX_SPEC, (), ()))

    def send(self, amount: int) -> int:
        return int(host_call(self.s, SEND_SIG, SEND_SPEC, SEND_SIG.param_types, (amount,)))


INDEX = "golem:api/host@1.3.0.get-oplog-index"
INDEX_SIG = FuncSig(INDEX, (), U64)
INDEX_SPEC = HostFunc(lambda s: s.next_index - 1, Kind.READ)
Body = Callable[[Guest], str]
STARTED = InvocationStarted("inv-1", "run", ())


def run_once(entries: list[Entry], body: Body, *, live: bool = True) -> tuple[str, Scripted]:
    """One run of a fresh instance over ``entries`` (replay, then live), as the executor
    does: the invocation is started if the log does not hold it yet."""
    session = Scripted(entries, live=live)
    started = session.next_invocation()
    if started is None:
        session.mark_persisted(STARTED)
    try:
        result = body(Guest(session))
    except Restart:
        return "restart", session
    except Suspend as suspend:
        session.mark_persisted(Suspended(suspend.promises, suspend.wake_at_ns))
        return "suspended", session
    except (Divergence, AssertionError):
        raise
    except Exception as exc:
        session.skip_markers()
        if not session.replaying:
            session.mark_persisted(InvocationFailed("inv-1", str(exc)))
            session.mark_persisted(Retried("inv-1"))
        return f"failed: {type(exc).__name__}", session
    if not session.expect_finished(STARTED, result):
        session.mark_persisted(InvocationFinished("inv-1", result))
    return "finished", session


def until_done(entries: list[Entry], body: Body, runs: int = 10) -> Scripted:
    for _ in range(runs):
        ended, session = run_once(entries, body)
        entries = session.entries
        if ended == "finished":
            return session
    raise AssertionError(f"not finished after {runs} runs")


def kinds(entries: list[Entry]) -> list[str]:
    return [oplog.kind(e) for e in entries]


# -- atomic regions ----------------------------------------------------------------------
def region_that_fails_twice(g: Guest) -> str:
    """Golem's atomic-region test, scripted: two reads inside a region, then a trap on the
    first two attempts (told by how many region attempts the log already holds)."""
    begin = g.s.begin_atomic_region()
    a = g.call(RAND)
    b = g.call(RAND)
    attempts = sum(isinstance(e, Jump) for e in g.s.entries)
    if attempts < 2:
        raise RuntimeError("trap inside the region")
    g.s.end_atomic_region(begin)
    c = g.call(RAND)
    return f"{a},{b},{c}"


def test_a_region_cut_short_by_a_trap_reexecutes_live() -> None:
    first: list[Entry] = [oplog.AgentCreated("c", "h")]
    ended, session = run_once(first, region_that_fails_twice)
    assert ended == "failed: RuntimeError" and session.live_calls == [RAND, RAND]
    ended, session = run_once(session.entries, region_that_fails_twice)
    # The retry replays nothing of the region: both reads ran live again, and a Jump
    # deleted the first attempt (kept in the log).
    assert ended == "failed: RuntimeError" and session.live_calls == [RAND, RAND]
    jump = next(e for e in session.entries if isinstance(e, Jump))
    assert (jump.start, jump.end) == (4, 8)  # just after the begin (3) up to itself
    done = until_done(session.entries, region_that_fails_twice)
    assert done.live_calls == [RAND, RAND, RAND]
    # A later replay of the whole log skips both failed attempts, live nothing.
    again = Scripted(list(done.entries), live=False)
    ended, replayed = run_once(again.entries, region_that_fails_twice, live=False)
    assert ended == "finished" and replayed.entries == done.entries
    assert kinds(done.entries).count("begin-atomic-region") == 1
    assert kinds(done.entries).count("end-atomic-region") == 1


def test_a_region_cut_short_by_a_crash_reexecutes_live() -> None:
    """A log that ends inside a region, no failure recorded (the process died)."""
    entries: list[Entry] = [
        oplog.AgentCreated("c", "h"),
        STARTED,
        BeginAtomicRegion(),
        HostCall(RAND, [], 111),
    ]

    def body(g: Guest) -> str:
        begin = g.s.begin_atomic_region()
        a = g.call(RAND)
        g.s.end_atomic_region(begin)
        return str(a)

    ended, session = run_once(list(entries), body)
    assert ended == "finished" and session.live_calls == [RAND]
    last = session.entries[-1]
    assert isinstance(last, InvocationFinished) and last.result == "1000003"  # the live read
    assert isinstance(session.entries[4], Jump) and session.entries[4].start == 4


def test_a_closed_region_and_a_waiting_one_replay_from_the_record() -> None:
    closed = golden("atomic-closed")
    ended, session = run_once(list(closed), lambda g: _closed_body(g), live=False)
    assert ended == "finished" and session.entries == closed
    # A region whose log ends in a suspension was waiting, not cut short.
    waiting: list[Entry] = [*closed[:4], Suspended((), 5)]

    def waits(g: Guest) -> str:
        g.s.begin_atomic_region()
        g.call(RAND)
        raise Suspend((), 5)

    ended, session = run_once(list(waiting), waits, live=False)
    assert ended == "suspended" and not any(isinstance(e, Jump) for e in session.entries)


def _closed_body(g: Guest) -> str:
    begin = g.s.begin_atomic_region()
    a = g.call(RAND)
    g.s.end_atomic_region(begin)
    return str(a)


def test_mark_end_with_an_unknown_region_fails_the_call() -> None:
    session = Scripted([oplog.AgentCreated("c", "h"), STARTED])
    session.next_invocation()
    with pytest.raises(DurabilityError, match="names no atomic region"):
        session.end_atomic_region(2)


# -- jumps back --------------------------------------------------------------------------
def jumper(g: Guest) -> str:
    """Golem's jump test, scripted: marks its place with get-oplog-index and travels back
    to it while the mark is small; after a jump the mark is taken live again, further on."""
    g.call(RAND)  # before the mark: replayed on every attempt
    mark = g.oplog_index()
    second = g.call(RAND)  # after it: runs again on every attempt
    if mark < 10:
        g.s.jump_back(mark)
    return f"{mark}:{second}"


def test_a_jump_back_deletes_the_entries_after_the_target_and_continues_from_it() -> None:
    entries: list[Entry] = [oplog.AgentCreated("c", "h")]
    ended, session = run_once(entries, jumper)
    assert ended == "restart"
    jump = session.entries[-1]
    # The mark (index 4) answered 3; entries 4 up to the jump itself are deleted.
    assert isinstance(jump, Jump) and (jump.start, jump.end) == (4, 6)
    done = until_done(session.entries, jumper)
    # The first read (index 3) replayed every time; the rest ran again per attempt.
    assert done.live_calls == [RAND]
    first = done.entries[2]
    assert isinstance(first, HostCall) and first.response == 1000003
    jumps = [(j.start, j.end) for j in done.entries if isinstance(j, Jump)]
    assert jumps == [(4, 6), (7, 9), (10, 12)]
    assert done.entries[-1] == InvocationFinished("inv-1", "12:1000003", done.entries[-1].timestamp)
    # Nothing is removed, and a full replay skips the deleted entries without a live call.
    assert kinds(done.entries).count("host-call") == 9
    ended, replayed = run_once(list(done.entries), jumper, live=False)
    assert ended == "finished" and replayed.entries == done.entries


def test_jumps_forward_into_deleted_regions_or_before_the_invocation_fail() -> None:
    session = Scripted([oplog.AgentCreated("c", "h"), STARTED, HostCall(RAND, [], 1)])
    with pytest.raises(DurabilityError, match="forward"):
        session.jump_back(9)
    with pytest.raises(DurabilityError, match="before the running invocation"):
        session.jump_back(1)
    session.deleted.append((3, 3))
    with pytest.raises(DurabilityError, match="deleted region"):
        session.jump_back(2)


def forever_jumper(g: Guest) -> str:
    """A guest that travels back to its mark on every attempt: it never returns."""
    mark = g.oplog_index()
    g.call(RAND)
    g.s.jump_back(mark)
    return "unreachable"


class JumpLimited(Scripted):
    def jump_limit(self) -> int | None:
        return 3


def test_the_jump_bound_is_counted_in_the_log_so_it_survives_restarts() -> None:
    """Every run below is a fresh session over the log alone (a restart, as after a crash):
    nothing but the oplog carries the count, and the fourth jump fails the invocation."""
    entries: list[Entry] = [oplog.AgentCreated("c", "h")]
    endings = []
    for _ in range(6):
        session = JumpLimited(entries)
        started = session.next_invocation()
        if started is None:
            session.mark_persisted(STARTED)
        try:
            forever_jumper(Guest(session))
        except Restart:
            endings.append("restart")
        except DurabilityError as exc:
            endings.append("failed")
            assert "jump number 4" in str(exc) and "max_oplog_jumps" in str(exc)
            break
        entries = session.entries
    assert endings == ["restart", "restart", "restart", "failed"]
    assert kinds(entries).count("jump") == 3


def test_jumps_of_earlier_invocations_do_not_count() -> None:
    done: list[Entry] = [oplog.AgentCreated("c", "h"), STARTED, Jump(3, 3), Jump(3, 4)]
    done += [Jump(3, 5), InvocationFinished("inv-1", "x")]
    session = JumpLimited([*done, InvocationStarted("inv-2", "run", ())])
    assert session.next_invocation() is not None  # inv-1, replayed
    session.cursor = len(session.entries)
    session.mark_persisted(HostCall(RAND, [], 1))
    with pytest.raises(Restart):
        session.jump_back(7)


# -- persistence level -------------------------------------------------------------------
def persist_nothing_zone(g: Guest) -> str:
    a = g.call(RAND)
    g.s.set_persistence_level("persist-nothing")
    b = g.call(RAND)
    s = g.send(5)
    g.s.set_persistence_level("smart")
    c = g.call(RAND)
    return f"{a},{b},{s},{c}"


def test_persist_nothing_calls_are_not_recorded_and_run_again_on_replay() -> None:
    done = until_done([oplog.AgentCreated("c", "h")], persist_nothing_zone)
    assert kinds(done.entries) == [
        "agent-created",
        "invocation-started",
        "host-call",
        "change-persistence-level",
        "change-persistence-level",
        "host-call",
        "invocation-finished",
    ]
    assert done.entries[3] == ChangePersistenceLevel("persist-nothing", done.entries[3].timestamp)
    # Replay: the recorded reads are answered from the log, the zone's calls run again.
    session = Scripted(list(done.entries))
    session.next_invocation()
    persist_nothing_zone(Guest(session))
    assert session.live_calls == [RAND, SEND]
    assert session.entries == done.entries


# -- idempotence mode --------------------------------------------------------------------
def sends_non_idempotent(g: Guest) -> str:
    g.s.idempotent = False
    return str(g.send(21))


def test_a_remote_write_with_idempotence_off_is_bracketed() -> None:
    done = until_done([oplog.AgentCreated("c", "h")], sends_non_idempotent)
    assert kinds(done.entries)[2:] == [
        "begin-remote-write",
        "host-call",
        "end-remote-write",
        "invocation-finished",
    ]
    assert done.entries[4] == EndRemoteWrite(3, done.entries[4].timestamp)
    ended, replayed = run_once(list(done.entries), sends_non_idempotent, live=False)
    assert ended == "finished" and replayed.entries == done.entries


def test_an_interrupted_non_idempotent_write_fails_instead_of_running_again() -> None:
    entries: list[Entry] = [oplog.AgentCreated("c", "h"), STARTED, BeginRemoteWrite(SEND)]
    ended, session = run_once(list(entries), sends_non_idempotent, live=False)
    assert ended == "failed: NotIdempotent" and session.live_calls == []
    assert isinstance(session.entries[3], InvocationFailed)
    assert "idempotence mode off" in session.entries[3].error
    with pytest.raises(NotIdempotent):
        run_twice = Scripted(list(entries), live=False)
        run_twice.next_invocation()
        sends_non_idempotent(Guest(run_twice))


def test_with_idempotence_on_an_interrupted_write_runs_again() -> None:
    entries: list[Entry] = [oplog.AgentCreated("c", "h"), STARTED]
    ended, session = run_once(list(entries), lambda g: str(g.send(21)))
    assert ended == "finished" and session.live_calls == [SEND]
    assert "begin-remote-write" not in kinds(session.entries)


def test_the_new_entries_round_trip() -> None:
    for entry in (
        BeginAtomicRegion(1),
        EndAtomicRegion(3, 2),
        BeginRemoteWrite(SEND, 3),
        EndRemoteWrite(4, 5),
        Jump(4, 9, 6),
        ChangePersistenceLevel("persist-nothing", 7),
    ):
        assert oplog.decode(oplog.encode(entry)) == entry
        assert oplog.describe(entry)
    data = json.loads((GOLDEN / "atomic-closed.json").read_text())
    assert [d["type"] for d in data][2:4] == ["begin-atomic-region", "host-call"]
