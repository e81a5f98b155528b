"""Snapshots of the executor's runs (a mixin of :class:`host.runtime.executor.Executor`):
a fresh instance starts at the latest snapshot, and a live invocation ends with a snapshot
when the agent's policy says one is due. The snapshot format and policies are in
host/runtime/snapshots.py.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import wasmtime
import wasmtime.component as wc

from host.agents.agenttypes import Snapshotting
from host.errors import HostError
from host.ids import AgentId
from host.oplog import InvocationStarted, Snapshot
from host.resume_entries import latest_snapshot
from host.runtime import golem, snapshots
from host.runtime.lru import LRU
from host.runtime.registry import ComponentRegistry
from host.runtime.session import Session

log = logging.getLogger("host.runtime.executor")


class SnapshotTaking:
    """Loading the latest snapshot into a fresh instance, and taking snapshots when due."""

    registry: ComponentRegistry
    default_snapshotting: Snapshotting
    _snapshot_clocks: LRU[AgentId, snapshots.SnapshotClock]

    if TYPE_CHECKING:

        def _fail(
            self,
            agent: AgentId,
            session: Session,
            started: InvocationStarted | None,
            message: str,
        ) -> None: ...

    def _load_latest_snapshot(
        self, session: Session, wstore: wasmtime.Store, instance: wc.Instance, hash: str
    ) -> bool:
        """Start the replay at the latest snapshot, loaded into the fresh instance; False
        (the agent is failed) if the component refuses it."""
        found = latest_snapshot(session.entries)
        if found is None:
            return True
        index, payload, mime_type = found
        try:
            snapshots.load(
                self.registry, hash, wstore, instance, snapshots.decode(payload), mime_type
            )
        except snapshots.SnapshotError as exc:
            message = f"recovery from the snapshot at oplog index {index} failed: {exc}"
            self._fail(session.agent, session, None, message)
            return False
        session.start_at(index)
        snapshots.restore_host_state(session, index)
        return True

    def snapshot_policy(self, agent: AgentId, hash: str) -> Snapshotting:
        """The agent's snapshotting: its agent type's, else the host's default."""
        declared = None
        types = self.registry.agent_types(hash)
        if types is not None:
            from host.agents.agentid import find_type, parse_agent_id

            try:
                agent_type = find_type(parse_agent_id(agent.name).type_name, types)
            except HostError:
                agent_type = None
            declared = agent_type.snapshotting if agent_type is not None else None
        return snapshots.resolve_policy(declared, self.default_snapshotting)

    def _snapshot_if_due(
        self, session: Session, wstore: wasmtime.Store, instance: wc.Instance, hash: str
    ) -> None:
        """After a live invocation: save and record a snapshot if the policy says so. A
        snapshot that cannot be saved is logged and skipped (recovery replays instead)."""
        agent = session.agent
        policy = self.snapshot_policy(agent, hash)
        if policy.kind == "disabled" or session.update_pending:
            # An update is applied next (updates.apply_between): a snapshot now would put
            # the request before the latest snapshot, where a resume does not look.
            return
        clock = self._snapshot_clocks.setdefault(
            agent, lambda: snapshots.SnapshotClock(last_ns=time.time_ns())
        )
        clock.invocations += 1
        if not snapshots.due(policy, clock, time.time_ns()):
            return
        clock.invocations, clock.last_ns = 0, time.time_ns()
        try:
            payload, mime_type = snapshots.save(self.registry, hash, wstore, instance)
            state = golem.durable_state(session)
            session.record(Snapshot(snapshots.encode(payload), mime_type, host_state=state))
        except HostError as exc:  # SnapshotError, LimitExceeded
            log.warning("agent %s: no snapshot taken: %s", agent, exc)
            return
        session.flush()
