"""Forking an agent: Golem's fork-worker / fork-agent and fork (of the running agent).

A fork copies the source's oplog up to and including a cut-off index into a new agent
of the same component, which then goes on on its own: its next run replays the copy
and continues live from the cut. Three things in the copy are its own, not the
source's (Golem's ``update_worker_id`` rewrites the creation entry the same way):

- the environment: ``GOLEM_AGENT_ID`` / ``GOLEM_WORKER_NAME`` name the copy, in the
  creation entry and in the recorded answers of wasi:cli ``get-environment`` (Golem
  computes the environment on every call, replayed or not, from the worker's own id;
  a guest that read it before the fork, as componentize-py's ``os.environ`` does once,
  sees the copy's name);
- an invocation the cut left open gets a fresh invocation id and no idempotency key:
  the copy finishes it for no caller, and the source's invocation record (and an
  agent-to-agent caller waiting on the source) never sees the copy's result. The copy
  starts ``running`` with that invocation started, so it runs at once;
- for ``fork`` of the running agent, the fork call's own oplog entry: the source
  records ``original``, the copy gets the same entry answering ``forked`` (Golem's
  ``fork_and_write_fork_result``), so from there each takes its own branch.

Creation, the rewritten entries, the fork entry and the runnable state are one store
write (:meth:`host.store.base.Store.fork_agent`). This module reads entries only; it
needs no wasm.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from host import agent_versions
from host.errors import InvalidInput
from host.ids import AgentId, PromiseId
from host.oplog import (
    AgentCreated,
    Entry,
    HostCall,
    InvocationFailed,
    InvocationFinished,
    InvocationStarted,
    Jump,
    Retried,
    SuccessfulUpdate,
)
from host.store.base import Store

# The environment variables that name the agent (core.py sets them at creation).
NAME_VARS = ("GOLEM_AGENT_ID", "GOLEM_WORKER_NAME")


@dataclass(frozen=True)
class ForkPlan:
    """What the store writes besides the copied entries (see the module docstring)."""

    replace: dict[int, Entry] = field(default_factory=dict)
    resume: InvocationStarted | None = None


def own_created(created: AgentCreated, target: AgentId) -> AgentCreated:
    """The copy's creation entry: the source's with the name variables naming ``target``."""
    env = tuple((k, target.name) if k in NAME_VARS else (k, v) for k, v in created.env)
    return dataclasses.replace(created, env=env)


def _own_environment(entry: HostCall, target: AgentId) -> HostCall | None:
    """A recorded wasi:cli get-environment answer with the name variables naming
    ``target`` (None if it is another call or names nothing to change)."""
    if not entry.function.endswith(".get-environment") or not isinstance(entry.response, list):
        return None
    changed = False
    pairs = []
    for pair in entry.response:
        if isinstance(pair, list) and len(pair) == 2 and pair[0] in NAME_VARS:
            changed = changed or pair[1] != target.name
            pairs.append([pair[0], target.name])
        else:
            pairs.append(pair)
    return dataclasses.replace(entry, response=pairs) if changed else None


def _open_invocation(entries: Sequence[Entry]) -> tuple[int, InvocationStarted] | None:
    """(index, entry) of the invocation still open at the end of ``entries``."""
    deleted = [(e.start, e.end) for e in entries if isinstance(e, Jump)]
    retried = {e.invocation_id for e in entries if isinstance(e, Retried)}
    open_at: tuple[int, InvocationStarted] | None = None
    for i, e in enumerate(entries, start=1):
        if any(s <= i <= t for s, t in deleted):
            continue
        if isinstance(e, InvocationStarted):
            open_at = (i, e)
        elif isinstance(e, InvocationFinished):
            open_at = None
        elif isinstance(e, InvocationFailed) and e.invocation_id not in retried:
            open_at = None
    return open_at


def plan(entries: Sequence[Entry], target: AgentId, cut_off: int) -> ForkPlan:
    """The plan for copying ``entries[:cut_off]`` (the source's oplog) into ``target``."""
    if not 1 <= cut_off <= len(entries):
        raise InvalidInput(
            f"cannot fork at oplog index {cut_off}: the oplog has entries 1..{len(entries)}",
            field="oplogIndexCutoff",
        )
    copied = entries[:cut_off]
    created = copied[0]
    assert isinstance(created, AgentCreated)
    replace: dict[int, Entry] = {1: own_created(created, target)}
    # Golem computes the environment afresh on every call (it is not durable), so a
    # fork's copy reads its own name even where it replays; here the answers are
    # recorded, and the copy's are rewritten to be what it would have read.
    for i, e in enumerate(copied, start=1):
        if isinstance(e, HostCall) and (mine := _own_environment(e, target)) is not None:
            replace[i] = mine
    found = _open_invocation(copied)
    if found is None:
        return ForkPlan(replace)
    old = found[1].invocation_id
    new = str(uuid.uuid4())
    resume: InvocationStarted | None = None
    for i, e in enumerate(copied, start=1):
        if isinstance(e, InvocationStarted) and e.invocation_id == old:
            resume = dataclasses.replace(e, invocation_id=new, idempotency_key=None)
            replace[i] = resume
        elif isinstance(e, InvocationFailed | Retried) and e.invocation_id == old:
            replace[i] = dataclasses.replace(e, invocation_id=new)
    return ForkPlan(replace, resume)


def phantom_name(source: AgentId, phantom: uuid.UUID) -> str:
    """The name Golem gives the copy made by 1.3.0+'s ``fork()``: an agent id of an agent
    type with the phantom id (``counter("a")[<uuid>]``, replacing one it had), any other
    name with ``-<uuid>`` appended."""
    name = source.name
    if name.endswith("]") and "[" in name:
        head = name[: name.rindex("[")]
        if head.endswith(")"):
            return f"{head}[{phantom}]"
    if name.endswith(")") and "(" in name:
        return f"{name}[{phantom}]"
    return f"{name}-{phantom}"


def phantom_for(source: AgentId, created: AgentCreated, cut_off: int) -> uuid.UUID:
    """The phantom id of the copy ``fork()`` makes of ``source`` at ``cut_off``: the same
    on every run of that call (Golem draws a random one), so a replay that makes the call
    again (under persist-nothing, or after a crash before the source's own entry was
    committed) names the copy it already made."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"agent-host:fork:{source}:{created.timestamp}:{cut_off}")


def _alike(copied: Entry, expected: Entry) -> bool:
    """Whether an entry of an existing copy is the one a fork would write there: the same
    type, and for a host call the same call and answer (a tail made again on a replay
    has a timestamp of its own; an open invocation a fresh id)."""
    if type(copied) is not type(expected):
        return False
    if isinstance(copied, HostCall) and isinstance(expected, HostCall):
        return (copied.function, copied.request, copied.response) == (
            expected.function,
            expected.request,
            expected.response,
        )
    return True


def already_forked(
    store: Store, entries: Sequence[Entry], target: AgentId, tail: Sequence[Entry] = ()
) -> bool:
    """Whether ``target`` is the copy of ``entries`` (the source's oplog up to the cut)
    with ``tail`` that :func:`fork_into` would make: its creation entry is the source's
    naming it (the source's creation time included), and its entries at the cut and
    after it are those of the fork. What a second, different fork into an existing name
    is not."""
    cut_off = len(entries)
    created = entries[0]
    assert isinstance(created, AgentCreated)
    first = store.read_oplog(target, 1, 1)
    if first != [own_created(created, target)]:
        return False
    copied = store.read_oplog(target, cut_off, 1 + len(tail))
    expected = [entries[cut_off - 1], *tail]
    return len(copied) == len(expected) and all(map(_alike, copied, expected))


def fork_into(
    store: Store,
    source: AgentId,
    target: AgentId,
    cut_off: int,
    secret_hash: Callable[[PromiseId], str] | None = None,
    tail: Sequence[Entry] = (),
    *,
    idempotent: bool = False,
) -> bool:
    """Fork ``source`` at ``cut_off`` into the new agent ``target`` (with ``tail``
    appended after the cut) in one store write; True if the copy has an invocation to
    finish (it is ``running``: wake it). AgentExists, AgentNotFound, InvalidInput.

    ``idempotent`` (a guest's fork, a side effect a replay may make again): a ``target``
    that is already this very copy (:func:`already_forked`) is not an error and nothing
    is written (True: wake it, it may have work)."""
    if cut_off < 1:
        raise InvalidInput(
            f"cannot fork {source} at oplog index {cut_off}: indexes start at 1",
            field="oplogIndexCutoff",
        )
    entries = store.read_oplog(source, 1, cut_off)
    if len(entries) < cut_off:
        raise InvalidInput(
            f"cannot fork {source} at oplog index {cut_off}: its oplog has entries "
            f"1..{len(entries)}",
            field="oplogIndexCutoff",
        )
    if idempotent and already_forked(store, entries, target, tail):
        return True
    made = plan(entries, target, cut_off)
    store.fork_agent(
        source,
        target,
        cut_off,
        secret_hash,
        replace=made.replace,
        tail=tail,
        resume=made.resume,
        component=_version_at_cut(store, source, entries),
    )
    return made.resume is not None


def _version_at_cut(store: Store, source: AgentId, entries: list[Entry]) -> tuple[str, int]:
    """(file, version) the source ran at the end of ``entries`` (its oplog up to the
    cut): the copy's oplog has the updates made up to there and no later one, so it runs
    what the source ran then, as Golem derives a worker's version from its oplog."""
    created = entries[0]
    assert isinstance(created, AgentCreated)
    indexed = list(enumerate(entries, start=1))
    versions = store.list_component_versions(str(source.component_id))
    first = agent_versions.creation_version(created, [(c.version, c.hash) for c in versions])
    version = agent_versions.version_at(indexed, first)
    file = created.component_hash
    for _, e in agent_versions.alive(indexed):
        if isinstance(e, SuccessfulUpdate):
            file = e.component_hash
    return file, version


__all__ = [
    "NAME_VARS",
    "ForkPlan",
    "already_forked",
    "fork_into",
    "own_created",
    "phantom_for",
    "phantom_name",
    "plan",
]
