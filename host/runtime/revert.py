"""Reverting an agent: Golem's revert-worker / revert-agent, on the jump machinery.

A revert drops the oplog region after a target index: a :class:`~host.oplog.Jump` from
``target + 1`` to the jump itself is appended (the entries stay in the log, every later
replay skips them, as for set-oplog-index), and the agent's next run replays only what
is left and goes on from there. Golem's two targets (``revert-worker-target``):

- ``revert-to-oplog-index(i)``: keep entries 1..i.
- ``revert-last-invocations(n)``: keep everything before the n-th last invocation that
  is not deleted already (its InvocationStarted; ``initialize`` of an agent component
  counts, as Golem counts its agent-initialization).

The target must be at an invocation boundary (not inside an invocation), and the agent
must not be in the middle of one (running, suspended or retrying): its caller would wait
on an invocation the revert took away. A failed agent can be reverted: that is Golem's
way to recover one, and it becomes idle. Reverting past a snapshot-based update moves
the agent back to the component version it ran at the target.
"""

from __future__ import annotations

from host import agent_versions
from host.errors import Conflict, InvalidInput
from host.ids import AgentId
from host.oplog import (
    AgentCreated,
    Entry,
    InvocationFailed,
    InvocationFinished,
    InvocationStarted,
    Jump,
    SuccessfulUpdate,
)
from host.store.base import FAILED, IDLE, INTERRUPTED, Store


def _deleted(entries: list[Entry]) -> list[tuple[int, int]]:
    return [(e.start, e.end) for e in entries if isinstance(e, Jump)]


def _alive(entries: list[Entry]) -> list[tuple[int, Entry]]:
    """(index, entry) of the entries no jump deleted (jumps themselves excluded)."""
    deleted = _deleted(entries)
    return [
        (i, e)
        for i, e in enumerate(entries, start=1)
        if not isinstance(e, Jump) and not any(s <= i <= t for s, t in deleted)
    ]


def target_index(
    entries: list[Entry], to_index: int | None = None, last_invocations: int | None = None
) -> int:
    """The index the revert keeps the log up to, checked (InvalidInput naming the field)."""
    alive = _alive(entries)
    if (to_index is None) == (last_invocations is None):
        raise InvalidInput("give exactly one of an oplog index or a number of invocations")
    if last_invocations is not None:
        starts = [i for i, e in alive if isinstance(e, InvocationStarted)]
        if last_invocations < 1 or last_invocations > len(starts):
            raise InvalidInput(
                f"cannot revert the last {last_invocations} invocations: the agent has "
                f"{len(starts)}",
                field="last_invocations",
            )
        return starts[-last_invocations] - 1
    assert to_index is not None
    if not 1 <= to_index <= len(entries):
        raise InvalidInput(
            f"cannot revert to oplog index {to_index}: the oplog has entries 1..{len(entries)}",
            field="index",
        )
    open_at = None
    for i, e in alive:
        if i > to_index:
            break
        if isinstance(e, InvocationStarted):
            open_at = i
        elif isinstance(e, InvocationFinished | InvocationFailed):
            open_at = None
    if open_at is not None:
        raise InvalidInput(
            f"cannot revert to oplog index {to_index}: it is inside the invocation that "
            f"started at {open_at}; revert to {open_at - 1} or to where it finished",
            field="index",
        )
    return to_index


def _hash_at(entries: list[Entry], index: int) -> str:
    """The component file the agent ran at oplog index ``index``."""
    created = entries[0]
    assert isinstance(created, AgentCreated)
    found = created.component_hash
    for i, e in _alive(entries):
        if i > index:
            break
        if isinstance(e, SuccessfulUpdate):
            found = e.component_hash
    return found


def _version_at(store: Store, agent: AgentId, entries: list[Entry], index: int) -> int:
    """The component version (its number) the agent ran at oplog index ``index``."""
    created = entries[0]
    assert isinstance(created, AgentCreated)
    versions = [(c.version, c.hash) for c in store.list_component_versions(str(agent.component_id))]
    first = agent_versions.creation_version(created, versions)
    return agent_versions.version_at(list(enumerate(entries, start=1)), first, index)


def revert(
    store: Store, agent: AgentId, to_index: int | None = None, last_invocations: int | None = None
) -> Jump:
    """Drop the agent's oplog after the target; returns the Jump recorded."""
    record = store.get_agent(agent)
    if record.status not in (IDLE, FAILED, INTERRUPTED):
        raise Conflict(
            f"agent {agent} is {record.status}: it can be reverted when idle, failed or "
            "interrupted (interrupt it first)"
        )
    entries = store.read_oplog(agent)
    target = target_index(entries, to_index, last_invocations)
    jump = Jump(target + 1, len(entries) + 1)
    dropped = entries[target:]
    updated = any(isinstance(e, SuccessfulUpdate) for e in dropped)
    pin = _hash_at(entries, target) if updated else None
    version = _version_at(store, agent, entries, target) if updated else None
    store.append(agent, len(entries) + 1, [jump], component_hash=pin, component_version=version)
    store.set_status(agent, IDLE)
    return jump
