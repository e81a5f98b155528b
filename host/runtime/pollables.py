"""Pollables the host hands out, and the wait that suspends an agent.

Promise pollables, timer pollables (wasi:clocks/monotonic-clock) and stream
pollables are one Python resource type, so they meet in one ``poll`` call.
Agent monotonic time is wall-clock nanoseconds, made non-decreasing per agent
and recorded, so a timer deadline means the same after a host restart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from host.ids import PromiseId
from host.runtime.session import Session, Suspend

# A timer due within this long is waited for in place; a longer wait suspends
# the agent (dropping its instance) and a durable wake-up resumes it.
SHORT_WAIT_NS = 200_000_000
# The latest wake-up the store can hold (SQLite integers are signed 64-bit): about the
# year 2262. A timer further away (sleep(2^64-1), an instant near the end of u64) waits
# until then, which is as good as forever, instead of failing the suspension.
MAX_WAKE_NS = 2**63 - 1


@dataclass
class PromisePollable:
    oplog_idx: int


@dataclass
class TimerPollable:
    deadline_ns: int


@dataclass
class ReadyPollable:
    """Streams of this host never block (stdout is captured, stdin is empty)."""


Pollable = PromisePollable | TimerPollable | ReadyPollable


def monotonic_now(session: Session) -> int:
    now = max(time.time_ns(), session.last_monotonic)
    session.last_monotonic = now
    return now


def is_ready(session: Session, pollable: Pollable) -> bool:
    if isinstance(pollable, PromisePollable):
        record = session.store.get_promise(PromiseId(session.agent, pollable.oplog_idx))
        return record.completed
    if isinstance(pollable, TimerPollable):
        return time.time_ns() >= pollable.deadline_ns
    return True


def wait(session: Session, pollables: list[Pollable]) -> list[int]:
    """Indexes of the ready pollables; waits briefly for a near timer, else suspends."""
    if not pollables:
        raise ValueError("poll called with an empty list of pollables")
    while True:
        ready = [i for i, p in enumerate(pollables) if is_ready(session, p)]
        if ready:
            return ready
        deadlines = [p.deadline_ns for p in pollables if isinstance(p, TimerPollable)]
        nearest = min(deadlines) if deadlines else None
        if nearest is not None and nearest - time.time_ns() <= SHORT_WAIT_NS:
            time.sleep(max(0.0, (nearest - time.time_ns()) / 1e9))
            continue
        promises = tuple(sorted({p.oplog_idx for p in pollables if isinstance(p, PromisePollable)}))
        raise Suspend(promises, None if nearest is None else min(nearest, MAX_WAKE_NS))
