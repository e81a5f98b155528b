"""Interrupting an invocation another process runs, as the CLI's ``agent interrupt``
against a store a server holds needs (Golem's CLI goes through the worker service,
which reaches the executor running the worker).

Only the process running guest code can stop it (its store watch traps at the next
epoch tick: host/runtime/interrupts.py). The asker marks the request in the agents row
(``interrupt_requested``, durable and in the store both processes share) and wakes the
lease holder the way completions wake it: on SQLite the local wake-up channel
(host/store/wakeup.py), on PostgreSQL the NOTIFY of the marking transaction. The
holder's scheduler, told the agent has work, takes the request (clearing it) and, if it
runs guest code of that agent at that moment, stops it exactly as a local interrupt
does: the invocation stays started and the agent ``interrupted``; a resume replays and
continues it. A wake-up can be lost or come between two steps of guest code, so the
asker sends it again until the agent stops running or the time is up. An invocation
that ended meanwhile leaves an agent at rest, which the asker then interrupts itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from host.clock import steady_ns
from host.errors import Conflict
from host.store.base import RUNNING

if TYPE_CHECKING:
    from host.ids import AgentId
    from host.runtime.interrupts import StoreWatch
    from host.store.base import Store

RESEND_S = 0.5
"""How often the asker wakes the owner again while the agent still runs."""


def take_if_asked(store: Store, agent: AgentId, watch: StoreWatch | None) -> bool:
    """The owner's side, on a wake-up: if it runs guest code of the agent now
    (``watch``) and an interrupt is asked, stop it at the next tick. One row update,
    only for an agent running here."""
    if watch is None or not store.take_interrupt_request(agent):
        return False
    watch.restart, watch.interrupted = False, True  # stopped, not restarted
    return True


def interrupt_elsewhere(store: Store, agent: AgentId, owner: str, timeout_s: float) -> None:
    """The asker's side: ask the process ``owner`` (the agent's lease holder) to stop
    the agent's running invocation and wait until the agent no longer runs. Conflict if
    it still runs after ``timeout_s`` (the owner did not answer: the request is
    withdrawn)."""
    if not store.request_interrupt(agent):
        return  # it stopped running meanwhile: the caller interrupts it at rest
    deadline = steady_ns() + int(timeout_s * 1e9)
    next_wake = 0
    while store.get_agent(agent).status == RUNNING:
        now = steady_ns()
        if now >= deadline:
            store.take_interrupt_request(agent)
            raise Conflict(
                f"agent {agent} is running an invocation in another process ({owner}), "
                f"which did not stop it within {timeout_s:g} s; interrupt it through "
                "that process (POST .../interrupt to its server)"
            )
        if now >= next_wake:
            store.wake_owner(owner, agent)  # SQLite's channel; PostgreSQL: NOTIFY already
            next_wake = now + int(RESEND_S * 1e9)
        time.sleep(0.02)
    store.take_interrupt_request(agent)  # taken, or left by an invocation that ended


__all__ = ["RESEND_S", "interrupt_elsewhere", "take_if_asked"]
