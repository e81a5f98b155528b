"""Updating an agent to another version of its component, as Golem does.

An update is requested by a :class:`~host.oplog.PendingUpdate` in the agent's oplog (by
the service, for the CLI and REST, or by a guest's update-worker / update-agent) and
applied by the executor once the agent is between invocations: an update an agent
requests of itself takes effect after the invocation that asked. The outcome is the
next entry: :class:`~host.oplog.SuccessfulUpdate`, and the agent runs the new version
from then on, or :class:`~host.oplog.FailedUpdate` with the reason, and it stays on the
old one. Replay passes over all three (``automatic``: the whole oplog replays on the
new version; snapshot-based: replay starts at the update's snapshot).

- ``automatic``: the oplog is replayed, nothing live, on a fresh instance of the new
  version; if the new code diverges from the record, traps or returns other results,
  the update fails (Golem: the worker is restarted on the old version).
- ``snapshot-based`` (Golem REST's ``Manual``): the old version's ``save-snapshot``, a
  fresh instance of the new version's ``load-snapshot`` (host/runtime/snapshots.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import wasmtime

from host.errors import Divergence
from host.oplog import (
    AgentCreated,
    Entry,
    FailedUpdate,
    InvocationFailed,
    Jump,
    PendingUpdate,
    SuccessfulUpdate,
)
from host.resume_entries import indexed, kinds, latest_snapshot
from host.runtime import snapshots
from host.runtime.handles import call_export
from host.runtime.registry import first_line, get_func
from host.runtime.session import Session, current_session, set_current
from host.values import format_value, parse_value

if TYPE_CHECKING:
    from host.ids import AgentId
    from host.runtime.executor import Executor, _Live
    from host.store.base import Store

AUTOMATIC = "automatic"
SNAPSHOT = "snapshot-based"
# The spellings accepted for the two modes: the CLI's, Golem REST's, the WIT enum's.
MODES = {
    "automatic": AUTOMATIC,
    "auto-update": AUTOMATIC,
    "snapshot": SNAPSHOT,
    "snapshot-based": SNAPSHOT,
    "manual": SNAPSHOT,
    "manual-update": SNAPSHOT,
}


_UPDATE_KINDS = frozenset({Jump, PendingUpdate, SuccessfulUpdate, FailedUpdate})


def outcomes(entries: Sequence[Entry]) -> dict[int, Entry | None]:
    """Each update request's oplog index -> its outcome entry (None: not applied yet).
    Outcomes answer the oldest open request, in order; entries a Jump deleted do not
    count."""
    # A resume walks every entry here: the types present, in one C-level pass, say whether
    # there is anything to look at (most agents never update).
    if _UPDATE_KINDS.isdisjoint(kinds(entries)):
        return {}
    relevant = [(i, e) for i, e in indexed(entries) if type(e) in _UPDATE_KINDS]
    deleted = [(e.start, e.end) for _, e in relevant if isinstance(e, Jump)]
    found: dict[int, Entry | None] = {}
    queue: list[int] = []
    for i, e in relevant:
        if deleted and any(s <= i <= t for s, t in deleted):
            continue
        if isinstance(e, PendingUpdate):
            queue.append(i)
            found[i] = None
        elif isinstance(e, SuccessfulUpdate | FailedUpdate) and queue:
            found[queue.pop(0)] = e
    return found


def pending(entries: Sequence[Entry]) -> PendingUpdate | None:
    """The oldest requested update not applied yet."""
    for index, outcome in outcomes(entries).items():
        if outcome is None:
            request = entries[index - 1]
            assert isinstance(request, PendingUpdate)
            return request
    return None


def last_is_pending(store: Store, agent: AgentId, length: int) -> bool:
    """Whether the agent's last entry is an update request (an idle agent with one has
    work: applying it). One entry read."""
    if length < 2:
        return False
    return isinstance(store.read_oplog(agent, length, 1)[0], PendingUpdate)


def _current() -> Session | None:
    try:
        return current_session()
    except RuntimeError:
        return None


class _ReachedEnd(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A dry replay reached the end of the log: the new version reproduced all of it."""


class _DrySession(Session):
    """A session that only replays: the moment it would go live (run a host call live,
    record, commit, or look for the next invocation past the log's end) it stops with
    :class:`_ReachedEnd`, so nothing runs for real and nothing is written."""

    def skip_markers(self) -> None:
        super().skip_markers()
        if not self.replaying:
            raise _ReachedEnd

    def record(self, entry: Entry) -> int:
        raise _ReachedEnd

    def flush(self) -> None:
        pass


def _at_end(session: _DrySession) -> bool:
    """Whether nothing but markers (a retried failure, update entries) is left to replay."""
    try:
        session.skip_markers()
    except _ReachedEnd:
        return True
    return not session.replaying


def dry_replay(executor: Executor, agent: AgentId, hash: str, entries: list[Entry]) -> str | None:
    """Replay ``entries`` on a fresh instance of ``hash`` with nothing run live: None if
    the new code reproduces the record up to its end (an invocation the log leaves open
    included), else why not."""
    created = entries[0]
    assert isinstance(created, AgentCreated)
    registry = executor.registry
    session = _DrySession(agent, executor.store, list(entries), args=created.args, env=created.env)
    session.limits = executor.limits_for(agent)
    session.secrets = executor.secrets
    session.agent_calls = executor.agent_calls
    outer = _current()
    set_current(session)
    try:
        wstore = executor.new_store(session.limits)
        instance = registry.linker(hash).instantiate(wstore, registry.component(hash))
        found = latest_snapshot(session.entries)
        if found is not None:
            index, payload, mime_type = found
            snapshots.load(registry, hash, wstore, instance, snapshots.decode(payload), mime_type)
            session.start_at(index)
        while True:
            started = session.next_invocation()  # _ReachedEnd past the last one
            if isinstance(started, InvocationFailed):
                return f"the agent's invocation {started.invocation_id} failed: {started.error}"
            assert started is not None
            export = registry.resolve_export(hash, started.function)
            values = [
                parse_value(p, t)
                for p, t in zip(started.params, export.sig.param_types, strict=True)
            ]
            session.start_invocation_clock()
            session.invocation_id = started.invocation_id
            session.invocation_started_ns = started.timestamp
            session.invocation_traceparent = started.traceparent
            session.invocation_tracestate = started.tracestate
            session.invocation_key = started.idempotency_key
            try:
                result = call_export(session.exported, wstore, instance, export, values, get_func)
            except Exception as exc:
                if isinstance(session.raised or exc, _ReachedEnd) or _at_end(session):
                    # The open invocation replayed to the log's end (past a retried
                    # attempt's failure: a retry failing again is the live run's own).
                    return None
                raise
            text = None if export.sig.result is None else format_value(result, export.sig.result)
            session.expect_finished(started, text)
    except _ReachedEnd:
        return None
    except Divergence as exc:
        return f"the oplog does not replay on the new version: {exc}"
    except Exception as exc:  # a trap, a host error, a value that does not decode
        cause = session.raised or exc
        if isinstance(cause, Divergence):
            return f"the oplog does not replay on the new version: {cause}"
        return f"replaying on the new version failed: {first_line(cause)}"
    finally:
        set_current(outer)


def target_file(store: Store, agent: AgentId, request: PendingUpdate) -> str | None:
    """The file of the version ``request`` moves to; None if the component has no such
    version. A request for a version the component did not have was accepted with no
    file, as Golem accepts it (host/service/worker_ops.py): it is looked up again now,
    when the update is applied; if still missing, the update fails."""
    if request.component_hash:
        return request.component_hash
    versions = store.list_component_versions(str(agent.component_id))
    return next((c.hash for c in versions if c.version == request.target_version), None)


def _missing(request: PendingUpdate) -> str:
    return f"the component has no version {request.target_version}"


def decide_automatic(executor: Executor, agent: AgentId, entries: list[Entry]) -> bool:
    """At instance creation (the agent's lease held, nothing of it running): if its
    oldest pending update is automatic, try it (:func:`dry_replay`) and record the
    outcome, pinning the new version on success. True if it recorded one."""
    request = pending(entries)
    if request is None or request.mode != AUTOMATIC:
        return False
    hash = target_file(executor.store, agent, request)
    reason = _missing(request) if hash is None else dry_replay(executor, agent, hash, entries)
    entry: Entry = (
        SuccessfulUpdate(request.target_version, hash)
        if reason is None and hash is not None
        else FailedUpdate(request.target_version, f"automatic update failed: {reason}")
    )
    pin = hash if reason is None else None
    executor.store.append(
        agent,
        len(entries) + 1,
        [entry],
        component_hash=pin,
        component_version=request.target_version if pin else None,
    )
    return True


def _by_snapshot(executor: Executor, live: _Live, hash: str) -> tuple[str | None, Entry | None]:
    """(failure reason, None) or (None, the SuccessfulUpdate with the snapshot)."""
    registry = executor.registry
    if snapshots.exports_of(registry, hash).load is None:
        return f"the new version does not export {snapshots.LOAD}", None
    try:
        payload, mime = snapshots.save(registry, live.hash, live.wstore, live.instance)
        wstore = executor.new_store(live.session.limits)
        instance = registry.linker(hash).instantiate(wstore, registry.component(hash))
        snapshots.load(registry, hash, wstore, instance, payload, mime)
    except snapshots.SnapshotError as exc:
        return str(exc), None
    except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
        return f"instantiating the new version failed: {first_line(exc)}", None
    return None, SuccessfulUpdate(0, hash, snapshots.encode(payload), mime)


def apply_between(executor: Executor, live: _Live) -> None:
    """Apply the agent's pending update (the live instance is at rest, between
    invocations, its lease held): record the outcome; on success pin the new version.
    The instance is not to be kept: the next pass builds one of the version now pinned
    (loading the update's snapshot, for a snapshot-based one)."""
    session = live.session
    session.update_pending = False
    request = pending(session.entries)
    if request is None:
        return
    session.flush()
    if request.mode == AUTOMATIC:
        decide_automatic(executor, session.agent, session.entries)
        set_current(session)
        return
    hash = target_file(executor.store, session.agent, request)
    reason, done = (_missing(request), None) if hash is None else _by_snapshot(executor, live, hash)
    set_current(session)
    entry: Entry
    pin: str | None = None
    if reason is not None or not isinstance(done, SuccessfulUpdate) or hash is None:
        entry = FailedUpdate(request.target_version, f"snapshot-based update failed: {reason}")
    else:
        entry = SuccessfulUpdate(request.target_version, hash, done.payload, done.mime_type)
        pin = hash
    executor.store.append(
        session.agent,
        session.next_index,
        [entry],
        component_hash=pin,
        component_version=request.target_version if pin else None,
    )
    session.mark_persisted(entry)


__all__ = [
    "AUTOMATIC",
    "MODES",
    "SNAPSHOT",
    "apply_between",
    "decide_automatic",
    "dry_replay",
    "last_is_pending",
    "outcomes",
    "pending",
    "target_file",
]
