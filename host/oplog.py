"""The oplog: an agent's append-only record of everything non-deterministic.

Entries are immutable values (frozen dataclasses, one union, :data:`Entry`),
serialized in exactly one place, :mod:`host.oplog_codec` (the store's compact rows and
the text form behind :func:`encode` / :func:`decode`). A field added to an existing
entry type goes last, with a default: stored rows are positional. Indexes
start at 1 and entry 1 is always :class:`AgentCreated`.

Replay walks the entries in order: :class:`InvocationStarted` re-invokes the
export, and the guest's host calls are answered by the :class:`HostCall` and
:class:`PromiseCreated` entries that follow it, until the log ends and
execution continues live. :class:`Suspended` entries are markers that replay
skips: the call that suspended was never recorded and runs live again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

JsonValue = Any  # a value json.dumps accepts


def now_ns() -> int:
    return time.time_ns()


AgentConfig = tuple[tuple[tuple[str, ...], str], ...]


# The variables the host puts in every agent's environment at creation
# (host/service/core.py), Golem's dynamic variables (its executor's
# remove_dynamic_vars) plus GOLEM_COMPONENT_VERSION, the pre-1.3 name of the revision.
HOST_ENV_VARS = frozenset(
    {
        "GOLEM_AGENT_ID",
        "GOLEM_WORKER_NAME",
        "GOLEM_AGENT_TYPE",
        "GOLEM_COMPONENT_ID",
        "GOLEM_COMPONENT_VERSION",
        "GOLEM_COMPONENT_REVISION",
    }
)


@dataclass(frozen=True)
class AgentCreated:
    component_id: str
    component_hash: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    timestamp: int = field(default_factory=now_ns)
    # Agent config given at creation (host/agents/agentconfig.py): (path, JSON text).
    config: AgentConfig = ()

    @property
    def user_env(self) -> tuple[tuple[str, str], ...]:
        """``env`` without the variables the host sets (:data:`HOST_ENV_VARS`): what
        the agent's metadata shows as its env, as Golem's does (the worker's own
        variables; Golem adds GOLEM_* only to what get-environment answers)."""
        return tuple(pair for pair in self.env if pair[0] not in HOST_ENV_VARS)


@dataclass(frozen=True)
class InvocationStarted:
    invocation_id: str
    function: str
    params: tuple[str, ...]  # WAVE text, one per parameter
    idempotency_key: str | None = None
    timestamp: int = field(default_factory=now_ns)
    # The W3C traceparent the request carried: the invocation's trace id is its trace id
    # (golem:api/context, host/runtime/context.py). None: none came, the id is derived.
    traceparent: str | None = None
    # The W3C tracestate that came with it (host/tracecontext.py), forwarded with the
    # trace context on outgoing requests. None: none.
    tracestate: str | None = None


# The attribute holding a lazily decoded entry's row (LazyFields).
LAZY = "_lazy"


class LazyFields:
    """An entry type whose stored rows may be decoded on first access.

    A row of a repeated shape (host/oplog_rowshape.py) becomes an instance holding only
    ``(shape, blob, tail)`` as its :data:`LAZY` attribute (the class's None once filled, or
    for an entry made any other way): replay answers most host calls without looking at
    their request or timestamp, and building those for 100,000 entries was most of
    reading them. The first access of any field fills them
    all (``shape.fill``), as fresh values exactly equal to what json's path decodes, and
    drops the row, so the instance is then the ordinary one; equality, repr,
    ``dataclasses.replace``, encoding, copying and pickling all read the fields, so they
    see the same values. Nothing else may read :data:`LAZY`'s values except
    host/runtime/leancall.py, which answers from the shape without filling."""

    # The row of an entry not filled yet (set with object.__setattr__: no __dict__ is made
    # for it, and a read of it is one attribute lookup).
    _lazy: ClassVar[Any] = None

    if not TYPE_CHECKING:  # mypy keeps checking attribute names on the entry types

        def __getattr__(self, name: str) -> Any:
            # Called only for attributes the instance does not have: a lazy entry's.
            lazy = self._lazy
            if lazy is not None and name[:2] != "__":
                lazy[0].fill(self, lazy)
                try:
                    return self.__dict__[name]
                except KeyError:
                    pass
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getstate__(self) -> dict[str, Any]:
        """What copy and pickle keep: the fields, filled (a shape is not picklable)."""
        lazy = self._lazy
        if lazy is not None:
            lazy[0].fill(self, lazy)
        return dict(self.__dict__)


@dataclass(frozen=True)
class HostCall(LazyFields):
    """A host function the guest called live, with what it returned.

    ``function`` is ``<interface>.<name>`` with the interface's version, e.g.
    ``golem:api/host@1.3.0.complete-promise``. Read from the store, its fields may be
    decoded on first access (:class:`LazyFields`).
    """

    function: str
    request: JsonValue
    response: JsonValue
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class PromiseCreated:
    """The host call that created a promise; the promise's oplog-idx is this entry's index."""

    function: str
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Suspended:
    """The agent stopped waiting; its instance was dropped.

    ``promises`` are the oplog indexes of its own promises it waits on and
    ``wake_at_ns`` the wall-clock time of its earliest timer, if any.
    """

    promises: tuple[int, ...] = ()
    wake_at_ns: int | None = None
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class InvocationFinished:
    invocation_id: str
    result: str | None  # WAVE text of the result, None for a function without one
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class InvocationFailed:
    """The invocation trapped or the host refused it; the agent is failed (or, followed by
    Retried, the attempt is retried). ``retry_state`` is the state of the named retry
    policy (golem:api/retry@1.5.0) that decided the retry, as Golem's Error entry keeps its
    retry-policy-state: the next attempt's failure steps on from it, in any process."""

    invocation_id: str
    error: str
    timestamp: int = field(default_factory=now_ns)
    retry_state: Any = None


@dataclass(frozen=True)
class Retried:
    """The failed invocation ``invocation_id`` is to be run again: replay re-executes it
    (recorded answers first) and continues live past the point where it failed."""

    invocation_id: str
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class BeginAtomicRegion:
    """golem:api/host ``mark-begin-operation``: an atomic region starts; its index is the
    region's id. A region that a trap or crash left open (no :class:`EndAtomicRegion` for
    it) re-executes live on the next run instead of replaying its host calls."""

    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class EndAtomicRegion:
    """``mark-end-operation``: the region that began at ``begin_index`` is complete."""

    begin_index: int
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class BeginRemoteWrite:
    """A remote side effect (``function``) is about to run with idempotence mode off,
    committed before it runs: if the log holds this and not the effect's own entry, the
    effect may or may not have happened, and replay fails the invocation instead of
    running it again."""

    function: str
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class EndRemoteWrite:
    """The remote side effect begun at ``begin_index`` completed (its entry precedes this)."""

    begin_index: int
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Jump:
    """Entries ``start`` .. ``end`` (inclusive, this entry is ``end``) are deleted: kept in
    the log, skipped by every later replay. Written by ``set-oplog-index`` (travel back to
    ``start - 1``) and when an interrupted atomic region re-executes (its first attempt)."""

    start: int
    end: int
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class ChangePersistenceLevel:
    """``set-oplog-persistence-level``: ``persist-nothing``, ``persist-remote-side-effects``
    or ``smart``. Under persist-nothing host calls are not recorded and run again on replay."""

    level: str
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Snapshot:
    """The agent's state after the entries before this one, as its ``save-snapshot``
    export returned it (``payload`` base64). Recovery loads the latest snapshot that is
    not deleted into a fresh instance (``load-snapshot``) and replays only what follows.
    Written between invocations, by the agent type's snapshotting policy."""

    payload: str
    mime_type: str
    timestamp: int = field(default_factory=now_ns)
    # The host's side of the agent at the snapshot, which the guest's memory does not hold
    # (retry policy, idempotence mode, persistence level, monotonic floor; see
    # host.runtime.golem.durable_state): recovery restores it without reading the entries
    # before the snapshot. None in snapshots written before it was recorded.
    host_state: JsonValue = None


@dataclass(frozen=True)
class PendingUpdate:
    """An update to component version ``target_version`` (file ``component_hash``) was
    requested, ``mode`` ``automatic`` (the oplog is replayed on the new version) or
    ``snapshot-based`` (save-snapshot on the old version, load-snapshot on the new).
    It is applied once the agent is between invocations; a :class:`SuccessfulUpdate` or
    :class:`FailedUpdate` then records the outcome. Replay passes over it."""

    target_version: int
    component_hash: str
    mode: str
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class SuccessfulUpdate:
    """The agent moved to component version ``target_version`` (file ``component_hash``).
    Snapshot-based (``payload`` set, base64): the old version's snapshot was loaded into
    the new version, and replay starts here like at a :class:`Snapshot`."""

    target_version: int
    component_hash: str
    payload: str | None = None
    mime_type: str | None = None
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class FailedUpdate:
    """An update to ``target_version`` failed (``details`` say why); the agent stays on
    its old version."""

    target_version: int
    details: str
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class DurableFunctionCall:
    """golem:durability ``persist-durable-function-invocation``: a guest-wrapped side
    effect (``function``, e.g. ``my-api::fetch``) with its request and response, each a
    ``value-and-type`` as the guest gave it (JSON of golem:core's record, which describes
    itself), and its ``durable-function-type`` (JSON). Golem writes a HostCall with a
    custom function name; replay hands this back to
    ``read-persisted-durable-function-invocation``."""

    function: str
    request: JsonValue
    response: JsonValue
    function_type: JsonValue
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class StartSpan:
    """golem:api/context ``start-span``: span ``span_id`` (16 hex digits) began under
    ``parent``, with its initial attributes (``name``). Replay takes the id from here."""

    span_id: str
    parent: str
    attributes: tuple[tuple[str, str], ...]
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class SetSpanAttribute:
    """``span.set-attribute`` (and each attribute of ``set-attributes``)."""

    span_id: str
    key: str
    value: str
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class FinishSpan:
    """``span.finish`` (or the span's drop, if not finished before)."""

    span_id: str
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class SetRetryPolicy:
    """golem:api/retry ``set-retry-policy``: the agent's named retry policy ``policy``
    (host.retry_policy.named_to_json: name, priority, predicate and policy trees as JSON
    lists) was set or overwritten. Committed at once, as Golem's SetRetryPolicy entry.
    Oplogs written before this type hold the call as a HostCall (still replayed)."""

    policy: JsonValue
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class RemoveRetryPolicy:
    """golem:api/retry ``remove-retry-policy``: the named policy ``name`` was removed
    (Golem's RemoveRetryPolicy entry)."""

    name: str
    timestamp: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class InFunctionRetry:
    """An in-function retry (Golem 1.5): the host call ``function`` failed with the
    transient WASI error ``error`` (JSON, ``detail`` for people) and the named retry
    policy ``policy`` decided to send again after ``delay_ns``; ``retry_state`` is the
    policy's state after this step, which the next failure of the same call steps on
    from (also after a crash). Golem writes an Error entry whose retry-from is the call.
    Committed at once; replay passes over it (the call's own entry answers)."""

    function: str
    error: JsonValue
    detail: str
    policy: str
    retry_state: Any
    delay_ns: int
    timestamp: int = field(default_factory=now_ns)


Entry = (
    AgentCreated
    | InvocationStarted
    | HostCall
    | PromiseCreated
    | Suspended
    | InvocationFinished
    | InvocationFailed
    | Retried
    | BeginAtomicRegion
    | EndAtomicRegion
    | BeginRemoteWrite
    | EndRemoteWrite
    | Jump
    | ChangePersistenceLevel
    | Snapshot
    | PendingUpdate
    | SuccessfulUpdate
    | FailedUpdate
    | DurableFunctionCall
    | StartSpan
    | SetSpanAttribute
    | FinishSpan
    | SetRetryPolicy
    | RemoveRetryPolicy
    | InFunctionRetry
)

_TYPES: dict[str, type[Any]] = {
    "agent-created": AgentCreated,
    "invocation-started": InvocationStarted,
    "host-call": HostCall,
    "promise-created": PromiseCreated,
    "suspended": Suspended,
    "invocation-finished": InvocationFinished,
    "invocation-failed": InvocationFailed,
    "retried": Retried,
    "begin-atomic-region": BeginAtomicRegion,
    "end-atomic-region": EndAtomicRegion,
    "begin-remote-write": BeginRemoteWrite,
    "end-remote-write": EndRemoteWrite,
    "jump": Jump,
    "change-persistence-level": ChangePersistenceLevel,
    "snapshot": Snapshot,
    "pending-update": PendingUpdate,
    "successful-update": SuccessfulUpdate,
    "failed-update": FailedUpdate,
    "durable-function-call": DurableFunctionCall,
    "start-span": StartSpan,
    "set-span-attribute": SetSpanAttribute,
    "finish-span": FinishSpan,
    "set-retry-policy": SetRetryPolicy,
    "remove-retry-policy": RemoveRetryPolicy,
    "in-function-retry": InFunctionRetry,
}
_NAMES = {cls: name for name, cls in _TYPES.items()}


def kind(entry: Entry) -> str:
    """The entry's type name as stored, e.g. ``host-call``."""
    return _NAMES[type(entry)]


def to_dict(entry: Entry) -> dict[str, Any]:
    """The entry as JSON-ready data: ``type`` plus its fields, bytes as
    ``{"$bytes": "<base64>"}`` (the REST API's and the CLI's oplog pages)."""
    from host.oplog_codec import to_dict as _to_dict

    return _to_dict(entry)


def encode(entry: Entry) -> str:
    """The entry's text form (:func:`to_dict` as JSON). The store keeps entries in a
    more compact form of its own, :mod:`host.oplog_codec`."""
    from host.oplog_codec import to_text

    return to_text(entry)


def from_dict(data: dict[str, Any]) -> Entry:
    """The entry :func:`to_dict` made ``data`` from (golden oplogs in tests are stored so)."""
    from host.oplog_codec import from_dict as _from_dict

    return _from_dict(data)


def decode(text: str) -> Entry:
    """Parse the text form (or a stored row's head without bytes) back into an entry; a
    damaged entry is a StoreError."""
    from host.oplog_codec import decode_row

    return decode_row(text)


def _show_bytes(obj: object) -> object:
    if isinstance(obj, bytes):
        return f"<{len(obj)} bytes>"
    raise TypeError(f"not JSON: {type(obj).__name__}")


def describe(entry: Entry) -> str:
    """One readable line for ``agent-host oplog``."""
    if isinstance(entry, AgentCreated):
        return f"agent created (component {entry.component_id}, args {list(entry.args)})"
    if isinstance(entry, InvocationStarted):
        key = f" [idempotency key {entry.idempotency_key}]" if entry.idempotency_key else ""
        return f"invoke {entry.function}({', '.join(entry.params)}){key}"
    if isinstance(entry, HostCall):
        req = json.dumps(entry.request, default=_show_bytes)
        resp = json.dumps(entry.response, default=_show_bytes)
        return f"host call {entry.function} {_clip(req)} -> {_clip(resp)}"
    if isinstance(entry, PromiseCreated):
        return f"promise created ({entry.function})"
    if isinstance(entry, Suspended):
        parts = []
        if entry.promises:
            parts.append("promises " + ", ".join(str(p) for p in entry.promises))
        if entry.wake_at_ns is not None:
            parts.append(f"timer at {entry.wake_at_ns / 1e9:.3f}")
        return "suspended waiting on " + ("; ".join(parts) or "nothing")
    if isinstance(entry, InvocationFinished):
        return f"finished -> {entry.result if entry.result is not None else '()'}"
    if isinstance(entry, Retried):
        return f"retry of invocation {entry.invocation_id}"
    if isinstance(entry, BeginAtomicRegion):
        return "begin atomic region"
    if isinstance(entry, EndAtomicRegion):
        return f"end atomic region begun at {entry.begin_index}"
    if isinstance(entry, BeginRemoteWrite):
        return f"begin remote write ({entry.function})"
    if isinstance(entry, EndRemoteWrite):
        return f"end remote write begun at {entry.begin_index}"
    if isinstance(entry, Jump):
        return f"jump: entries {entry.start} to {entry.end} are skipped"
    if isinstance(entry, ChangePersistenceLevel):
        return f"persistence level {entry.level}"
    if isinstance(entry, Snapshot):
        return f"snapshot ({entry.mime_type}, {len(entry.payload) * 3 // 4} bytes)"
    if isinstance(entry, PendingUpdate):
        return f"update to version {entry.target_version} requested ({entry.mode})"
    if isinstance(entry, SuccessfulUpdate):
        how = "snapshot-based" if entry.payload is not None else "automatic"
        return f"updated to version {entry.target_version} ({how})"
    if isinstance(entry, FailedUpdate):
        return f"update to version {entry.target_version} failed: {entry.details}"
    if isinstance(entry, DurableFunctionCall):
        resp = json.dumps(entry.response, default=_show_bytes)
        return f"durable function {entry.function} -> {_clip(resp)}"
    if isinstance(entry, StartSpan):
        return f"start span {entry.span_id} (parent {entry.parent})"
    if isinstance(entry, SetSpanAttribute):
        return f"span {entry.span_id} attribute {entry.key} = {entry.value!r}"
    if isinstance(entry, FinishSpan):
        return f"finish span {entry.span_id}"
    if isinstance(entry, SetRetryPolicy):
        policy = json.dumps(entry.policy, default=_show_bytes)
        return f"set retry policy {_clip(policy)}"
    if isinstance(entry, RemoveRetryPolicy):
        return f"remove retry policy {entry.name!r}"
    return f"failed: {entry.error}"


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
