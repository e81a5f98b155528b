"""An automatic update of an agent running an invocation, as Golem performs it: the
running invocation is interrupted and the agent restarted at once on the new version.

Golem (golem-worker-executor, ``update_worker_internal``): for a Running worker the
pending update is written to its oplog and the worker is interrupted with
``InterruptKind::Restart``; it restarts immediately, replays its oplog on the new
version (the update) and the interrupted invocation goes on live on the new code.

Here the request reaches the agent's invocation queue first (host/runtime/update_queue.py:
only the lease holder writes the agent's oplog while it runs), whoever asked: REST, the
CLI in another process (its wake-up reaches the lease holder through the store's
channel), or a guest's update-worker / update-agent of another agent. The lease holder's
scheduler, told the agent has work, calls :func:`interrupt_for_update`: if the agent
runs guest code here and an automatic update waits in its queue, its store watch is set
to trap at the next epoch tick with ``restart`` set. The run thread then
(:func:`take_for_restart`) records nothing of the step the guest was in, moves the
request from the queue into the oplog (one transaction) and runs the agent again at
once: instance creation (:func:`host.runtime.updates.decide_automatic`) tries the update
by a dry replay on the new version and records the outcome. On success the invocation
continues on the new version; if the new code does not reproduce the record, the update
is recorded as failed and the invocation continues on the old one, as in Golem.

An interrupt that comes just after the invocation ended traps nothing: the request is
then taken from the queue between invocations, as a manual one is. A snapshot-based
(manual) update always waits for that: it needs the agent between invocations.

A guest updating itself automatically needs no queue: its own session records the
request, and once the update-agent call is committed the call raises
:class:`host.replay.Restart` (Golem's host function interrupts the caller the same way),
so the agent runs again at once from a fresh instance that tries the update, replays the
invocation (the call included, from the record) on the new version and goes on live on
it (host/runtime/golem_workers.py). A snapshot-based update of itself applies after the
invocation that asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from host.runtime import update_queue, updates
from host.store.base import QUEUED

if TYPE_CHECKING:
    from host.ids import AgentId
    from host.runtime.executor import Executor
    from host.runtime.interrupts import StoreWatch
    from host.runtime.session import Session
    from host.store.base import InvocationRecord, Store


def _automatic(store: Store, agent: AgentId) -> InvocationRecord | None:
    """The oldest automatic update waiting in the agent's queue."""
    for record in update_queue.queued_updates(store.list_invocations(agent, [QUEUED])):
        if update_queue.request_of(record).mode == updates.AUTOMATIC:
            return record
    return None


def interrupt_for_update(executor: Executor, agent: AgentId, watch: StoreWatch | None) -> bool:
    """If the agent runs guest code in this process now (``watch``: its running store's
    watch) and an automatic update waits in its queue, make the guest trap at the next
    tick to restart on it. Whether it asked. One queue read, only for a running agent."""
    if watch is None or _automatic(executor.store, agent) is None:
        return False
    watch.restart = True
    watch.interrupted = True
    return True


def take_for_restart(executor: Executor, session: Session) -> None:
    """The guest trapped for a restart (nothing of its current step is recorded): move
    the waiting automatic update from the queue into the oplog. The caller then runs
    the agent again from a fresh instance, which applies it. With none waiting any more
    (taken meanwhile), the restart only replays the invocation and goes on."""
    record = _automatic(executor.store, session.agent)
    if record is None:
        return
    request = update_queue.request_of(record)
    executor.store.append(
        session.agent,
        session.persisted + 1,
        [request],
        takes_invocation=record.invocation_id,
    )


__all__ = ["interrupt_for_update", "take_for_restart"]
