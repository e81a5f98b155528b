"""A resume reads an agent's oplog from its latest snapshot on (host/replay.py,
entries_for_resume): what precedes it is elided except the entries a run still looks at
(the creation, promises, jumps, snapshots), indexes stay the oplog's, and a snapshot that
a jump deleted is not the one resumed from. No wasm, no store: ``read_from`` is the
oplog as a list."""

from __future__ import annotations

import uuid
from typing import Any

from host import oplog
from host.ids import AgentId
from host.oplog import (
    AgentCreated,
    HostCall,
    InvocationFinished,
    InvocationStarted,
    Jump,
    PromiseCreated,
    Retried,
    Snapshot,
)
from host.oplog_codec import RESUME_KINDS, kind_of
from host.replay import Replay
from host.resume_entries import ELIDED, entries_for_resume, latest_snapshot

AGENT = AgentId(uuid.UUID(int=1), "a")


def _resume(log: list[Any]) -> list[Any]:
    kept = [(i, e) for i, e in enumerate(log, 1) if kind_of(e) in RESUME_KINDS]
    reads: list[int] = []

    def read_from(start: int) -> list[Any]:
        reads.append(start)
        return log[start - 1 :]

    entries = entries_for_resume(kept, read_from)
    assert len(reads) == 1
    return entries


def _invocation(n: int) -> list[Any]:
    return [
        InvocationStarted(f"i{n}", "add", ("1",)),
        HostCall("f", [n], n),
        InvocationFinished(f"i{n}", str(n)),
    ]


def test_without_a_snapshot_the_whole_oplog_is_read() -> None:
    log = [AgentCreated("c", "h"), *_invocation(1), *_invocation(2)]
    assert _resume(log) == log


def test_entries_before_the_snapshot_are_elided_but_the_ones_a_run_needs() -> None:
    log = [
        AgentCreated("c", "h"),
        *_invocation(1),
        PromiseCreated("golem:api/host@1.3.0.create-promise"),  # 5
        *_invocation(2),
        Snapshot("AAAAAAAAAAA=", "application/octet-stream"),  # 9
        *_invocation(3),
    ]
    entries = _resume(log)
    assert len(entries) == len(log)
    assert entries[0] == log[0] and entries[4] == log[4]  # creation, promise: kept
    assert all(entries[i] is ELIDED for i in (1, 2, 3, 5, 6, 7))
    assert entries[8:] == log[8:]
    assert latest_snapshot(entries) == latest_snapshot(log) == (9, "AAAAAAAAAAA=", log[8].mime_type)
    replay = Replay(AGENT, entries)
    replay.start_at(9)
    assert replay.next_invocation() == log[9]


def test_a_deleted_snapshot_is_not_resumed_from() -> None:
    log = [
        AgentCreated("c", "h"),
        *_invocation(1),
        Snapshot("AQ==", "m"),  # 5
        *_invocation(2),
        Snapshot("Ag==", "m"),  # 9
        Jump(9, 10),  # 10: the later snapshot is deleted
        *_invocation(3),
    ]
    entries = _resume(log)
    assert entries[4:] == log[4:] and all(e is ELIDED for e in entries[1:4])
    assert latest_snapshot(entries) == (5, "AQ==", "m")
    replay = Replay(AGENT, entries)
    assert replay.deleted == [(9, 10)]


def test_what_replay_gathers_from_the_log_is_the_same_either_way() -> None:
    log = [
        AgentCreated("c", "h"),
        Jump(2, 2),
        *_invocation(1),
        oplog.InvocationFailed("i9", "trap"),
        Retried("i9"),
        Snapshot("AQ==", "m"),
        *_invocation(2),
        Retried("i2"),
    ]
    full, resumed = Replay(AGENT, list(log)), Replay(AGENT, _resume(log))
    assert resumed.deleted == full.deleted == [(2, 2)]
    # Retries before the snapshot concern invocations it already holds.
    assert resumed.retried == {"i2"} and full.retried == {"i9", "i2"}
