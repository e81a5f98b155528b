"""Use cases over an agent's history: update, revert and fork (Golem's worker
operations), for the CLI and REST (host/server/worker_ops.py).

A mixin of :class:`~host.service.HostService`: ``self.store``, ``self.executor`` and
``self.scheduler`` are the service's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from host import oplog
from host.errors import AgentBusy, InvalidInput, LeaseHeld, UpdateFailed
from host.ids import AgentId, check_promise_owner
from host.runtime import forking, revert, update_queue, updates
from host.store.base import QUEUED, AgentStatus, ComponentRecord

if TYPE_CHECKING:
    from host.agents.agenttypes import AgentType
    from host.runtime.executor import Executor
    from host.runtime.scheduler import Scheduler
    from host.secrets import PromiseSecrets
    from host.store.base import Store


@dataclass(frozen=True)
class UpdateOutcome:
    """Where a requested update stands: ``pending`` (it waits for the agent to be between
    invocations), ``successful`` or ``failed`` (``error`` says why; the agent stays on
    its old version). ``index`` is the request's oplog index (None: it waits in the
    agent's invocation queue, the agent was running an invocation)."""

    agent: AgentId
    target_version: int
    mode: str
    index: int | None
    state: str
    error: str | None = None


class WorkerOps:
    store: Store
    executor: Executor
    scheduler: Scheduler
    secrets: PromiseSecrets

    if TYPE_CHECKING:  # the service's (host/service/agents.py)

        def agent_type_of(self, agent: AgentId) -> AgentType | None: ...

    def _update_target(self, agent: AgentId, version: int | None) -> tuple[int, str]:
        """(version, its file) to update to: the latest for None. A version the
        component does not have (yet) is not refused, as Golem does not refuse it: its
        file is left empty and the update fails when it is applied
        (host/runtime/updates.py looks the version up again then)."""
        if version is None:
            latest: ComponentRecord = self.store.get_component(str(agent.component_id))
            return latest.version, latest.hash
        if version < 0:
            raise InvalidInput(f"no component version is negative ({version})", field="version")
        versions = self.store.list_component_versions(str(agent.component_id))
        found = next((c for c in versions if c.version == version), None)
        return version, "" if found is None else found.hash

    def update_agent(
        self,
        agent: AgentId,
        version: int | None = None,
        mode: str = "automatic",
        *,
        wake: bool = True,
    ) -> UpdateOutcome:
        """Move the agent to a version of its component (default: the latest), as Golem
        does (host/runtime/updates.py): the request is recorded in the oplog and applied
        once the agent is between invocations (at once if it is idle).

        ``automatic``: the oplog is replayed on the new version; ``snapshot`` (Golem's
        ``manual``): the old version's save-snapshot, the new version's load-snapshot.
        A failure is recorded and raised as UpdateFailed when it happened here; the agent
        stays on its version. InvalidInput for the version the agent runs (Golem's
        "Worker is already at the target version"; versions count from 0, as Golem's,
        and are compared by number). A version the component does not have is accepted,
        as Golem accepts it: the update fails when applied (a FailedUpdate; the agent
        goes on on its version). A failed agent is retried to apply it, an interrupted
        one resumed, a suspended or retrying one run now (Golem activates the worker;
        ``wake=False`` leaves it as it is, but for a failed one). An agent running an
        invocation (here or in another process) gets the request queued after it, as
        Golem queues it (host/runtime/update_queue.py): the outcome is then ``pending``
        with no index; a suspended agent takes the request in its oplog at once.

        ``wake=False`` is Golem's ``disableWakeup``: the request is recorded, but an agent
        at rest is not run to apply it; it is applied the next time the agent runs (its
        next invocation, a resume, a completed promise). An agent running an invocation
        is told as without it (Golem interrupts a running one whatever the flag)."""
        chosen = updates.MODES.get(mode.lower())
        if chosen is None:
            raise InvalidInput(
                f"unknown update mode {mode!r}: automatic or snapshot (Golem: manual)",
                field="mode",
            )
        record = self.store.get_agent(agent)  # AgentNotFound, before anything else
        target_version, target_hash = self._update_target(agent, version)
        if target_version == record.component_version:
            # Golem's 400 (its executor's update_worker compares revision numbers): a
            # version holding the same bytes as the agent's is still another version.
            raise InvalidInput("Worker is already at the target version", field="version")
        agent_type = self.agent_type_of(agent)
        if agent_type is not None and agent_type.mode == "ephemeral":
            raise InvalidInput("Ephemeral workers cannot be updated", field="agent")
        request = oplog.PendingUpdate(target_version, target_hash, chosen)
        self._refuse_duplicate(agent, request)
        try:
            # AgentBusy while it runs an invocation here, LeaseHeld while elsewhere.
            with self.executor.holding(agent, busy="updating it"):
                if self.store.get_agent(agent).status == AgentStatus.FAILED:
                    # Golem: a pending update makes a failed worker retrying, and it is
                    # activated to perform it: its failed invocation runs again, on the
                    # new version if the update succeeds.
                    self.store.retry(agent)
                index = self.store.oplog_length(agent) + 1
                self.store.append(agent, index, [request])
        except (AgentBusy, LeaseHeld) as busy:
            # Running: queued; whoever runs the agent takes it from there. A manual one
            # after the running invocation, as Golem queues it (update_queue.py); an
            # automatic one restarts the running invocation on the new version, as
            # Golem does (the scheduler's wake: host/runtime/update_restart.py).
            update_queue.enqueue(self.store, agent, request)
            if isinstance(busy, LeaseHeld):  # another process runs it: it is told
                self.store.wake_owner(busy.owner, agent)
            elif chosen == updates.AUTOMATIC:
                self.executor.interrupt_for_update(agent)  # whatever the scheduler
            self.scheduler.wake(agent)
            return UpdateOutcome(agent, target_version, chosen, None, "pending")
        if wake:
            self._activate(agent)
            self.scheduler.settle(agent)  # inline: applied now if the agent can take it
        outcome = self.update_outcome(agent, index)
        if outcome.state == "failed":
            raise UpdateFailed(
                f"update of {agent} to version {target_version} failed: {outcome.error}"
            )
        return outcome

    def _activate(self, agent: AgentId) -> None:
        """Golem activates a worker that is not running to perform an update
        (``Worker::start_if_needed`` for an interrupted, suspended, retrying or failed
        one): an interrupted agent is resumed, a suspended or retrying one made due now.
        Its run applies an automatic update at once (the new instance replays the oplog
        on the new version) and goes on as before: a suspended agent suspends again, on
        the new version. A snapshot-based one still waits for the end of the invocation."""
        if self.store.get_agent(agent).status == AgentStatus.INTERRUPTED:
            self.store.resume(agent)
        else:
            self.store.wake_now(agent)

    def _refuse_duplicate(self, agent: AgentId, request: oplog.PendingUpdate) -> None:
        """Golem's 400 for a request equal (target version and mode) to one that is
        pending: in the oplog without an outcome yet, or waiting in the queue."""
        entries = self.store.read_oplog_kinds(agent, update_queue.KINDS)
        in_oplog = _open_requests(entries)
        queued = update_queue.queued_updates(self.store.list_invocations(agent, [QUEUED]))
        waiting = in_oplog + [update_queue.request_of(r) for r in queued]
        if any(
            (w.target_version, w.mode) == (request.target_version, request.mode) for w in waiting
        ):
            raise InvalidInput("The same update is already in progress", field="version")

    def update_outcome(self, agent: AgentId, index: int) -> UpdateOutcome:
        """The state of the update requested at oplog index ``index``."""
        entries = self.store.read_oplog(agent)
        request = entries[index - 1]
        assert isinstance(request, oplog.PendingUpdate)
        answer = updates.outcomes(entries).get(index)
        state, error = "pending", None
        if isinstance(answer, oplog.SuccessfulUpdate):
            state = "successful"
        elif isinstance(answer, oplog.FailedUpdate):
            state, error = "failed", answer.details
        return UpdateOutcome(agent, request.target_version, request.mode, index, state, error)

    def update_records(self, agent: AgentId) -> list[update_queue.UpdateRecord]:
        """The agent's update requests with their outcomes, as Golem's worker metadata
        lists them (``updates``): from its oplog, then those still queued."""
        self.store.get_agent(agent)  # AgentNotFound
        # Only the entries of those kinds are decoded: a long oplog is not read whole.
        entries = self.store.read_oplog_kinds(agent, update_queue.KINDS)
        queued = self.store.list_invocations(agent, [QUEUED])
        return update_queue.records(entries, queued)

    def revert_agent(
        self, agent: AgentId, index: int | None = None, last_invocations: int | None = None
    ) -> oplog.Jump:
        """Golem's revert: drop the oplog after ``index``, or the last ``last_invocations``
        invocations (host/runtime/revert.py); the agent goes on from there."""
        jump = revert.revert(self.store, agent, index, last_invocations)
        self.executor.forget_instance(agent)
        return jump

    def fork_agent(self, source: AgentId, target_name: str, cut_off: int) -> AgentId:
        """Golem's fork: a new agent ``target_name`` of the same component whose oplog is
        ``source``'s up to and including ``cut_off`` (host/runtime/forking.py); it goes
        on on its own (at once, when the cut is inside an invocation). AgentExists,
        AgentNotFound, InvalidInput (the name, the cut-off)."""
        try:
            name = check_promise_owner(target_name)
        except InvalidInput as exc:
            raise InvalidInput(str(exc), field="target") from None
        target = AgentId(source.component_id, name)
        self.store.get_agent(source)  # AgentNotFound before anything else
        if forking.fork_into(self.store, source, target, cut_off, self.secrets.hash_of):
            self.scheduler.settle(target)
        return target


def _open_requests(entries: list[tuple[int, oplog.Entry]]) -> list[oplog.PendingUpdate]:
    """The update requests among (index, entry) pairs of update_queue.KINDS that have no
    outcome yet (outcomes answer the oldest open request; entries a Jump deleted do not
    count)."""
    deleted = [(e.start, e.end) for _, e in entries if isinstance(e, oplog.Jump)]
    waiting: list[oplog.PendingUpdate] = []
    for i, e in entries:
        if any(s <= i <= t for s, t in deleted):
            continue
        if isinstance(e, oplog.PendingUpdate):
            waiting.append(e)
        elif isinstance(e, oplog.SuccessfulUpdate | oplog.FailedUpdate) and waiting:
            waiting.pop(0)
    return waiting
