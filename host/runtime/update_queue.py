"""Update requests for a running agent, queued as Golem queues them, and the update
records of an agent's metadata. No wasm here.

An update is recorded in the agent's oplog (a :class:`~host.oplog.PendingUpdate`) by
whoever holds the agent: its own session, or the service while the agent is at rest.
An agent running an invocation (here or in another process) cannot take an entry from
outside: its oplog is its session's. Golem then enqueues the update (its
``enqueue_manual_update``: an ``AgentInvocation::ManualUpdate`` in the worker's
invocation queue); so does agent-host: a queued invocation of the reserved function
:data:`UPDATE_FUNCTION` (no export can be named so: ``<`` is not a WIT name character).
It is durable (the invocation queue is in the store) and in order with the
invocations queued before it. When the executor reaches it between invocations, it
appends the PendingUpdate and marks the queued row done in one transaction
(``Store.append(takes_invocation=...)``), then applies the update as any other
(host/runtime/updates.py): the invocation that was running finished on the old
version; the ones queued after the update run on the new one.

That is the whole story of a manual (snapshot-based) update. An *automatic* one is
queued the same way, but the lease holder is told at once and interrupts the running
invocation to take it out of order and restart on the new version, as Golem does
(host/runtime/update_restart.py); the queue is its durable carrier (and its fallback
when the invocation ended before the interrupt came).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from host.ids import AgentId
from host.oplog import Entry, FailedUpdate, Jump, PendingUpdate, SuccessfulUpdate
from host.store.base import InvocationRecord, InvocationState, Store

UPDATE_FUNCTION = "<update>"


def is_update(function: str) -> bool:
    """Whether a queued invocation is an update request, not a call of an export."""
    return function == UPDATE_FUNCTION


def _params(request: PendingUpdate) -> tuple[str, str, str]:
    return (str(request.target_version), request.component_hash, request.mode)


def request_of(record: InvocationRecord) -> PendingUpdate:
    """The update request a queued :data:`UPDATE_FUNCTION` invocation carries."""
    version, component_hash, mode = record.params
    return PendingUpdate(int(version), component_hash, mode)


def counts_as_pending(record: InvocationRecord) -> bool:
    """Whether a queued invocation counts in Golem's ``pendingInvocationCount``: Golem
    counts its worker's pending invocations, where a manual (snapshot-based) update
    waits as an invocation (``AgentInvocation::ManualUpdate``); an automatic update is
    in its separate ``pending_updates`` and does not count (golem-worker-executor
    grpc ``create_proto_metadata``, worker/status.rs)."""
    if not is_update(record.function):
        return True
    return request_of(record).mode != "automatic"  # updates.AUTOMATIC (that module links wasm)


def pending_count(records: Sequence[InvocationRecord]) -> int:
    """Golem's ``pendingInvocationCount`` of an agent whose invocations are ``records``:
    the queued ones (a started invocation is no longer pending, as in Golem), but for the
    automatic update requests (:func:`counts_as_pending`)."""
    return sum(1 for r in records if r.state == InvocationState.QUEUED and counts_as_pending(r))


def queued_updates(records: Sequence[InvocationRecord]) -> list[InvocationRecord]:
    """The update requests among ``records`` that still wait in the queue."""
    return [r for r in records if is_update(r.function) and r.state == InvocationState.QUEUED]


def enqueue(store: Store, agent: AgentId, request: PendingUpdate) -> InvocationRecord:
    """Queue ``request`` for ``agent`` (AgentNotFound if there is none). The same request
    (version, file and mode) already waiting is not queued twice: that one is returned
    (the CLI and REST refuse it before, with Golem's 400; a guest's call is answered)."""
    waiting = queued_updates(store.list_invocations(agent, [InvocationState.QUEUED]))
    for record in waiting:
        if record.params == _params(request):
            return record
    return store.enqueue(agent, str(uuid.uuid4()), UPDATE_FUNCTION, _params(request), None)


@dataclass(frozen=True)
class UpdateRecord:
    """One of Golem's ``UpdateRecord``: ``kind`` PendingUpdate, SuccessfulUpdate or
    FailedUpdate, when (ns since the epoch), the target version and, for a failed one,
    why."""

    kind: str
    timestamp: int
    target_version: int
    details: str | None = None


# The oplog entries the update records are read from (Store.read_oplog_kinds).
KINDS = ("pending-update", "successful-update", "failed-update", "jump")


def records(
    entries: Sequence[tuple[int, Entry]], queued: Sequence[InvocationRecord] = ()
) -> list[UpdateRecord]:
    """The agent's update records, as Golem's worker metadata lists them, from its
    (index, entry) pairs of :data:`KINDS` (others are ignored): every request in the
    oplog with its outcome (a request not applied yet is pending), in order, then the
    requests still queued (pending, at the time they were queued). Entries a Jump
    deleted do not count."""
    deleted = [(e.start, e.end) for _, e in entries if isinstance(e, Jump)]
    out: list[UpdateRecord] = []
    waiting: list[int] = []  # positions in `out` of requests without an outcome yet
    for i, e in entries:
        if any(s <= i <= t for s, t in deleted):
            continue
        if isinstance(e, PendingUpdate):
            waiting.append(len(out))
            out.append(UpdateRecord("PendingUpdate", e.timestamp, e.target_version))
        elif isinstance(e, SuccessfulUpdate | FailedUpdate) and waiting:
            at = waiting.pop(0)
            if isinstance(e, SuccessfulUpdate):
                out[at] = UpdateRecord("SuccessfulUpdate", e.timestamp, e.target_version)
            else:
                out[at] = UpdateRecord("FailedUpdate", e.timestamp, e.target_version, e.details)
    for record in queued_updates(queued):
        request = request_of(record)
        out.append(UpdateRecord("PendingUpdate", record.created_at, request.target_version))
    return out


__all__ = [
    "KINDS",
    "UPDATE_FUNCTION",
    "UpdateRecord",
    "counts_as_pending",
    "enqueue",
    "is_update",
    "pending_count",
    "queued_updates",
    "records",
    "request_of",
]
