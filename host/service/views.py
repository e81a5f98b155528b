"""The frozen values the service returns: what a front end shows, nothing it must compute.

Records from the store (:mod:`host.store.base`) are already frozen; the views here add
what a caller would otherwise assemble from several reads (an agent with its promises
and queue, a completion with the invocations it finished, a page of the oplog).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from host.ids import AgentId, PromiseId
from host.oplog import AgentCreated, Entry
from host.runtime import update_queue
from host.runtime.registry import Export
from host.store.base import (
    AgentRecord,
    ComponentRecord,
    InvocationRecord,
    PromiseRecord,
)
from host.values import Json
from host.values.types import describe


@dataclass(frozen=True)
class ComponentView:
    record: ComponentRecord
    functions: tuple[Export, ...]

    def signatures(self) -> list[str]:
        """Each exported function as ``name: func(p: type, ...) -> result``."""
        return [signature(e) for e in self.functions]


def signature(export: Export) -> str:
    params = ", ".join(f"{n}: {describe(t)}" for n, t in export.sig.params)
    result = f" -> {describe(export.sig.result)}" if export.sig.result is not None else ""
    return f"{export.name}: func({params}){result}"


@dataclass(frozen=True)
class AgentView:
    record: AgentRecord
    created: AgentCreated
    component_version: int | None
    pending_promises: tuple[PromiseRecord, ...]
    invocations: tuple[InvocationRecord, ...]  # queued and started, in order

    @property
    def agent(self) -> AgentId:
        return self.record.agent

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def queued(self) -> int:
        """Golem's pendingInvocationCount: the queued invocations, a manual update request
        included, an automatic one not (host/runtime/update_queue.py)."""
        return update_queue.pending_count(self.invocations)

    def waiting_on(self) -> list[PromiseId]:
        return [PromiseId(self.agent, i) for i in self.record.waiting_promises]


@dataclass(frozen=True)
class InvocationView:
    """An invocation as it is now, with its agent's state (what it waits on, why it
    failed) and the result as JSON once it is done."""

    invocation: InvocationRecord
    agent: AgentRecord
    result_json: Json = None

    @property
    def state(self) -> str:
        return self.invocation.state

    @property
    def finished(self) -> bool:
        """Done or failed, or its agent failed (then it never ends without a resume)."""
        return self.state in ("done", "failed") or self.agent.status == "failed"


@dataclass(frozen=True)
class Completion:
    """A promise completion: whether it completed the promise now (the first payload
    wins), the owner's status afterwards and the invocations that finished because of
    it (in a process that runs the owner inline; empty where a pool runs it)."""

    completed: bool
    agent: AgentRecord
    finished: tuple[InvocationRecord, ...]


@dataclass(frozen=True)
class OplogPage:
    entries: tuple[tuple[int, Entry], ...]  # (oplog index, entry)
    length: int

    @property
    def next(self) -> int | None:
        if not self.entries:
            return None
        last = self.entries[-1][0]
        return last + 1 if last < self.length else None


@dataclass(frozen=True)
class CheckReport:
    agents_checked: int
    problems: tuple[str, ...]


def status_line(record: AgentRecord) -> str:
    """The agent's status for a person: what a suspended agent waits on."""
    if record.status == "suspended":
        waits = ", ".join(f"{record.agent}/{i}" for i in record.waiting_promises)
        return f"suspended, waiting on promise {waits}" if waits else "suspended (timer)"
    return str(record.status)


def iso(ns: int | None) -> str | None:
    """A timestamp in nanoseconds since the epoch as ISO 8601 (UTC, milliseconds)."""
    if not ns:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")
