"""The executor's leases (a mixin of :class:`host.runtime.executor.Executor`).

A run holds the agent's lease; the heartbeat thread renews this process's row every third
of the TTL (one write, however many agents it holds), so an invocation longer than the TTL
keeps its lease. A scheduler that ``keeps_leases`` (the server's pool) keeps an agent's
lease after its run, in memory (``_owned``) and in the store, until the process stops; the
CLI releases it after each run. The rules of the lease rows are in
host/store/sqlite_leases.py and host/store/postgres_leases.py.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from host.errors import LeaseHeld, LeaseLost
from host.ids import AgentId
from host.runtime.failures import INFRASTRUCTURE_ERRORS
from host.store import Store
from host.store.base import IDLE

log = logging.getLogger("host.runtime.executor")


class LeaseKeeping:
    """Holding, renewing, keeping and releasing agents' leases for the executor's runs."""

    store: Store
    owner: str
    lease_ttl_s: float
    keep_leases: bool
    _leased: dict[AgentId, int]
    _owned: set[AgentId]
    _leased_lock: threading.Lock
    _heartbeat_stop: threading.Event
    _heartbeat_thread: threading.Thread | None

    if TYPE_CHECKING:

        def run_agent(self, agent: AgentId) -> str: ...

        def _work_status(self, agent: AgentId) -> str | None: ...

    def _hold(self, agent: AgentId) -> None:
        with self._leased_lock:
            self._leased[agent] = self._leased.get(agent, 0) + 1
            if self._heartbeat_thread is None:
                self._heartbeat_thread = threading.Thread(
                    target=self._heartbeat, name="lease-heartbeat", daemon=True
                )
                self._heartbeat_thread.start()

    def _unhold(self, agent: AgentId) -> None:
        with self._leased_lock:
            left = self._leased.pop(agent, 1) - 1
            if left:
                self._leased[agent] = left

    def _heartbeat(self) -> None:
        """Renew this process's leases (its process row), every third of the TTL, for as
        long as it holds any: a guest may run far longer than the TTL."""
        while not self._heartbeat_stop.wait(self.lease_ttl_s / 3):
            with self._leased_lock:
                holding = bool(self._leased or self._owned)
            if not holding:
                continue
            try:
                renewed = self.store.renew_owner(self.owner, self.lease_ttl_s)
            except Exception:
                log.exception("renewing this process's leases failed")
                continue
            if not renewed:
                # Judged stale and evicted: the store refuses this process's next write of
                # any of them; a later run acquires afresh.
                with self._leased_lock:
                    lost = len(self._owned) + len(self._leased)
                    self._owned.clear()
                if lost:
                    log.warning("another host process took this one's %d agents over", lost)

    def holds(self, agent: AgentId) -> bool:
        """Whether this process holds the agent's lease (running it, or kept between
        runs): whether another process's "it has work" is for this one to act on."""
        with self._leased_lock:
            return agent in self._owned or agent in self._leased

    def _take(self, agent: AgentId) -> None:
        """Hold the agent's lease for a run (under its lock): LeaseHeld if another
        process holds it. A lease this process keeps takes no transaction."""
        if agent not in self._owned:
            # A read first: a live holder elsewhere costs no (failing) lease write.
            holder = self.store.lease_holder(agent, self.owner)
            if holder is None:
                holder = self.store.acquire_lease(agent, self.owner, self.lease_ttl_s)
            if holder is not None:
                raise LeaseHeld(str(agent), holder)
        self._hold(agent)

    def _let_go(self, agent: AgentId, lost: bool) -> None:
        """After a run: keep the lease (``keeps_leases``) or release it."""
        if self.keep_leases and not lost:
            with self._leased_lock:
                self._owned.add(agent)  # before _unhold: holds() never sees a gap
            self._unhold(agent)
            return
        self._unhold(agent)
        with self._leased_lock:
            self._owned.discard(agent)
        try:
            self.store.release_lease(agent, self.owner)
        except INFRASTRUCTURE_ERRORS as exc:
            # The lease is this process's: it takes it again, and others once it expires.
            log.warning("agent %s: releasing its lease failed: %s", agent, exc)

    def run_agent_when_free(self, agent: AgentId) -> str:
        """:meth:`run_agent`, waiting while another process holds the agent and it has
        work: that process runs it (a server's scanner finds the work) or lets go, and
        may check the queue for the last time just before this one's invocation (or
        wake-up) is committed: failing here would leave it to no one. Returns the agent's
        status once it has no work left for anyone."""
        delay = 0.002
        # A contender times a silent holder from its first look (host/store/sqlite.py),
        # so a lease abandoned by a dead process elsewhere is free a TTL from now.
        deadline = time.monotonic() + 1.5 * self.lease_ttl_s
        told = False
        while True:
            try:
                return self.run_agent(agent)
            except LeaseHeld as exc:
                if not told and not isinstance(exc, LeaseLost):
                    self.store.wake_owner(exc.owner, agent)  # the holder runs it now
                    told = True
                status = self._work_status(agent)
                if status == IDLE and self.store.get_agent(agent).status != IDLE:
                    # Read idle, then no queued work: the holder may have started it in
                    # between (the start and the status change commit together), and is
                    # running it now.
                    status = None
                if status is not None:
                    return status  # the holder did the work: nothing left to run
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 0.05)
