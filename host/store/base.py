"""The store: components, agents, oplogs, promises, invocations and leases.

One abstract :class:`Store`; :mod:`host.store.sqlite` implements it on an
embedded SQLite file. Every method is one transaction. The methods that pair an
oplog append with a state change (promise creation, suspension, completion,
invocation start/finish) do both atomically: that is what makes a crash at any
point lose nothing.

An agent's status is an :class:`AgentStatus`, an invocation's state an
:class:`InvocationState`: string enums, so a member equals (and hashes like) its
string (``AgentStatus.FAILED == "failed"``) and serializes as that plain string
(``json.dumps``, FastAPI responses). The module-level names ``IDLE``, ``RUNNING``,
``SUSPENDED``, ``FAILED``, ``INTERRUPTED``, ``QUEUED``, ``STARTED``, ``DONE`` and
``ERRORED`` (the invocation state ``failed``) are aliases of those members, kept only
for the transition while callers outside the store move to the enums; new code should
name the members (``AgentStatus.IDLE``, ``InvocationState.FAILED``).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from host.errors import NotFound, StoreError
from host.ids import AgentId, PromiseId
from host.oplog import Entry, InvocationFailed, InvocationFinished, InvocationStarted, Suspended
from host.store.schedules import ScheduleStore

# (agent, first index, a function from the call's result to the entries to append)
Journal = tuple[AgentId, int, Callable[[bool], Sequence[Entry]]]


class AgentStatus(enum.StrEnum):
    """An agent's status (Golem's names)."""

    IDLE = "idle"
    RUNNING = "running"
    SUSPENDED = "suspended"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped by request; nothing runs until it is resumed
    # A trap failed its invocation and the retry policy allows another attempt: the
    # failure is recorded with a Retried marker, and the scheduler re-runs the
    # invocation once ``wake_at_ns`` is due (host/runtime/executor.py, "Retries").
    RETRYING = "retrying"


class InvocationState(enum.StrEnum):
    """Where a queued invocation is: queued, started, then done or failed."""

    QUEUED = "queued"
    STARTED = "started"
    DONE = "done"
    FAILED = "failed"


# Aliases for the transition only (see the module docstring): use the enums in new code.
IDLE = AgentStatus.IDLE
RUNNING = AgentStatus.RUNNING
SUSPENDED = AgentStatus.SUSPENDED
FAILED = AgentStatus.FAILED
INTERRUPTED = AgentStatus.INTERRUPTED
RETRYING = AgentStatus.RETRYING
STATUSES = tuple(AgentStatus)
QUEUED = InvocationState.QUEUED
STARTED = InvocationState.STARTED
DONE = InvocationState.DONE
ERRORED = InvocationState.FAILED


# A component's first version. Versions count from 0, as Golem's do (its
# ComponentRevision::INITIAL): the first upload is version 0, each new upload the next.
# Stores written before migration 11 (SQLite) / 5 (PostgreSQL) counted from 1 and are
# renumbered by it (host/store/version_migration.py).
FIRST_VERSION = 0


@dataclass(frozen=True)
class ComponentRecord:
    """One version of a component (``version`` from :data:`FIRST_VERSION`)."""

    id: str
    name: str
    version: int
    hash: str
    size: int
    created_at: int


@dataclass(frozen=True)
class AgentRecord:
    agent: AgentId
    component_hash: str
    status: AgentStatus
    created_at: int
    last_error: str | None
    waiting_promises: tuple[int, ...]
    wake_at_ns: int | None
    oplog_length: int
    # Automatic retries of the current failure (reset by a success or a manual retry).
    retry_count: int = 0
    # The component version it runs, by number (host/agent_versions.py): set at creation
    # and by each successful update or revert, with ``component_hash``.
    component_version: int = 0


@dataclass(frozen=True)
class PromiseRecord:
    id: PromiseId
    created_at: int
    function: str | None  # the invocation that created it
    completed: bool
    data: bytes | None
    completed_at: int | None


@dataclass(frozen=True)
class InvocationRecord:
    agent: AgentId
    seq: int
    invocation_id: str
    function: str
    params: tuple[str, ...]
    idempotency_key: str | None
    state: InvocationState
    result: str | None
    error: str | None
    created_at: int
    # The W3C traceparent its request carried (host/runtime/context.py); None: none.
    traceparent: str | None = None
    # The W3C tracestate that came with it (host/tracecontext.py); None: none.
    tracestate: str | None = None


class Store(ScheduleStore, abc.ABC):
    """Durable state of one host (or several hosts sharing one database); scheduled
    invocations are :class:`~host.store.schedules.ScheduleStore`'s."""

    # -- health, integrity, backup (a store that cannot tell keeps these defaults) ----
    def health(self) -> None:  # noqa: B027 - optional, not abstract
        """A cheap read proving the store usable now; StoreError if it is not."""

    def verify(self) -> None:  # noqa: B027 - optional, not abstract
        """A whole-store integrity check (slower); StoreError naming the damage."""

    def listen(
        self, on_event: Callable[[AgentId, bool], None], owner: str | None = None
    ) -> Callable[[], None] | None:
        """Deliver other processes' wake-ups as they commit: ``on_event(agent, work)``
        (``work``: the agent has work to run; otherwise only its state changed, e.g. an
        invocation ended), from a thread of the store's, until the returned function is
        called. ``owner``: the listening process's lease owner (SQLite's local channel,
        host/store/wakeup.py, is addressed by it). None when the store has no such
        channel (the scheduler's scanner finds everything anyway, only later)."""
        return None

    def wake_owner(self, owner: str, agent: AgentId) -> None:  # noqa: B027 - optional
        """Tell the process ``owner`` (which holds the agent's lease) that the agent has
        work now, committed by this process. A store whose transactions announce work
        themselves (PostgreSQL's NOTIFY) does nothing here."""

    def announce_ended(self, agent: AgentId) -> None:  # noqa: B027 - optional
        """Tell other processes that an invocation of the agent ended (their held
        requests look at once). PostgreSQL's finish transaction announces it itself."""

    def backup(self, dest: Path) -> None:
        """A consistent copy of the store at ``dest``, safe while others write."""
        raise StoreError("this store cannot take backups")

    # -- components -----------------------------------------------------------
    @abc.abstractmethod
    def add_component(self, name: str, hash: str, size: int) -> ComponentRecord:
        """Register a component version: a new id for a new name, the next version otherwise."""

    @abc.abstractmethod
    def get_component(self, ref: str) -> ComponentRecord:
        """Latest version of a component by id or name; ComponentNotFound otherwise."""

    @abc.abstractmethod
    def list_components(self) -> list[ComponentRecord]: ...

    def set_agent_types(self, hash: str, types_json: str) -> None:
        """Keep the agent types a component file (by content hash) reported at
        registration (host/agents/model.py ``agent_types_to_json``)."""
        raise NotImplementedError

    def get_agent_types(self, hash: str) -> str | None:
        """The agent types stored for a component file, or None for a plain component."""
        raise NotImplementedError

    @abc.abstractmethod
    def list_component_versions(self, component_id: str) -> list[ComponentRecord]: ...

    @abc.abstractmethod
    def set_limits(self, scope: str, limits: dict[str, object]) -> None:
        """Set the limits of a component (scope: its id) or agent (``<id>/<name>``)."""

    @abc.abstractmethod
    def get_limits(self, scope: str) -> dict[str, object]: ...

    def get_limits_of(self, scopes: Sequence[str]) -> list[dict[str, object]]:
        """:meth:`get_limits` of each scope, in order, in one read where the store can
        (a resume needs its component's and its agent's)."""
        return [self.get_limits(scope) for scope in scopes]

    @abc.abstractmethod
    def set_retry_policy(self, name: str, data: dict[str, object]) -> None:
        """Add or replace the host-wide named retry policy ``name`` (its JSON form)."""

    @abc.abstractmethod
    def remove_retry_policy(self, name: str) -> bool:
        """Drop the host-wide policy ``name``; False if there was none."""

    @abc.abstractmethod
    def list_retry_policies(self) -> list[dict[str, object]]:
        """The host-wide named retry policies' JSON forms, by name."""

    @abc.abstractmethod
    def retry(self, agent: AgentId) -> str | None:
        """Let a failed agent run again: the failed invocation (its id is returned) is
        re-executed by the next replay. Conflict unless the agent is failed."""

    @abc.abstractmethod
    def retry_later(
        self,
        agent: AgentId,
        pending: Sequence[Entry],
        first_index: int,
        failed: InvocationFailed,
        wake_at_ns: int,
    ) -> None:
        """Atomically: append ``pending`` + ``failed`` + a Retried marker (replay skips the
        failed attempt and re-executes the invocation), mark the agent retrying until
        ``wake_at_ns`` (steady clock) with the error, and count the retry."""

    @abc.abstractmethod
    def interrupt(self, agent: AgentId) -> AgentStatus:
        """Mark an idle or suspended agent interrupted; returns the status it had."""

    @abc.abstractmethod
    def resume(self, agent: AgentId) -> None:
        """Let an interrupted agent run again (its waits are re-checked by a replay)."""

    @abc.abstractmethod
    def request_interrupt(self, agent: AgentId) -> bool:
        """Mark that an interrupt is asked of the agent, running an invocation in another
        process (whose scheduler, woken, takes it: :meth:`take_interrupt_request`);
        False if it is not running."""

    @abc.abstractmethod
    def take_interrupt_request(self, agent: AgentId) -> bool:
        """Clear the agent's interrupt request; whether there was one."""

    @abc.abstractmethod
    def wake_now(self, agent: AgentId) -> bool:
        """Make a suspended or retrying agent due now (a replay re-checks what it waits
        for: it suspends again if that has not come); whether it was one of those."""

    # -- agents ---------------------------------------------------------------
    @abc.abstractmethod
    def create_agent(
        self, agent: AgentId, component_hash: str, created: Entry, component_version: int = 0
    ) -> bool:
        """Create the agent with oplog entry 1, on version ``component_version`` (whose
        file is ``component_hash``); False if it already exists."""

    @abc.abstractmethod
    def fork_agent(
        self,
        source: AgentId,
        target: AgentId,
        cut_off: int,
        secret_hash: Callable[[PromiseId], str] | None = None,
        *,
        replace: Mapping[int, Entry] | None = None,
        tail: Sequence[Entry] = (),
        resume: InvocationStarted | None = None,
        component: tuple[str, int] | None = None,
    ) -> None:
        """Create ``target`` (idle, on ``component``: the (file, version) it runs, else
        ``source``'s component version) whose oplog is a copy
        of ``source``'s entries 1..``cut_off``, in one transaction, with a copy of each
        promise ``source`` created at or before ``cut_off`` (its id now names ``target``;
        pending stays pending, completed keeps its data). A copied promise that had a
        secret gets ``secret_hash`` of its new id (none without it). AgentExists if
        ``target`` exists, AgentNotFound if ``source`` does not, InvalidInput if
        ``cut_off`` is outside ``source``'s oplog.

        In the same transaction (host/runtime/forking.py plans them): the entries of
        ``replace`` (index -> entry) are written in place of the copied ones, ``tail`` is
        appended after ``cut_off``, and with ``resume`` (an invocation the cut left open)
        the agent starts ``running`` with that invocation started, so it is run (replayed
        up to the cut, then live) without anything else written."""

    @abc.abstractmethod
    def get_agent(self, agent: AgentId) -> AgentRecord:
        """AgentNotFound if there is no such agent."""

    @abc.abstractmethod
    def list_agents(
        self, component_id: str | None = None, status: str | None = None
    ) -> list[AgentRecord]: ...

    def agent_listing(
        self, component_id: str | None = None, status: str | None = None
    ) -> list[tuple[AgentRecord, Entry, list[PromiseRecord], list[InvocationRecord]]]:
        """:meth:`list_agents` with each agent's first oplog entry (its creation), its
        pending promises and its queued and started invocations, in a few queries for
        the whole listing (issue 13: a listing of 1,000 agents made 4,000 queries).
        Stores without a bulk query answer agent by agent."""
        records = self.list_agents(component_id, status)
        firsts = self.first_entries(component_id, status)
        promises: dict[AgentId, list[PromiseRecord]] = {}
        for promise in self.list_promises(None, pending_only=True):
            promises.setdefault(promise.id.agent, []).append(promise)
        invocations: dict[AgentId, list[InvocationRecord]] = {}
        for invocation in self.open_invocations(component_id):
            invocations.setdefault(invocation.agent, []).append(invocation)
        listing = []
        for record in records:
            first = firsts.get(record.agent)
            if first is None:
                first = self.read_oplog(record.agent, 1, 1)[0]
            listing.append(
                (record, first, promises.get(record.agent, []), invocations.get(record.agent, []))
            )
        return listing

    def first_entries(
        self, component_id: str | None = None, status: str | None = None
    ) -> dict[AgentId, Entry]:
        """Each agent's first oplog entry (of one component, or all; of the agents with
        that status, or all)."""
        return {
            a.agent: self.read_oplog(a.agent, 1, 1)[0]
            for a in self.list_agents(component_id, status)
        }

    def open_invocations(self, component_id: str | None = None) -> list[InvocationRecord]:
        """The queued and started invocations (of one component's agents, or all), by
        agent and sequence."""
        return [
            i
            for a in self.list_agents(component_id)
            for i in self.list_invocations(
                a.agent, [InvocationState.QUEUED, InvocationState.STARTED]
            )
        ]

    def agent_marks(self, agents: Sequence[AgentId]) -> dict[AgentId, tuple[str, int]]:
        """(status, oplog length) of each existing agent: what changes whenever anything
        happens to it. One query for many agents where the store can (held waits poll
        this once per scan instead of once per waiter)."""
        marks = {}
        for agent in agents:
            try:
                record = self.get_agent(agent)
            except NotFound:
                continue
            marks[agent] = (str(record.status), record.oplog_length)
        return marks

    @abc.abstractmethod
    def delete_agent(self, agent: AgentId) -> None: ...

    @abc.abstractmethod
    def set_component_hash(
        self, agent: AgentId, component_hash: str, component_version: int | None = None
    ) -> None:
        """Pin the agent to another component version (its file; and its number, if
        given)."""

    @abc.abstractmethod
    def set_status(self, agent: AgentId, status: AgentStatus, error: str | None = None) -> None: ...

    # -- oplog ----------------------------------------------------------------
    @abc.abstractmethod
    def append(
        self,
        agent: AgentId,
        first_index: int,
        entries: Sequence[Entry],
        *,
        component_hash: str | None = None,
        component_version: int | None = None,
        takes_invocation: str | None = None,
    ) -> None:
        """Append entries at first_index, first_index+1, ...; OplogConflict if any exists.
        With ``component_hash`` (and ``component_version``, its number), the agent is
        pinned to that component version in the same transaction (an update's or
        revert's entry and the version it implies never part).
        With ``takes_invocation``, that queued invocation (an update request waiting in the
        queue, host/runtime/update_queue.py) is marked done in the same transaction, so
        the request is in the oplog or in the queue, never both nor neither."""

    @abc.abstractmethod
    def read_oplog(self, agent: AgentId, start: int = 1, count: int | None = None) -> list[Entry]:
        """Entries from index ``start`` (1-based), at most ``count`` of them."""

    @abc.abstractmethod
    def read_oplog_raw(self, agent: AgentId) -> list[tuple[int, str, bytes | None]]:
        """(index, stored head, stored blob) of every entry, undecoded (the row form of
        :mod:`host.oplog_codec`): for integrity checks."""

    def read_oplog_resume_kinds(self, agent: AgentId) -> list[tuple[int, Entry]]:
        """(index, entry) of the agent's entries of the types a resume reads before its
        latest snapshot (``host.oplog_codec.RESUME_KINDS``), in order. The stores answer
        from an index; this default reads the whole oplog."""
        from host.oplog_codec import RESUME_KINDS, kind_of

        entries = self.read_oplog(agent)
        return [(i, e) for i, e in enumerate(entries, 1) if kind_of(e) in RESUME_KINDS]

    def read_oplog_kinds(self, agent: AgentId, kinds: Sequence[str]) -> list[tuple[int, Entry]]:
        """(index, entry) of the agent's entries of the types ``kinds``
        (``host.oplog_codec.kind_of`` names), in order; AgentNotFound-free: an unknown
        agent has none. The stores filter on their ``kind`` column, decoding only those;
        this default reads the whole oplog."""
        from host.oplog_codec import kind_of

        wanted = set(kinds)
        return [(i, e) for i, e in enumerate(self.read_oplog(agent), 1) if kind_of(e) in wanted]

    @abc.abstractmethod
    def oplog_length(self, agent: AgentId) -> int: ...

    # -- promises -------------------------------------------------------------
    @abc.abstractmethod
    def create_promise(
        self,
        agent: AgentId,
        pending: Sequence[Entry],
        first_index: int,
        function: str | None,
        secret_hash: str | None = None,
    ) -> PromiseId:
        """Append ``pending`` (whose last entry is the PromiseCreated) and create the promise
        (with the hash of its secret, if given)."""

    @abc.abstractmethod
    def promise_secret_hash(self, promise: PromiseId) -> str | None:
        """The stored hash of the promise's secret; PromiseNotFound if unknown."""

    @abc.abstractmethod
    def get_promise(self, promise: PromiseId) -> PromiseRecord:
        """PromiseNotFound for an unknown or deleted promise."""

    @abc.abstractmethod
    def promise_payload(self, promise: PromiseId) -> bytes | None:
        """The payload a promise was completed with (None while pending), deleted or not:
        replay reads it where the oplog refers to it instead of holding a copy
        (:mod:`host.runtime.promise_payloads`). PromiseNotFound if there is no such row."""

    @abc.abstractmethod
    def complete_promise(
        self, promise: PromiseId, data: bytes, journal: Journal | None = None
    ) -> bool:
        """True the first time, False if already completed (the first payload stays).

        Wakes the owner if it is suspended waiting on this promise. With a
        ``journal`` (agent, first index, entries-for-result), the completing
        agent's oplog entries are appended in the same transaction.
        """

    @abc.abstractmethod
    def delete_promise(self, promise: PromiseId) -> None: ...

    @abc.abstractmethod
    def deleted_promise_indexes(self, agent: AgentId) -> set[int]:
        """The oplog indexes of the agent's deleted promises (their rows stay, marked)."""

    @abc.abstractmethod
    def list_promises(
        self, agent: AgentId | None = None, pending_only: bool = True
    ) -> list[PromiseRecord]: ...

    def count_pending_promises(self, agent: AgentId) -> int:
        """How many of the agent's promises are neither completed nor deleted (checked at
        every create-promise against max_pending_promises). This default lists them; a
        store should count them in place."""
        return len(self.list_promises(agent))

    # -- execution transitions ---------------------------------------------------
    @abc.abstractmethod
    def suspend(
        self, agent: AgentId, pending: Sequence[Entry], first_index: int, entry: Suspended
    ) -> bool:
        """Atomically: unless an awaited promise is already completed or the timer is due,
        append ``pending`` + ``entry`` and mark the agent suspended. Returns whether it did
        (False means: do not suspend, run on; spec rule 4)."""

    @abc.abstractmethod
    def start_invocation(
        self, agent: AgentId, pending: Sequence[Entry], first_index: int, entry: InvocationStarted
    ) -> bool: ...

    @abc.abstractmethod
    def finish_invocation(
        self,
        agent: AgentId,
        pending: Sequence[Entry],
        first_index: int,
        entry: InvocationFinished | InvocationFailed,
        *,
        completes: tuple[PromiseId, bytes] | None = None,
    ) -> None:
        """Record the invocation's end. With ``completes``, that promise (another agent's,
        awaiting this invocation: agent-to-agent calls) is completed with the data in the
        same transaction, if it is still pending and not deleted: the callee's end and
        the caller's wake-up are never apart."""

    # -- the invocation queue ---------------------------------------------------
    @abc.abstractmethod
    def enqueue(
        self,
        agent: AgentId,
        invocation_id: str,
        function: str,
        params: Sequence[str],
        idempotency_key: str | None,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> InvocationRecord:
        """Queue an invocation; with an idempotency key already used, return that one.
        ``traceparent``, ``tracestate``: the W3C trace context its request carried, kept
        with it."""

    @abc.abstractmethod
    def get_invocation(self, invocation_id: str) -> InvocationRecord: ...

    @abc.abstractmethod
    def list_invocations(
        self, agent: AgentId, states: Sequence[str] | None = None
    ) -> list[InvocationRecord]: ...

    # -- scheduling -----------------------------------------------------------
    @abc.abstractmethod
    def runnable_agents(self, now_ns: int) -> list[AgentId]:
        """Agents with work: woken or due suspended or retrying agents, interrupted running ones,
        and agents with queued invocations that are not suspended or failed."""

    # -- leases ---------------------------------------------------------------
    @abc.abstractmethod
    def acquire_lease(self, agent: AgentId, owner: str, ttl_s: float) -> str | None:
        """Take the agent's lease; None on success, else the current live owner. A new
        owner gets a new fencing token: the store's writes for the agent made under an
        older token raise :class:`~host.errors.LeaseLost` (see host/store/sqlite.py)."""

    @abc.abstractmethod
    def renew_lease(self, agent: AgentId, owner: str, ttl_s: float) -> bool:
        """Renew a lease ``owner`` holds (a heartbeat); False, changing nothing, if it
        does not hold it (released, or taken over by another owner)."""

    @abc.abstractmethod
    def release_lease(self, agent: AgentId, owner: str) -> None: ...

    @abc.abstractmethod
    def renew_owner(self, owner: str, ttl_s: float) -> bool:
        """The owner process's heartbeat, keeping every lease it holds alive; False if it
        holds none any more (judged stale by another process and evicted, or released)."""

    def lease_holder(self, agent: AgentId, owner: str) -> str | None:
        """The other process holding the agent's lease, if a read can vouch that it is
        alive (then acquiring it would only fail, a write transaction spent); None when
        unsure, free or ``owner``'s own: :meth:`acquire_lease` decides."""
        return None

    @abc.abstractmethod
    def release_owner(self, owner: str) -> None:
        """Release every lease the owner process holds (it stops)."""

    @abc.abstractmethod
    def close(self) -> None: ...
