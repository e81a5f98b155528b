"""Parking: a suspended agent's instance kept alive, briefly, on the thread that ran it.

Suspension normally drops the instance (a host call raised into the guest, and wasmtime's
store is unusable after that), so the completion that wakes the agent pays for a fresh
instance and a replay of its whole invocation: for the 19 MB componentize-py approval
example about 10 ms of guest code run again (issue 13, scripts/trace_resume.py). A
**parked** agent is suspended just as durably (the Suspended entry and the agent's status
are committed before anything else happens), but the host call that found nothing ready
does not raise yet: its thread waits, holding the live instance, for up to
``hold_s`` seconds. A completion of one of its promises in this process wakes it
(:meth:`Parking.poke`) and the host call simply returns into the running guest: no
instance, no replay.

Correctness does not depend on the parked thread: the oplog and the store say exactly what
they say for a dropped instance, so a crash, a restart or another process replays as
ever. Continuing live after a committed Suspended entry is what a replay would do (it
passes over the marker and carries on from the same state, which the guest reached
deterministically). On waking the parked thread first reads the agent: only if it is still
the suspended agent it left (same status, same oplog length, same creation) and one of its
pollables is ready does it go on; otherwise (interrupted, deleted, updated, moved on by
another process, woken for something else) it gives up as a plain suspension would have
ended, and the run loop reads the store again as usual.

Parking never costs another agent a thread: an agent parks only while the pool keeps at
least one thread free (``room``), and work arriving for a full pool makes the
longest-parked agent give up at once (:meth:`Parking.evict_one`). Whatever wants the agent
itself (delete, interrupt, an update, a shutdown) lets it go first (:meth:`release`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from host.ids import AgentId
from host.oplog import Suspended
from host.store import SUSPENDED

if TYPE_CHECKING:
    from host.runtime.interrupts import StoreWatch
    from host.runtime.session import ParkHook, Session

HOLD_S = 2.0  # how long a parked agent keeps its instance, at most


class _Spot:
    """One parked agent: why its thread was woken (None: it was not yet)."""

    __slots__ = ("reason",)

    def __init__(self) -> None:
        self.reason: str | None = None


class Parking:
    """The agents parked in this process (see the module docstring)."""

    def __init__(
        self,
        room: Callable[[], bool],
        notify: Callable[[AgentId], None],
        hold_s: float = HOLD_S,
    ) -> None:
        self.room = room  # whether the pool can spare the calling thread now
        self.notify = notify  # the agent's state changed (held requests look again)
        self.hold_s = hold_s
        self._cond = threading.Condition()
        self._spots: dict[AgentId, _Spot] = {}  # insertion order: longest parked first
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._spots)

    def park(
        self,
        session: Session,
        promises: tuple[int, ...],
        wake_at_ns: int | None,
        left_ns: int | None,
        ready: Callable[[], bool],
        seam: Callable[[AgentId], None] | None = None,
    ) -> bool | None:
        """Called by a host call that would raise Suspend(promises, wake_at_ns): commit
        the suspension and wait. True: woken with something ready (look again and go on,
        live); None: the suspension is committed and the agent gave up its instance
        (raise ``Suspend(..., committed=True)``); False: not parked, nothing written
        (raise Suspend as ever). ``left_ns``: nanoseconds to the nearest timer, if any;
        ``seam``: the executor's before_suspend test seam."""
        agent = session.agent
        if self._closed or session.scratch or not self.room():
            return False
        first, pending = session.pending()
        marker = Suspended(promises, wake_at_ns)
        if seam is not None:
            seam(agent)
        # In place before the suspension commits: a completion that sees the agent
        # suspended and pokes at once must find the spot (or it would wait for a scan).
        spot = _Spot()
        with self._cond:
            self._spots[agent] = spot
        try:
            suspended = session.store.suspend(agent, pending, first, marker)
        except BaseException:
            with self._cond:
                self._spots.pop(agent, None)
            raise
        if not suspended:
            with self._cond:
                self._spots.pop(agent, None)
            return True  # completed meanwhile (spec rule 4): look again
        session.mark_persisted(marker)
        self.notify(agent)  # held "until suspended" requests answer now
        wait_s = self.hold_s if left_ns is None else min(self.hold_s, max(0, left_ns) / 1e9)
        deadline = time.monotonic() + wait_s
        with self._cond:
            while spot.reason is None and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    spot.reason = "time"
                    break
                self._cond.wait(remaining)
            if self._closed:
                spot.reason = "closed"
            self._spots.pop(agent, None)
            reason = spot.reason
        if reason in ("evicted", "closed"):
            return None
        if reason == "time" and left_ns is None:
            return None  # nothing but a completion could have made it ready
        return True if self._still_mine(session) and ready() else None

    def hook(
        self,
        session: Session,
        watch_of: Callable[[AgentId], StoreWatch | None],
        seam: Callable[[], Callable[[AgentId], None] | None],
    ) -> ParkHook:
        """The session's ``park``: :meth:`park`, and once woken to go on, the time it was
        parked added to the invocation's deadlines (wall clock and epoch watch): time
        parked is time suspended, which a replayed invocation would not count either."""

        def park(
            promises: tuple[int, ...],
            wake_at_ns: int | None,
            left_ns: int | None,
            ready: Callable[[], bool],
        ) -> bool | None:
            began = time.monotonic_ns()
            outcome = self.park(session, promises, wake_at_ns, left_ns, ready, seam())
            if outcome:
                parked = time.monotonic_ns() - began
                if session.deadline_ns is not None:
                    session.deadline_ns += parked
                watch = watch_of(session.agent)
                if watch is not None and watch.expires_ns is not None:
                    watch.expires_ns += parked
            return outcome

        return park

    @staticmethod
    def _still_mine(session: Session) -> bool:
        """Whether the agent is still the suspended agent this instance left."""
        try:
            record = session.store.get_agent(session.agent)
        except Exception:  # deleted meanwhile, or the store failed: give the instance up
            return False
        return record.status == SUSPENDED and record.oplog_length == session.persisted

    def poke(self, agent: AgentId) -> bool:
        """The agent has work: wake its parked thread. False if it is not parked, so the
        caller schedules a run as usual.

        Also True if its thread was woken already but has not left its spot: it reads the
        store only after that (whether to go on live, then its run's next step), so it
        sees the caller's work; a second run scheduled behind it (a scan that found the
        completed promise before the agent went on) would only take the lease and find
        nothing to do, on the way of the held answer (issue 13)."""
        with self._cond:
            spot = self._spots.get(agent)
            if spot is None:
                return False
            if spot.reason is None:
                spot.reason = "work"
                self._cond.notify_all()
            return True

    def release(self, agent: AgentId) -> bool:
        """Make the agent's parked thread give up its instance; whether it was parked."""
        with self._cond:
            spot = self._spots.get(agent)
            if spot is None:
                return False
            if spot.reason is None:
                spot.reason = "evicted"
                self._cond.notify_all()
            return True

    def evict_one(self) -> bool:
        """The pool needs a thread: the longest-parked agent gives up its instance."""
        with self._cond:
            for spot in self._spots.values():
                if spot.reason is None:
                    spot.reason = "evicted"
                    self._cond.notify_all()
                    return True
            return False

    def close(self) -> None:
        """Shutdown: every parked agent gives up now, and none parks any more."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def is_parked(self, agent: AgentId) -> bool:
        with self._cond:
            return agent in self._spots
