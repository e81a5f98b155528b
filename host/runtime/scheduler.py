"""When agents run: the seam between the executor and whoever drives it.

The executor tells its :class:`Scheduler` two things: an agent has work now (a promise it
waits on was completed, it was resumed) and an invocation ended. Two schedulers exist:

- :class:`InlineScheduler` (the CLI, the in-process conformance adapter, tests): woken
  agents run on the calling thread when the current operation ends, so a command returns
  once everything it caused has come to rest.
- :class:`PoolScheduler` (the server): agents run on a small thread pool (wasmtime
  releases the GIL while guest code runs); one agent never runs on two threads. Work
  reaches the pool directly (an invocation or completion received by this process), from
  guests (a promise completed by another agent wakes its owner) and from the store: a
  scanner looks for due work every ``poll_interval`` seconds (timers, scheduled
  invocations, completions written
  by another process such as the CLI, agents a crash interrupted). Waiting for an
  invocation holds no thread: waiters are events set when the agent's run ends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from host.clock import steady_ns
from host.errors import AgentNotFound, LeaseHeld, LeaseLost, StoreError
from host.ids import AgentId
from host.runtime.parking import HOLD_S, Parking

if TYPE_CHECKING:
    from host.runtime.executor import Executor

log = logging.getLogger("agent-host")


class Scheduler(Protocol):
    def attach(self, executor: Executor) -> None:
        """Called once by the executor it schedules for."""

    def wake(self, agent: AgentId) -> None:
        """The agent has work now; run it soon (or after its current run)."""

    def finished(self, agent: AgentId, invocation_id: str) -> None:
        """An invocation of the agent ended (done or failed)."""

    def settle(self, agent: AgentId | None) -> list[str]:
        """An operation just made ``agent`` (or agents it woke) due: run it now or soon.
        Returns the invocations that ended on this thread meanwhile (inline only)."""

    def busy(self, agent: AgentId) -> bool:
        """Whether a run of the agent is queued or under way here (a resumed agent's
        replay, a woken agent's run): until it ends, deleting the agent is refused."""

    async def wait_async(self, agent: AgentId, done: Callable[[], bool], timeout: float) -> None:
        """Return once ``done()`` holds, the timeout passes or shutdown begins."""


class InlineScheduler:
    """Runs woken agents on the calling thread, after the operation that woke them."""

    def __init__(self) -> None:
        self._executor: Executor | None = None
        self._woken: list[AgentId] = []
        self._lock = threading.Lock()
        self._local = threading.local()  # .finished: the collector of `_collecting`

    def attach(self, executor: Executor) -> None:
        self._executor = executor

    def wake(self, agent: AgentId) -> None:
        with self._lock:
            if agent not in self._woken:
                self._woken.append(agent)

    def finished(self, agent: AgentId, invocation_id: str) -> None:
        collected: list[str] | None = getattr(self._local, "finished", None)
        if collected is not None:
            collected.append(invocation_id)

    def settle(self, agent: AgentId | None) -> list[str]:
        with self._collecting() as finished:
            if agent is not None:
                self.run(agent)
            else:
                self.drain()
        return finished

    def busy(self, agent: AgentId) -> bool:
        # `settle` ran it on the caller's thread: only a run on another thread (a test's)
        # can be under way.
        return self._executor is not None and self._executor.is_running_here(agent)

    async def wait_async(self, agent: AgentId, done: Callable[[], bool], timeout: float) -> None:
        """Nothing runs an agent here but the calling thread, which has let it come to rest
        already: there is nothing to wait for."""

    @contextmanager
    def _collecting(self) -> Iterator[list[str]]:
        """The ids of the invocations that end on this thread inside the block."""
        outer = getattr(self._local, "finished", None)
        mine: list[str] = []
        self._local.finished = mine
        try:
            yield mine
        finally:
            if outer is not None:
                outer.extend(mine)
            self._local.finished = outer

    def run(self, agent: AgentId) -> None:
        """Run the agent while it has work, then every agent woken meanwhile. From inside
        a run (a guest's host call, a test seam) it only wakes the agent: the thread's
        outer run or drain picks it up."""
        assert self._executor is not None
        if self._executor.in_run():
            self.wake(agent)
            return
        self._executor.run_agent_when_free(agent)
        self.drain()

    def drain(self) -> None:
        """Run every woken agent (unless called from inside a run)."""
        assert self._executor is not None
        if self._executor.in_run():
            return
        while True:
            with self._lock:
                if not self._woken:
                    return
                agent = self._woken.pop(0)
            try:
                self._executor.run_agent_when_free(agent)
            except (LeaseHeld, AgentNotFound):
                pass  # held past the lease time, or deleted meanwhile


class _Waiter:
    """One held request: an asyncio event, set from any thread (on its loop) when its
    agent's state may have changed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()

    def set(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.event.set)
        except RuntimeError:
            pass  # the loop closed: nobody waits any more


class PoolScheduler:
    """A thread pool running agents, a scanner for due work, and held waits."""

    # The executor keeps the lease of every agent it ran until the process stops
    # (host/runtime/executor.py, "Leases"): the server runs them again and again.
    keeps_leases = True

    def __init__(
        self, workers: int = 4, poll_interval: float = 0.25, park_s: float = HOLD_S
    ) -> None:
        self.poll_interval = poll_interval
        self.park_s = park_s  # 0: no parking (suspension drops the instance at once)
        self._executor: Executor | None = None
        self._workers = workers
        # Runs under way (a parked agent's included) and runs submitted, not yet started:
        # an agent parks only while this leaves a thread free (host/runtime/parking.py).
        self._active = 0
        self._queued = 0
        self._parking: Parking | None = None
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agent")
        self._lock = threading.Lock()
        self._scheduled: set[AgentId] = set()
        self._again: set[AgentId] = set()
        # When each scheduled agent's run started, as a count of run starts (absent: it
        # waits in the pool's queue): a scan's find of an agent whose run started after
        # the scan read the store, or has not started yet, needs no second run.
        self._starts: dict[AgentId, int] = {}
        # Scheduled agents with work this process knows of (not only a scan's find): if
        # another process holds one, it is told (Store.wake_owner) rather than left to
        # its scanner.
        self._told: set[AgentId] = set()
        self._start_count = 0
        self._waiters: dict[AgentId, set[_Waiter]] = {}
        self._stopping = threading.Event()
        self.draining = threading.Event()
        self._scanner: threading.Thread | None = None
        self._marks: dict[AgentId, tuple[str, int]] = {}  # waited-on agents at the last scan
        self._unlisten: Callable[[], None] | None = None

    def attach(self, executor: Executor) -> None:
        self._executor = executor
        if self.park_s > 0:
            self._parking = executor.parking = Parking(self._room, self._notify, self.park_s)

    def _room(self) -> bool:
        """Whether a running agent may keep its thread parked: one stays free for others."""
        with self._lock:
            return self._workers - self._active - self._queued >= 1

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Start scanning the store; the first scan resumes everything left due."""
        # Wake-ups other processes send through the store (PostgreSQL's LISTEN/NOTIFY,
        # SQLite's local channel): their completions and invocations reach this process
        # at once, not at a scan. Listening begins before the first scan, so work sent
        # in between is not left to the second scan (a poll interval later).
        assert self._executor is not None
        self._unlisten = self._executor.store.listen(self._store_event, self._executor.owner)
        self._scanner = threading.Thread(target=self._scan_loop, name="scanner", daemon=True)
        self._scanner.start()

    def _store_event(self, agent: AgentId, work: bool) -> None:
        # Work is acted on by the process holding the agent only: whoever sent it also
        # scheduled the agent itself (and tells the holder it finds), so the others need
        # not race for the lease (one lease transaction each, on PostgreSQL where every
        # process hears every NOTIFY). Anything missed is left to the scanner.
        assert self._executor is not None
        if work and self._executor.holds(agent):
            self._executor.interrupt_for_update(agent)  # the CLI's automatic update
            self.schedule(agent)
        self._notify(agent)

    def drain(self) -> None:
        """Shutdown has begun: release every held wait now (they answer with the
        invocation's current state) so the server can close its connections."""
        self.draining.set()
        self._notify_all()

    def stop(self) -> None:
        """Stop taking work, interrupt running guests (they stay resumable) and wait for
        their threads to reach a durable point."""
        self._stopping.set()
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None  # stop() may be called again by the service's close()
        if self._scanner is not None:
            self._scanner.join(30.0)
        if self._executor is not None:
            self._executor.stop_running()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _scan_loop(self) -> None:
        unusable: str | None = None  # the store error last reported, said once
        while not self._stopping.is_set():
            try:
                self.scan()
                unusable = None
            except StoreError as exc:  # one line per new error, not a traceback a scan
                if str(exc) != unusable:
                    log.error("scanning for due agents failed: %s", exc)
                unusable = str(exc)
            except Exception:  # the scanner must outlive a bad row or a busy database
                log.exception("scanning for due agents failed")
            self._stopping.wait(self.poll_interval)

    def scan(self) -> None:
        assert self._executor is not None
        with self._lock:
            began = self._start_count
        now = steady_ns()
        calls = self._executor.agent_calls
        if calls is not None:  # scheduled invocations now due are queued (and woken)
            calls.fire_due_schedules(now)
        for agent in self._executor.store.runnable_agents(now):
            self.schedule(agent, scanned=began)
        # An invocation can also end in another process (the CLI running an agent of the
        # same store): one query per scan finds the waited-on agents whose state moved.
        with self._lock:
            waited = list(self._waiters)
        if not waited:
            self._marks = {}
            return
        marks = self._executor.store.agent_marks(waited)
        for agent in waited:
            if agent not in self._marks or marks.get(agent) != self._marks[agent]:
                self._notify(agent)  # changed, gone, or first seen: let its waiters look
        self._marks = marks

    # -- scheduling -----------------------------------------------------------------
    def wake(self, agent: AgentId) -> None:
        if self._executor is not None:
            # Running here with an automatic update just queued (REST, a guest's
            # update-worker): Golem restarts the invocation on the new version.
            self._executor.interrupt_for_update(agent)
        self.schedule(agent)

    def schedule(self, agent: AgentId, scanned: int | None = None) -> None:
        """Run the agent soon; if it is running now, run it again afterwards. From a scan
        (``scanned``: the run starts counted when the scan read the store), an agent whose
        run is still queued, or started after that read, is left to that run: it reads
        everything the scan saw (a woken agent used to be run twice, issue 13)."""
        if self._stopping.is_set():
            return
        if self._parking is not None and self._parking.poke(agent):
            return  # parked here: its thread looks at the store now and goes on, or ends
        with self._lock:
            if scanned is None:
                self._told.add(agent)
            if agent in self._scheduled:
                started = self._starts.get(agent)
                if scanned is not None and (started is None or started > scanned):
                    return
                self._again.add(agent)
                return
            self._scheduled.add(agent)
            self._queued += 1
            full = self._workers - self._active - self._queued < 0
        if full and self._parking is not None:
            self._parking.evict_one()  # a parked agent's thread is wanted for this run
        try:
            self._pool.submit(self._run, agent)
        except RuntimeError:  # the pool is shutting down
            with self._lock:
                self._scheduled.discard(agent)
                self._queued -= 1

    def _run(self, agent: AgentId) -> None:
        assert self._executor is not None
        with self._lock:
            self._queued -= 1
            self._active += 1
            self._start_count += 1
            self._starts[agent] = self._start_count
            told = agent in self._told
            self._told.discard(agent)
        try:
            self._executor.run_agent(agent)
        except LeaseHeld as exc:  # another process runs it: it hears of the work now
            if told and not isinstance(exc, LeaseLost):
                self._executor.store.wake_owner(exc.owner, agent)
        except AgentNotFound:
            pass  # deleted meanwhile
        except Exception:
            log.exception("running agent %s failed", agent)
        finally:
            with self._lock:
                self._active -= 1
                self._scheduled.discard(agent)
                self._starts.pop(agent, None)
                again = agent in self._again
                self._again.discard(agent)
            self._notify(agent)
            if again:
                self.schedule(agent)

    def settle(self, agent: AgentId | None) -> list[str]:
        if agent is not None:
            self.schedule(agent)
        return []  # the pool runs it: nothing ends on the caller's thread

    def busy(self, agent: AgentId) -> bool:
        # Scheduled from `schedule` until `_run` has ended (waiters are notified after);
        # a parked agent is at rest (suspended), its thread only waits.
        with self._lock:
            scheduled = agent in self._scheduled
        return scheduled and not (self._parking is not None and self._parking.is_parked(agent))

    def finished(self, agent: AgentId, invocation_id: str) -> None:
        self._notify(agent)

    # -- held waits -------------------------------------------------------------------
    def _notify(self, agent: AgentId) -> None:
        with self._lock:
            waiters = list(self._waiters.get(agent, ()))
        for waiter in waiters:
            waiter.set()

    def _notify_all(self) -> None:
        with self._lock:
            waiters = [w for group in self._waiters.values() for w in group]
        for waiter in waiters:
            waiter.set()

    def _add(self, agent: AgentId, waiter: _Waiter) -> None:
        with self._lock:
            self._waiters.setdefault(agent, set()).add(waiter)

    def _remove(self, agent: AgentId, waiter: _Waiter) -> None:
        with self._lock:
            group = self._waiters.get(agent)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._waiters[agent]

    async def wait_async(self, agent: AgentId, done: Callable[[], bool], timeout: float) -> None:
        """Return once ``done()`` is true (checked whenever the agent's state may have
        changed), the timeout passes or shutdown begins. Holds no thread."""
        waiter = _Waiter(asyncio.get_running_loop())
        self._add(agent, waiter)
        deadline = time.monotonic() + timeout
        try:
            while not done() and not self.draining.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(waiter.event.wait(), remaining)
                except TimeoutError:
                    return
                waiter.event.clear()
        finally:
            self._remove(agent, waiter)
