"""Running many agents at once: a scheduler over :class:`~host.runtime.executor.Host`.

Agents run on a small thread pool (wasmtime releases the GIL while guest code
runs); one agent never runs on two threads (the host's per-agent lock and the
store lease). Work reaches the pool three ways:

- directly: an invocation or a completion received by this process schedules the
  agent at once, so a wake-up costs no polling delay;
- from guests: a promise completed by another agent wakes its owner;
- from the store: a scanner looks for due work every ``poll_interval`` seconds
  (timers, completions written by another process such as the CLI, agents a
  crash interrupted). That interval bounds how late such work is noticed.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from host.errors import AgentNotFound, LeaseHeld
from host.ids import AgentId, PromiseId
from host.runtime.executor import Host
from host.store.base import DONE, ERRORED, FAILED, INTERRUPTED, SUSPENDED, InvocationRecord

log = logging.getLogger("agent-host")


class AgentService:
    def __init__(self, host: Host, workers: int = 4, poll_interval: float = 0.25) -> None:
        self.host = host
        self.poll_interval = poll_interval
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agent")
        self._lock = threading.Lock()
        self._scheduled: set[AgentId] = set()
        self._again: set[AgentId] = set()
        self._finished = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._draining = threading.Event()
        self._scanner: threading.Thread | None = None
        host.wake = self.schedule
        host.on_finished = self._on_finished

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Start scanning the store; the first scan resumes everything left due."""
        self._scanner = threading.Thread(target=self._scan_loop, name="scanner", daemon=True)
        self._scanner.start()

    def drain(self) -> None:
        """Shutdown has begun: release every held wait now (they answer with the
        invocation's current state) so the server can close its connections."""
        self._draining.set()
        with self._lock:
            self._finished.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking work and wait for running agents to reach a durable point."""
        self._stopping.set()
        if self._scanner is not None:
            self._scanner.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _scan_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.scan()
            except Exception:  # the scanner must outlive a bad row or a busy database
                log.exception("scanning for due agents failed")
            self._stopping.wait(self.poll_interval)

    def scan(self) -> None:
        for agent in self.host.store.runnable_agents(time.time_ns()):
            self.schedule(agent)

    # -- scheduling -----------------------------------------------------------------
    def schedule(self, agent: AgentId) -> None:
        """Run the agent soon; if it is running now, run it again afterwards."""
        if self._stopping.is_set():
            return
        with self._lock:
            if agent in self._scheduled:
                self._again.add(agent)
                return
            self._scheduled.add(agent)
        try:
            self._pool.submit(self._run, agent)
        except RuntimeError:  # the pool is shutting down
            with self._lock:
                self._scheduled.discard(agent)

    def _run(self, agent: AgentId) -> None:
        try:
            self.host.run_agent(agent)
        except (LeaseHeld, AgentNotFound):
            pass  # another process runs it, or it was deleted
        except Exception:
            log.exception("running agent %s failed", agent)
        finally:
            with self._lock:
                self._scheduled.discard(agent)
                again = agent in self._again
                self._again.discard(agent)
                self._finished.notify_all()
            if again:
                self.schedule(agent)

    def _on_finished(self, invocation_id: str) -> None:
        with self._lock:
            self._finished.notify_all()

    # -- operations ---------------------------------------------------------------------
    def invoke(
        self,
        agent: AgentId,
        function: str,
        params: tuple[str, ...],
        idempotency_key: str | None = None,
    ) -> InvocationRecord:
        invocation = self.host.enqueue(agent, function, params, idempotency_key)
        if invocation.state not in (DONE, ERRORED):
            self.schedule(agent)
        return invocation

    def complete(self, promise: PromiseId, data: bytes) -> bool:
        return self.host.complete_promise(promise, data)  # wakes the owner through schedule

    def wait(
        self, invocation_id: str, timeout: float, until_suspended: bool = False
    ) -> InvocationRecord:
        """The invocation once it is done or failed (or, with ``until_suspended``, once its
        agent is suspended waiting), or as it is when ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.host.store.get_invocation(invocation_id)
            if record.state in (DONE, ERRORED):
                return record
            status = self.host.store.get_agent(record.agent).status
            if status == FAILED:
                return record  # failed while replaying: nothing more will happen
            if until_suspended and status in (SUSPENDED, INTERRUPTED):
                return record
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._draining.is_set():
                return record
            with self._lock:
                # Re-checked every poll interval (at most half a second): a completion
                # written by another process finishes invocations this process never
                # hears about directly, and the poll interval is the documented bound.
                self._finished.wait(min(remaining, self.poll_interval, 0.5))
