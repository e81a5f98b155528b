"""Pollables the host hands out, and the wait that suspends an agent.

Promise pollables, timer pollables (wasi:clocks/monotonic-clock) and stream
pollables are one Python resource type, so they meet in one ``poll`` call.
Agent monotonic time is wall-clock nanoseconds, made non-decreasing per agent
and recorded, so a timer deadline means the same after a host restart. Within one
execution it advances with the host's monotonic clock from the agent's last reading,
so a wall-clock step neither moves it back nor stalls it nor jumps it forward; a new
execution (after a suspension, a restart, a dropped instance) starts from
``max(wall clock, the last reading replayed)``: never backwards. Timers compare
deadlines with this agent clock, and a suspension's durable wake-up is converted to
wall-clock time when it is committed (now + the time left on the agent clock).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from host.clock import steady_ns
from host.oplog import HostCall
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


def agent_clock(session: Session) -> int:
    """The agent's monotonic time now, without taking a reading."""
    if session.monotonic_base is None:
        return max(steady_ns(), session.last_monotonic)
    host_then, agent_then = session.monotonic_base
    return max(agent_then + (time.monotonic_ns() - host_then), session.last_monotonic)


def monotonic_now(session: Session) -> int:
    """A reading of the agent's monotonic clock; never below any earlier one."""
    now = agent_clock(session)
    session.last_monotonic = now
    session.monotonic_base = (time.monotonic_ns(), now)
    return now


def wall_clock_wake(session: Session, deadline_ns: int) -> int:
    """The wall-clock time at which to wake an agent for a deadline on its own clock.

    The scheduler wakes agents by the wall clock. While the agent clock agrees with it
    (within a second: no wall-clock step since the agent's last fresh start) the deadline
    is the wake-up itself, so a deadline rebuilt by a replay commits the very same
    wake-up; after a step the difference is applied (the time left, from now). The next
    execution compares the deadline with the agent clock again and suspends anew if it
    woke early."""
    offset = agent_clock(session) - steady_ns()
    wake = deadline_ns if abs(offset) < 1_000_000_000 else deadline_ns - offset
    return max(0, min(wake, MAX_WAKE_NS))


def replayed_reading(session: Session, recorded: int) -> int:
    """A recorded reading, replayed: it raises the floor, so the first live reading after
    replay is not below what the guest saw, whatever the wall clock did since."""
    session.last_monotonic = max(session.last_monotonic, recorded)
    return recorded


def restore_floor(session: Session, upto: int) -> None:
    """After a snapshot load: the floor the monotonic readings before oplog index ``upto``
    set (the replay, which starts after the snapshot, no longer visits them), so the
    first reading after recovery is not below one the guest saw before the snapshot."""
    for entry in session.entries[:upto]:
        if (
            isinstance(entry, HostCall)
            and entry.function.startswith("wasi:clocks/monotonic-clock@")
            and entry.function.endswith(".now")
            and isinstance(entry.response, int)
        ):
            replayed_reading(session, entry.response)


def is_ready(session: Session, pollable: Pollable) -> bool:
    if isinstance(pollable, PromisePollable):
        return session.promise(pollable.oplog_idx).completed
    if isinstance(pollable, TimerPollable):
        return agent_clock(session) >= pollable.deadline_ns
    return True


def wait(session: Session, pollables: list[Pollable]) -> list[int]:
    """Indexes of the ready pollables; waits briefly for a near timer, else suspends."""
    if not pollables:
        raise ValueError("poll called with an empty list of pollables")
    seen: list[int] = []  # what a parked thread's readiness check found
    while True:
        ready = [i for i, p in enumerate(pollables) if is_ready(session, p)]
        if ready:
            return ready
        deadlines = [p.deadline_ns for p in pollables if isinstance(p, TimerPollable)]
        nearest = min(deadlines) if deadlines else None
        left = None if nearest is None else nearest - agent_clock(session)
        if left is not None and left <= SHORT_WAIT_NS:
            session.check_deadline()  # a loop in a host call: the epoch cannot stop it
            time.sleep(max(0.0, left / 1e9))
            continue
        promises = tuple(sorted({p.oplog_idx for p in pollables if isinstance(p, PromisePollable)}))
        wake_at = None if nearest is None else wall_clock_wake(session, nearest)
        if session.park is not None:  # suspend, keeping the instance a while (parking.py)

            def any_ready() -> bool:
                seen[:] = [i for i, p in enumerate(pollables) if is_ready(session, p)]
                return bool(seen)

            seen.clear()  # (park may go on without calling it: completed meanwhile)
            parked = session.park(promises, wake_at, left, any_ready)
            if parked:
                if seen:  # read just now by the woken thread: not read again
                    return seen
                continue  # woken with something ready: the guest goes on, live
            if parked is None:
                raise Suspend(promises, wake_at, committed=True)
        raise Suspend(promises, wake_at)
