"""Stopping and interrupting the executor's runs (a mixin of
:class:`host.runtime.executor.Executor`).

A running guest is stopped from outside through its store's watch
(host/runtime/interrupts.py): a flag is set and the guest traps at the next epoch tick.
Shutdown advances the epoch past every deadline instead; an interrupted invocation is not
failed, it stays started and a resume replays and continues it. An interrupt that another
process asked for (the CLI's ``agent interrupt``) arrives through the store
(host/runtime/remote_interrupt.py); an automatic update restarts the running invocation
on the new version (host/runtime/update_restart.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import wasmtime

from host.ids import AgentId
from host.runtime import remote_interrupt, update_restart
from host.runtime.agent_locks import AgentLocks
from host.runtime.interrupts import StoreWatch
from host.runtime.parking import Parking
from host.store import Store

if TYPE_CHECKING:
    from host.runtime.executor import Executor


class RunControl:
    """Stopping every run at shutdown, interrupting one, and telling whether one runs here."""

    store: Store
    engine: wasmtime.Engine
    stopping: bool
    parking: Parking | None
    _running_watch: dict[AgentId, StoreWatch]
    _agent_locks: AgentLocks

    def stop_running(self) -> None:
        """Shutdown: start nothing more, and stop every guest running now by advancing the
        epoch past any deadline. Their invocations are not failed: the agents stay
        running in the store, and the next start replays and continues them."""
        self.stopping = True
        if self.parking is not None:
            self.parking.close()  # parked agents give their instances up (still suspended)
        self.engine.increment_epoch()  # each store's watch traps at this tick

    def interrupt_running(self, agent: AgentId, timeout: float = 10.0) -> bool:
        """Stop the agent's running invocation at the next epoch tick; it becomes
        ``interrupted`` with its invocation still started (a resume replays and continues
        it). False if no thread of this process runs guest code of it now."""
        watch = self._running_watch.get(agent)
        if watch is None:
            return False
        watch.restart, watch.interrupted = False, True  # stopped, not restarted
        self._agent_locks.wait_free(agent, timeout)  # the run has ended
        return True

    def interrupt_for_update(self, agent: AgentId) -> bool:
        """An automatic update waits in the queue of the agent this process runs: restart
        its invocation on it (host/runtime/update_restart.py)."""
        watch = self._running_watch.get(agent)
        if remote_interrupt.take_if_asked(self.store, agent, watch):
            return True  # an interrupt another process asked for (the CLI's)
        return update_restart.interrupt_for_update(cast("Executor", self), agent, watch)

    def is_running_here(self, agent: AgentId) -> bool:
        """Whether a thread of this process runs the agent now (a parked agent is let go
        first: it is at rest)."""
        self._unpark(agent)
        return self._agent_locks.locked(agent)

    def _unpark(self, agent: AgentId) -> None:
        """If the agent is parked, let its thread give the instance up and end its run."""
        if self.parking is not None and self.parking.release(agent):
            self._agent_locks.wait_free(agent, 10.0)
