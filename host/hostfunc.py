"""Host functions as replay sees them: how each kind is recorded and replayed
(:class:`Kind`, described in host/replay.py), the :class:`HostFunc` that carries an
implementation with its hooks, and how a request argument is written to the oplog.
No wasm here either (host/replay.py is tested without a component).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from host.values import to_json
from host.values.types import ListT, OptionT, ResourceT, ResultT, TupleT, WitType

PERSIST_NOTHING = "persist-nothing"


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
    # A remote side effect (outgoing HTTP): bracketed by BeginRemoteWrite/EndRemoteWrite
    # when idempotence mode is off, and not recorded at all under persist-nothing.
    remote_write: bool = False
    # A remote write that is always bracketed and that can finish what an attempt began:
    # a bracket without a recorded outcome (a crash between the effect and its entry) is
    # run again live with ``session.recovering`` set (the impl then recognises its own
    # effect) instead of failing NotIdempotent. A guest's fork-agent: a live repeat of
    # the same fork fails (the target exists), as Golem fails it.
    recovers: bool = False
    # A host resource's method whose object must follow what it answered (a paging
    # cursor): live, ``journal(value, args)`` is the recorded response instead of the
    # value's JSON; on replay ``resume(session, response, args)`` answers from it and
    # brings the object (in ``args``) to where the recorded call left it.
    journal: Callable[[Any, Sequence[Any]], Any] | None = None
    resume: Callable[[Any, Any, Sequence[Any]], Any] | None = None


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
