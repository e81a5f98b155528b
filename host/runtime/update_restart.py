"""An automatic update of an agent running an invocation, as Golem performs it: record
the request, interrupt the invocation and restart the agent at once.

Golem (golem-worker-executor, ``update_worker_internal``): for a Running worker the
pending update is written to its oplog and the worker is interrupted with
``InterruptKind::Restart``; it restarts immediately, replays its oplog on the new
version (the update) and the interrupted invocation goes on live on the new code. Here:
the running guest is stopped at its next epoch tick (:meth:`Executor.interrupt_running`,
which records nothing of the step it was in), the :class:`~host.oplog.PendingUpdate` is
appended once the run has let go, and the agent is made due again; the next run's
instance creation (:func:`host.runtime.updates.decide_automatic`) tries the update by a
dry replay on the new version and records the outcome. On success the invocation
continues on the new version; if the new code does not reproduce the record the update
is recorded as failed and the invocation continues on the old one, as in Golem.

A snapshot-based (manual) update is not done so: it needs the agent between
invocations, and goes through its invocation queue (host/runtime/update_queue.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from host.errors import AgentBusy, LeaseHeld
from host.store.base import AgentStatus

if TYPE_CHECKING:
    from host.ids import AgentId
    from host.oplog import PendingUpdate
    from host.runtime.executor import Executor


def restart_for_update(executor: Executor, agent: AgentId, request: PendingUpdate) -> int | None:
    """Interrupt the agent's invocation running in this process, record ``request`` in
    its oplog and let it run again at once (the caller wakes it). The request's oplog
    index, or None if no thread here runs guest code of the agent now (or another run
    took it meanwhile): then the caller queues the request instead."""
    if not executor.interrupt_running(agent):
        return None
    store = executor.store
    interrupted = store.get_agent(agent).status == AgentStatus.INTERRUPTED
    try:
        # Interrupted: nothing runs it until it is resumed, so waiting for the lock is
        # short. Not interrupted (its invocation finished just before the interrupt came):
        # its run may go on to the next invocation: do not wait behind it.
        with executor.holding(agent, busy=None if interrupted else "updating it"):
            record = store.get_agent(agent)
            index = record.oplog_length + 1
            store.append(agent, index, [request])
            if record.status == AgentStatus.INTERRUPTED:
                store.resume(agent)  # due now: the next run performs the update
    except (AgentBusy, LeaseHeld):
        if interrupted:
            store.resume(agent)  # never leave it stopped by an interrupt it did not ask for
        return None
    executor.forget_instance(agent)
    return index


__all__ = ["restart_for_update"]
