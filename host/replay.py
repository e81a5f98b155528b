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
  policy). Recorded, and runs in both modes so that replay rebuilds the state.
- ``JOURNALED``: the function writes its own oplog entry in the same store
  transaction as its effect (creating or completing a promise); on replay its
  ``replay`` hook (or the recorded response) answers.

Uncommitted ``READ`` entries are safe to lose: nothing outside the agent saw
them, because every externally visible step (an effect, a suspension, an
invocation result) commits everything recorded before it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from host import oplog
from host.errors import Divergence
from host.ids import AgentId
from host.oplog import (
    Entry,
    HostCall,
    InvocationFailed,
    InvocationFinished,
    InvocationStarted,
    PromiseCreated,
    Retried,
    Suspended,
    describe,
)
from host.values import from_json, to_json
from host.values.types import FuncSig, ListT, OptionT, ResourceT, ResultT, TupleT, WitType


class Kind(enum.Enum):
    PURE = "pure"
    READ = "read"
    EFFECT = "effect"
    STATE = "state"
    JOURNALED = "journaled"


@dataclass(frozen=True)
class HostFunc:
    """A host function implementation: ``impl(session, *args) -> result``.

    Arguments and results are values of :mod:`host.values` (resources as the
    host objects themselves). ``snapshot`` turns a live result into its recorded
    response when :func:`host.values.to_json` cannot (a resource); ``rebuild``
    recreates a resource result from its recorded response on replay, for READ
    functions that return resources; ``replay(session, entry, index)`` answers a
    JOURNALED function on replay (``index`` is the cursor after its entry).
    The session is typed ``Any``: it is a :class:`Replay` (in the host, a
    ``Session`` subclass), and the functions are written against the subclass.
    """

    impl: Callable[..., Any]
    kind: Kind = Kind.PURE
    snapshot: Callable[[Any], Any] | None = None
    rebuild: Callable[[Any, Any], Any] | None = None
    replay: Callable[[Any, Any, int], Any] | None = None


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
        self.retried = {e.invocation_id for e in entries if isinstance(e, Retried)}

    # -- the cursor ---------------------------------------------------------------
    @property
    def replaying(self) -> bool:
        return self.cursor < len(self.entries)

    def index_of_cursor(self) -> int:
        """The oplog index (1-based) of the entry at the cursor."""
        return self.cursor + 1

    def is_marker(self, entry: Entry) -> bool:
        """Entries replay passes over: suspensions, retries, and failures that were retried."""
        if isinstance(entry, Suspended | Retried):
            return True
        return isinstance(entry, InvocationFailed) and entry.invocation_id in self.retried

    def skip_markers(self) -> None:
        while self.cursor < len(self.entries) and self.is_marker(self.entries[self.cursor]):
            self.cursor += 1

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
    session.skip_markers()
    if session.replaying:
        entry = session.next_recorded(sig.name)
        if kind is Kind.STATE:
            spec.impl(session, *args)
        if spec.replay is not None:
            return spec.replay(session, entry, session.cursor)
        if spec.rebuild is not None:
            assert isinstance(entry, HostCall)
            return spec.rebuild(session, entry.response)
        if sig.result is None:
            return None
        assert isinstance(entry, HostCall)
        return from_json(entry.response, sig.result, compact_bytes=True)
    value = spec.impl(session, *args)
    if kind is not Kind.JOURNALED:
        if spec.snapshot is not None:
            response = spec.snapshot(value)
        else:
            response = (
                None if sig.result is None else to_json(value, sig.result, compact_bytes=True)
            )
        request = [jsonable(a, t) for a, t in zip(args, param_types, strict=True)]
        session.record(HostCall(sig.name, request, response))
        if kind is Kind.EFFECT:
            session.flush()
    return value


def has_resource(ty: WitType | None) -> bool:
    """Whether a value of ``ty`` may hold a resource (a host object, not JSON)."""
    if isinstance(ty, ResourceT):
        return True
    if isinstance(ty, ListT | OptionT):
        return has_resource(ty.elem if isinstance(ty, ListT) else ty.payload)
    if isinstance(ty, ResultT):
        return has_resource(ty.ok) or has_resource(ty.err)
    if isinstance(ty, TupleT):
        return any(has_resource(t) for t in ty.elems)
    return False


def jsonable(value: Any, ty: WitType) -> Any:
    """A request argument as recorded: its JSON (a ``list<u8>`` as ``{"$bytes": ...}``),
    or a placeholder naming a host object."""
    if has_resource(ty):
        return f"<{type(value).__name__}>"
    return to_json(value, ty, compact_bytes=True)
