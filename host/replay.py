"""Replay: the oplog cursor and the record-or-replay decision, with no wasm in sight.

An agent's memory is never saved, so every run re-executes its invocations from the
oplog: the guest's host calls are answered from the recorded entries, in order, until
the log ends and execution continues live, recording as it goes. This module is that
logic alone, so that it can be tested on golden oplogs with a scripted guest (a list of
host calls) instead of a compiled component, the way Temporal tests its replayer
against recorded histories. It must not import wasmtime (a test checks).

:class:`Replay` is the cursor over one agent's entries and the checks replay makes at
each step (what comes next at the top level, whether an invocation's result is the
recorded one, whether a host call is the recorded one); :func:`host_call` decides, by
the function's :class:`Kind`, whether one host call runs live, is answered from the
record, or both. A mismatch is a :class:`~host.errors.Divergence` naming the agent, the
oplog index, what was recorded and what the guest called: the oplog is the truth, and
a component that no longer matches it must not write to it.

Host functions are classified by :class:`Kind`:

- ``PURE``: a function of the guest's inputs and host-side bookkeeping (handing
  out a stdout stream, dropping a handle). Never recorded; runs in both modes.
- ``READ``: non-deterministic (clocks, random, environment, a promise's state)
  or a local side effect whose loss in a crash is harmless (guest stdout).
  Recorded live and kept in memory until the next commit; on replay the
  recorded response is returned and the function does not run.
- ``EFFECT``: a side effect others can see (completing a promise, a new
  idempotency key). Recorded and committed before the guest sees the result.
- ``STATE``: changes deterministic per-agent state (idempotence mode, retry
  policy). Recorded, and runs in both modes so that replay rebuilds the state. (The
  named retry policies write entries of their own: host/runtime/golem_retry.py.)
- ``JOURNALED``: the function writes its own oplog entry in the same store
  transaction as its effect (creating or completing a promise); on replay its
  ``replay`` hook (or the recorded response) answers.

Golem's durability controls (golem:api/host) are cursor rules here too:

- **Deleted regions**: a :class:`~host.oplog.Jump` entry deletes the entries from its
  ``start`` to its own index; they stay in the log and every later replay skips them.
- **Atomic regions**: ``mark-begin-operation`` records a BeginAtomicRegion. On replay, a
  region with no EndAtomicRegion whose log does not end in a suspension was cut short by a
  trap or a crash: its first attempt is deleted (a Jump from just after the begin entry to
  the jump itself) and the region re-executes live.
- **Jumps back**: ``set-oplog-index(i)`` records a Jump deleting ``i + 1`` to the jump and
  raises :class:`Restart`: the agent replays without them and continues live from ``i``.
  The Jumps an invocation made are counted from the log (so the count survives restarts);
  past :meth:`Replay.jump_limit` the call fails the invocation (:class:`DurabilityError`).
- **Persistence level**: under ``persist-nothing`` host calls are neither recorded nor
  replayed (they run again on replay); only the level changes are recorded
  (ChangePersistenceLevel) and journaled functions (promises) keep their entries.
- **Idempotence mode off**: a remote write (outgoing HTTP) is bracketed by a committed
  BeginRemoteWrite and an EndRemoteWrite; on replay a begin whose effect was never
  recorded fails the invocation (:class:`NotIdempotent`) instead of sending again.

Uncommitted ``READ`` entries are safe to lose: nothing outside the agent saw
them, because every externally visible step (an effect, a suspension, an
invocation result) commits everything recorded before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from host import oplog
from host.errors import Divergence, HostError

# Re-exported: host functions are defined against host.replay's names throughout.
from host.hostfunc import PERSIST_NOTHING as PERSIST_NOTHING
from host.hostfunc import HostFunc as HostFunc
from host.hostfunc import Kind as Kind
from host.hostfunc import has_resource as has_resource
from host.hostfunc import jsonable as jsonable
from host.ids import AgentId
from host.oplog import (
    BeginAtomicRegion,
    BeginRemoteWrite,
    ChangePersistenceLevel,
    EndAtomicRegion,
    EndRemoteWrite,
    Entry,
    FailedUpdate,
    HostCall,
    InFunctionRetry,
    InvocationFailed,
    InvocationFinished,
    InvocationStarted,
    Jump,
    PendingUpdate,
    PromiseCreated,
    Retried,
    Snapshot,
    SuccessfulUpdate,
    Suspended,
    describe,
)
from host.resume_entries import Elided, indexed, kinds
from host.values import from_json, to_json
from host.values.types import FuncSig, WitType


class Restart(Exception):  # noqa: N818 - a control-flow signal, like Suspend
    """Raised by ``set-oplog-index`` after committing its Jump: drop the instance and run
    the agent again, replaying without the deleted entries."""


class DurabilityError(HostError):
    """The guest misused a durability control (a jump forward, into a deleted region, an
    unknown atomic region); its invocation fails with this message."""


class NotIdempotent(HostError):
    """A remote write begun with idempotence mode off has no recorded outcome: it may or may
    not have happened, so it is not retried and the invocation fails."""


class Replay:
    """The cursor over one agent's oplog, and the checks replay makes as it moves.

    ``entries[:persisted]`` are committed; ``entries[cursor:]`` are still to be
    replayed (the agent is ``replaying`` while there are any). Entry 1
    (AgentCreated) is the executor's, so the cursor starts past it.
    """

    def __init__(self, agent: AgentId, entries: list[Entry]) -> None:
        self.agent = agent
        self.entries = entries
        self.persisted = len(entries)  # entries[:persisted] are in the store
        self.cursor = 1 if entries else 0  # entry 1 (AgentCreated) is the executor's
        self.retried: set[str] = set()
        # Deleted regions (oplog indexes, inclusive), from every Jump in the log.
        self.deleted: list[tuple[int, int]] = []
        present = kinds(entries)  # most logs hold neither
        for _, e in indexed(entries) if Retried in present or Jump in present else ():
            if isinstance(e, Retried):
                self.retried.add(e.invocation_id)
            elif isinstance(e, Jump):
                self.deleted.append((e.start, e.end))
        # Guest-controlled durability state, rebuilt by replay like the rest of the state.
        self.persistence_level = "smart"
        self.idempotent = True
        # Set by a live effect that needs the agent to run again from a fresh instance
        # once its own call is committed (an automatic update of itself, as Golem
        # interrupts the caller): host_call raises Restart after committing the call.
        self.restart_after_call: str | None = None
        # A remote write's bracket is being completed after a crash (HostFunc.recovers).
        self.recovering = False

    # -- the cursor ---------------------------------------------------------------
    @property
    def replaying(self) -> bool:
        return self.cursor < len(self.entries)

    def index_of_cursor(self) -> int:
        """The oplog index (1-based) of the entry at the cursor."""
        return self.cursor + 1

    def is_marker(self, entry: Entry) -> bool:
        """Entries replay passes over: suspensions, retries (of invocations and in-function
        ones), snapshots and updates, and failures that were retried."""
        if isinstance(
            entry,
            Suspended
            | Retried
            | InFunctionRetry
            | Snapshot
            | PendingUpdate
            | SuccessfulUpdate
            | FailedUpdate
            | Elided,
        ):
            return True
        return isinstance(entry, InvocationFailed) and entry.invocation_id in self.retried

    def is_deleted(self, index: int) -> bool:
        """Whether oplog index ``index`` lies in a deleted region (a Jump's)."""
        return any(start <= index <= end for start, end in self.deleted)

    def skip_markers(self) -> None:
        """Move the cursor past markers and deleted entries."""
        while self.cursor < len(self.entries) and (
            self.is_marker(self.entries[self.cursor]) or self.is_deleted(self.cursor + 1)
        ):
            self.cursor += 1

    def _ahead(self) -> list[tuple[int, Entry]]:
        """(index, entry) of the entries still to replay that are not deleted."""
        return [
            (i + 1, e)
            for i, e in enumerate(self.entries[self.cursor :], start=self.cursor)
            if not self.is_deleted(i + 1)
        ]

    def _take(self, cls: type[Any], called: str) -> Any:
        """The durability entry of type ``cls`` at the cursor (it moves past it), or a
        Divergence naming what was recorded there instead."""
        self.skip_markers()
        entry = self.entries[self.cursor]
        if not isinstance(entry, cls):
            raise Divergence(str(self.agent), self.index_of_cursor(), describe(entry), called)
        self.cursor += 1
        return entry

    def start_at(self, index: int) -> None:
        """Replay from just after oplog index ``index`` (a snapshot loaded the state the
        entries up to it built)."""
        self.cursor = index

    def go_live(self) -> None:
        """Stop replaying here: what the log holds past the cursor is not replayed."""
        self.cursor = len(self.entries)

    def delete_from(self, start: int) -> Jump:
        """Record and commit a Jump deleting ``start`` up to the jump itself."""
        jump = Jump(start, self.next_index)
        self.record(jump)
        self.flush()
        self.deleted.append((jump.start, jump.end))
        return jump

    # -- durability controls (golem:api/host) -----------------------------------------
    @property
    def persist_nothing(self) -> bool:
        return self.persistence_level == PERSIST_NOTHING

    def begin_atomic_region(self, called: str = "mark-begin-operation") -> int:
        """``mark-begin-operation``: the region's id, the index of its begin entry."""
        self.skip_markers()
        if not self.replaying:
            return self.record(BeginAtomicRegion())
        self._take(BeginAtomicRegion, called)
        begin = self.cursor  # the 1-based index of the entry just taken
        ahead = self._ahead()
        closed = any(isinstance(e, EndAtomicRegion) and e.begin_index == begin for _, e in ahead)
        # A log that ends in a suspension inside the region was waiting, not cut short.
        waiting = bool(ahead) and isinstance(ahead[-1][1], Suspended)
        if not closed and not waiting:
            # Cut short by a trap or a crash: delete the first attempt and run it again.
            self.go_live()
            self.delete_from(begin + 1)
        return begin

    def end_atomic_region(self, begin: int, called: str = "mark-end-operation") -> None:
        """``mark-end-operation(begin)``."""
        self.skip_markers()
        if self.replaying:
            entry = self._take(EndAtomicRegion, called)
            if entry.begin_index != begin:
                raise Divergence(
                    str(self.agent),
                    self.cursor,
                    describe(entry),
                    f"{called}({begin})",
                )
            return
        if not (1 <= begin <= len(self.entries)) or not isinstance(
            self.entries[begin - 1], BeginAtomicRegion
        ):
            raise DurabilityError(
                f"agent {self.agent}: mark-end-operation({begin}) names no atomic region: "
                "pass the index mark-begin-operation returned"
            )
        self.record(EndAtomicRegion(begin))

    def jump_back(self, target: int) -> None:
        """``set-oplog-index(target)``: delete the entries after ``target`` and raise
        :class:`Restart` so the agent continues from there. Golem's rules: no jump
        forward, none into a deleted region; a replayed call does nothing."""
        self.skip_markers()
        source = self.next_index  # the Jump's own index
        start = target + 1
        if start > source or target < 1:
            raise DurabilityError(
                f"agent {self.agent}: set-oplog-index({target}) would jump forward (the "
                f"oplog ends at {source - 1}): only earlier indexes can be jumped to"
            )
        started = next(
            (
                i + 1
                for i in range(len(self.entries) - 1, -1, -1)
                if isinstance(self.entries[i], InvocationStarted) and not self.is_deleted(i + 1)
            ),
            0,
        )
        if target < started:
            raise DurabilityError(
                f"agent {self.agent}: set-oplog-index({target}) would jump before the "
                f"running invocation began (at oplog index {started})"
            )
        if self.is_deleted(start):
            raise DurabilityError(
                f"agent {self.agent}: set-oplog-index({target}) would jump into a deleted "
                "region of the oplog"
            )
        if self.replaying:
            return
        limit = self.jump_limit()
        made = sum(1 for e in self.entries[started:] if isinstance(e, Jump))
        if limit is not None and made >= limit:
            # Counted in the log: the bound holds across restarts and crashes.
            raise DurabilityError(
                f"agent {self.agent}: set-oplog-index({target}) would be jump number "
                f"{made + 1} of the invocation that began at oplog index {started}; its "
                f"limit is {limit} (limit max_oplog_jumps): a guest that travels back "
                "forever never ends, so the invocation fails"
            )
        self.delete_from(start)
        raise Restart(f"jump back to oplog index {target}")

    def jump_limit(self) -> int | None:
        """How many jumps back one invocation may make (None: no limit; the host's
        Session answers its max_oplog_jumps)."""
        return None

    def set_persistence_level(self, level: str) -> None:
        """``set-oplog-persistence-level``: recorded (and committed) when it changes the
        level, whatever the level, so replay knows where persist-nothing zones begin and
        end."""
        if level == self.persistence_level:
            return
        self.skip_markers()
        if self.replaying:
            entry = self._take(ChangePersistenceLevel, f"set-oplog-persistence-level({level})")
            if entry.level != level:
                raise Divergence(
                    str(self.agent), self.cursor, describe(entry), f"persistence level {level}"
                )
        else:
            self.record(ChangePersistenceLevel(level))
            self.flush()
        self.persistence_level = level

    # -- the checks ---------------------------------------------------------------
    def next_recorded(self, called: str) -> HostCall | PromiseCreated:
        """The recorded answer to the host call ``called``; Divergence if it does not match."""
        self.skip_markers()
        index = self.index_of_cursor()
        entry = self.entries[self.cursor]
        if not isinstance(entry, HostCall | PromiseCreated) or entry.function != called:
            recorded = (
                entry.function
                if isinstance(entry, HostCall | PromiseCreated)
                else (f"<{oplog.kind(entry)}>")
            )
            raise Divergence(str(self.agent), index, recorded, called)
        self.cursor += 1
        return entry

    def next_invocation(self) -> InvocationStarted | InvocationFailed | None:
        """What comes next at the top level, between invocations.

        An InvocationStarted to replay (the cursor moves past it); an invocation that
        failed and was not retried (the agent stays failed: run nothing; the cursor
        stays on it); None at the end of the log (go live). Anything else is a
        Divergence: outside an invocation the guest runs no code, so calls nothing.
        """
        self.skip_markers()
        if not self.replaying:
            return None
        entry = self.entries[self.cursor]
        if isinstance(entry, InvocationStarted):
            self.cursor += 1
            return entry
        if isinstance(entry, InvocationFailed):
            return entry
        raise Divergence(
            str(self.agent),
            self.index_of_cursor(),
            type(entry).__name__,
            "<no host call outside an invocation>",
        )

    def expect_finished(self, started: InvocationStarted, result: str | None) -> bool:
        """Check the return of ``started`` with ``result`` (WAVE text) against the log.

        True when the log recorded that finish with that result (the cursor moves past
        it); False at the end of the log (the invocation ran live: the caller records
        its finish). A different result, or any other entry where the finish should
        be (the guest returned before making a recorded call), is a Divergence.
        """
        self.skip_markers()
        if not self.replaying:
            return False
        entry = self.entries[self.cursor]
        if isinstance(entry, InvocationFinished) and entry.invocation_id == started.invocation_id:
            if entry.result != result:
                raise Divergence(
                    str(self.agent),
                    self.index_of_cursor(),
                    f"result {entry.result}",
                    f"result {result}",
                )
            self.cursor += 1
            return True
        raise Divergence(
            str(self.agent),
            self.index_of_cursor(),
            describe(entry),
            f"<return from {started.function}>",
        )

    # -- recording ----------------------------------------------------------------
    def record(self, entry: Entry) -> int:
        """Append a live entry in memory; returns its oplog index."""
        assert not self.replaying, "recording while replaying"
        self.check_size(entry)
        self.entries.append(entry)
        self.cursor = len(self.entries)
        return len(self.entries)

    def check_size(self, entry: Entry) -> None:
        """Refuse an entry too large to record (the host's Session enforces its limit)."""

    @property
    def next_index(self) -> int:
        return len(self.entries) + 1

    def pending(self) -> tuple[int, list[Entry]]:
        """(first index, entries) recorded but not yet committed."""
        return self.persisted + 1, self.entries[self.persisted :]

    def mark_persisted(self, *extra: Entry) -> None:
        """After a store transition committed the pending entries plus ``extra``."""
        for entry in extra:
            self.entries.append(entry)
        self.persisted = len(self.entries)
        self.cursor = len(self.entries)

    def flush(self) -> None:
        """Commit the pending entries. Here the log is only in memory; the host's Session
        writes them to its store first."""
        self.persisted = len(self.entries)


def host_call(
    session: Replay,
    sig: FuncSig,
    spec: HostFunc,
    param_types: Sequence[WitType],
    args: Sequence[Any],
) -> Any:
    """The value of one host call on lifted arguments, by the function's kind: answered
    from the record while replaying (Divergence if the guest called something else),
    run live and recorded once the log has ended."""
    kind = spec.kind
    if kind is Kind.PURE:
        return spec.impl(session, *args)
    if session.persist_nothing and (kind is not Kind.JOURNALED or spec.remote_write):
        # Neither recorded nor replayed: the call runs again on every replay.
        return _restart_if_asked(session, spec.impl(session, *args))
    session.skip_markers()
    if spec.remote_write:
        begin = remote_write_begins(session, sig.name, spec.recovers)
        if begin is not None:
            value = host_call(session, sig, replace(spec, remote_write=False), param_types, args)
            session.skip_markers()
            if session.replaying:
                session._take(EndRemoteWrite, f"<end of {sig.name}>")
            else:
                session.record(EndRemoteWrite(begin))
            return value
    if session.replaying:
        entry = session.next_recorded(sig.name)
        if kind is Kind.STATE:
            spec.impl(session, *args)
        if spec.replay is not None:
            return spec.replay(session, entry, session.cursor)
        if spec.rebuild is not None:
            assert isinstance(entry, HostCall)
            return spec.rebuild(session, entry.response)
        if spec.resume is not None:
            assert isinstance(entry, HostCall)
            return spec.resume(session, entry.response, args)
        if sig.result is None:
            return None
        assert isinstance(entry, HostCall)
        return from_json(entry.response, sig.result, compact_bytes=True)
    value = spec.impl(session, *args)
    if kind is not Kind.JOURNALED:
        if spec.journal is not None:
            response = spec.journal(value, args)
        elif spec.snapshot is not None:
            response = spec.snapshot(value)
        else:
            response = (
                None if sig.result is None else to_json(value, sig.result, compact_bytes=True)
            )
        request = [jsonable(a, t) for a, t in zip(args, param_types, strict=True)]
        session.record(HostCall(sig.name, request, response))
        if kind is Kind.EFFECT:
            session.flush()
            return _restart_if_asked(session, value)
    return value


def _restart_if_asked(session: Replay, value: Any) -> Any:
    """``value``, unless the call (committed now) asked for a restart: then Restart."""
    why = session.restart_after_call
    if why is None:
        return value
    session.restart_after_call = None
    raise Restart(why)


def remote_write_begins(session: Replay, function: str, recovers: bool = False) -> int | None:
    """Where a remote write's bracket begins (None: no bracket, idempotence is on).

    Live with idempotence mode off (or, for a function that ``recovers``, always), a
    BeginRemoteWrite is recorded and committed before the effect runs. On replay a
    BeginRemoteWrite at the cursor is followed by the effect's own entry if it completed;
    if not (the log ends, or the attempt failed), the effect may have happened once
    already and is not run again: :class:`NotIdempotent`; a function that ``recovers``
    runs again live with ``session.recovering`` set, to finish what the attempt began."""
    if session.replaying:
        if not isinstance(session.entries[session.cursor], BeginRemoteWrite):
            return None
        session._take(BeginRemoteWrite, function)
        begin = session.cursor
        # In-function retries of the effect lie between the bracket and its entry.
        ahead = [(i, e) for i, e in session._ahead() if not session.is_marker(e)]
        if ahead and isinstance(ahead[0][1], HostCall) and ahead[0][1].function == function:
            return begin
        session.go_live()  # the failure is recorded live
        if recovers:
            session.recovering = True
            return begin
        raise NotIdempotent(
            f"agent {session.agent}: a remote write ({function}, oplog index {begin}) made "
            "with idempotence mode off did not complete before the agent stopped; it may "
            "have happened, so it is not retried (Golem: non-idempotent remote write "
            "operation was not completed, cannot retry)"
        )
    if session.idempotent and not recovers:
        return None
    begin = session.record(BeginRemoteWrite(function))
    session.flush()
    return begin
