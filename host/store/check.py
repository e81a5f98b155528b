"""A read-only integrity check of the store: every agent's oplog and what depends on it.

It reports problems and changes nothing: index continuity, entries that do not decode,
the creation entry, promises against their creation entries, invocations against their
start/finish entries, that every suspended agent has a live wake-up source, and that
the agents row's component version is the one the oplog says the agent runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from host import agent_versions, oplog
from host.errors import StoreError
from host.ids import AgentId
from host.oplog_codec import decode_row
from host.store.base import DONE, ERRORED, RETRYING, STARTED, SUSPENDED, Store


@dataclass(frozen=True)
class Problem:
    agent: str
    index: int | None
    message: str

    def __str__(self) -> str:
        where = f" at oplog index {self.index}" if self.index is not None else ""
        return f"{self.agent}{where}: {self.message}"


def check_agent(store: Store, agent: AgentId) -> list[Problem]:
    problems: list[Problem] = []

    def bad(index: int | None, message: str) -> None:
        problems.append(Problem(str(agent), index, message))

    record = store.get_agent(agent)
    entries: dict[int, oplog.Entry] = {}
    for expected, (idx, head, blob) in enumerate(store.read_oplog_raw(agent), start=1):
        if idx != expected:
            bad(expected, f"index gap: the next stored entry is {idx}")
        try:
            entries[idx] = decode_row(head, blob)
        except StoreError as exc:
            bad(idx, f"entry does not decode ({exc})")
    if not entries and not problems:
        bad(None, "the agent has no oplog")
        return problems
    first = entries.get(1)
    if not isinstance(first, oplog.AgentCreated):
        bad(1, "entry 1 is not the agent's creation")
    elif first.component_id != str(agent.component_id):
        bad(1, f"created for component {first.component_id}, listed under {agent.component_id}")
    else:
        said = _oplog_version(store, first, entries)
        if said is not None and said != record.component_version:
            bad(
                None,
                f"the agents row says component version {record.component_version}, "
                f"the oplog says it runs version {said}",
            )

    created = {i for i, e in entries.items() if isinstance(e, oplog.PromiseCreated)}
    rows = {p.id.oplog_idx: p for p in store.list_promises(agent, pending_only=False)}
    # A deleted promise keeps its row, marked deleted: that is the record of its deletion,
    # so only a creation with no row at all is damage.
    deleted = store.deleted_promise_indexes(agent)
    for idx in sorted(created - set(rows) - deleted):
        bad(idx, "a promise-created entry has no promise in the store")
    for idx in sorted((set(rows) | deleted) - created):
        bad(idx, "a promise exists whose oplog entry is not a promise creation")

    started: dict[str, int] = {}
    ended: dict[str, int] = {}
    retried = {e.invocation_id for e in entries.values() if isinstance(e, oplog.Retried)}
    for idx, entry in sorted(entries.items()):
        if isinstance(entry, oplog.InvocationStarted):
            if entry.invocation_id in started:
                bad(idx, f"invocation {entry.invocation_id} started twice")
            started[entry.invocation_id] = idx
        elif isinstance(entry, oplog.InvocationFinished | oplog.InvocationFailed):
            if entry.invocation_id not in started:
                bad(idx, f"invocation {entry.invocation_id} ends without having started")
            if entry.invocation_id in ended and entry.invocation_id not in retried:
                bad(idx, f"invocation {entry.invocation_id} ended twice")
            ended[entry.invocation_id] = idx
    for inv in store.list_invocations(agent):
        if inv.state == DONE and not any(
            isinstance(e, oplog.InvocationFinished) and e.invocation_id == inv.invocation_id
            for e in entries.values()
        ):
            bad(None, f"invocation {inv.invocation_id} is done but its finish is not in the oplog")
        if inv.state in (STARTED, ERRORED) and inv.invocation_id not in started:
            bad(None, f"invocation {inv.invocation_id} is {inv.state} but never started")

    if record.status == SUSPENDED:
        pending = {i for i, p in rows.items() if not p.completed}
        waits = set(record.waiting_promises)
        # A wake-up source: an awaited promise still pending (its completion wakes the
        # agent), or a wake-up time (a timer, or 0 once an awaited promise completed).
        if not (waits & pending) and record.wake_at_ns is None:
            bad(None, "suspended with no wake-up source (no pending promise, no timer)")
        last = entries[max(entries)]
        if not isinstance(last, oplog.Suspended):
            bad(max(entries), "suspended, but the oplog does not end with the suspension")
    if record.status == RETRYING:
        if record.wake_at_ns is None:
            bad(None, "retrying with no wake-up time")
        last = entries[max(entries)]
        if not isinstance(last, oplog.Retried):
            bad(max(entries), "retrying, but the oplog does not end with a retry marker")
    return problems


def _oplog_version(
    store: Store, created: oplog.AgentCreated, entries: dict[int, oplog.Entry]
) -> int | None:
    """The version the oplog says the agent runs (host/agent_versions.py: its creation
    version, then the target of the last successful update no jump deleted), or None
    when the oplog cannot say: no version of the component holds the file it was created
    on (a component deleted under it) and no update moved it since."""
    versions = [(c.version, c.hash) for c in store.list_component_versions(created.component_id)]
    known = any(h == created.component_hash for _, h in versions)
    start = agent_versions.creation_version(created, versions) if known else -1
    found = agent_versions.version_at(sorted(entries.items()), start)
    return None if found < 0 else found


def check_store(store: Store, agents: list[AgentId] | None = None) -> list[Problem]:
    targets = agents if agents is not None else [a.agent for a in store.list_agents()]
    problems: list[Problem] = []
    for agent in targets:
        problems.extend(check_agent(store, agent))
    return problems
