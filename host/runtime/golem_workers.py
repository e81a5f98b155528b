"""Golem's worker (agent) management functions of golem:api/host, on one node.

Metadata, enumeration with filters, update, fork and the id resolvers, answered from
the store. Generic across generations: 0.2.0 .. 1.1.6 name them ``*-worker*`` with a
``worker-id {component-id, worker-name}``, 1.1.7 and 1.3.0 ``*-agent*`` with an
``agent-id {component-id, agent-id}``; records are built from the function's own
types by field name, so each generation gets its own shape.

Reads are READ (recorded, replayed from the oplog); update, fork and revert are EFFECT
(recorded and committed before the guest sees the result). What agent-host cannot
do fails the call with a message naming it, never the registration.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable
from typing import Any

from host import oplog
from host.errors import (
    AgentExists,
    AgentNotFound,
    HostError,
    InvalidInput,
    NotFound,
    OplogConflict,
)
from host.ids import AgentId, check_promise_owner
from host.oplog import HostCall, PendingUpdate
from host.replay import jsonable
from host.runtime import forking, update_queue
from host.runtime.session import HostFunc, Kind, Session
from host.store.base import AgentStatus, ComponentRecord, InvocationState, Store
from host.values import Case, Some, from_json, to_json
from host.values.types import EnumT, FuncSig, ListT, OptionT, RecordT, ResourceT, WitType

R = Kind.READ


def _fail(message: str) -> Exception:
    from host.runtime.golem import GuestError  # golem.py imports this module

    return GuestError(message)


# -- ids in their generation's shape ---------------------------------------------------
def id_from(value: dict[str, Any]) -> AgentId:
    name = value["worker-name"] if "worker-name" in value else value["agent-id"]
    halves = value["component-id"]["uuid"]
    return AgentId.from_halves(halves["high-bits"], halves["low-bits"], name)


def id_to(agent: AgentId, ty: WitType | None) -> dict[str, Any]:
    assert isinstance(ty, RecordT), f"an agent id must be a record, not {ty}"
    names = [name for name, _ in ty.fields]
    name_field = "worker-name" if "worker-name" in names else "agent-id"
    return {"component-id": component_to(str(agent.component_id)), name_field: agent.name}


def component_to(component_id: str) -> dict[str, Any]:
    value = uuid.UUID(component_id).int
    return {"uuid": {"high-bits": value >> 64, "low-bits": value & 0xFFFF_FFFF_FFFF_FFFF}}


def _component_id_from(value: dict[str, Any]) -> str:
    halves = value["uuid"]
    return str(uuid.UUID(int=(halves["high-bits"] << 64) | halves["low-bits"]))


def _payload(ty: WitType | None) -> WitType:
    assert isinstance(ty, OptionT), f"expected an option, not {ty}"
    return ty.payload


# Golem's message for a durable call replayed inside a persist-nothing block.
PERSIST_NOTHING_REPLAY = "Trying to replay an durable invocation in a PersistNothing block"


# -- metadata ----------------------------------------------------------------------------
def _version_of(store: Store, agent: AgentId, version: int) -> ComponentRecord | None:
    versions = store.list_component_versions(str(agent.component_id))
    return next((c for c in versions if c.version == version), None)


def metadata_facts(store: Store, agent: AgentId) -> dict[str, Any]:
    """What agent-host knows about an agent, by Golem's metadata field names."""
    record = store.get_agent(agent)
    created = store.read_oplog(agent, 1, 1)[0]
    assert isinstance(created, oplog.AgentCreated)
    # By number, as the agents row keeps it (two versions may hold the same file).
    version = record.component_version
    component = _version_of(store, agent, version)
    pending = store.list_invocations(agent, [InvocationState.QUEUED])
    return {
        "args": list(created.args),
        "env": [tuple(pair) for pair in created.user_env],
        "config-vars": [],
        "config": [],
        "status": str(record.status),
        "component-version": version,
        "component-revision": version,
        "retry-count": record.retry_count,
        # 1.5.0: agent-host is one environment; its id is the nil uuid
        "environment-id": {"uuid": {"high-bits": 0, "low-bits": 0}},
        # Golem's count: queued invocations and manual update requests (update_queue.py)
        "pending-invocation-count": update_queue.pending_count(pending),
        "created-at": record.created_at,
        "last-error": Some(record.last_error) if record.last_error is not None else None,
        "component-size": component.size if component is not None else 0,
        "total-linear-memory-size": 0,
        "owned-resources": [],
    }


def metadata(store: Store, agent: AgentId, ty: WitType | None) -> dict[str, Any]:
    """The agent's metadata record in the shape of ``ty`` (worker- or agent-metadata)."""
    assert isinstance(ty, RecordT), f"metadata must be a record, not {ty}"
    facts = metadata_facts(store, agent)
    out: dict[str, Any] = {}
    for name, fty in ty.fields:
        if name in ("worker-id", "agent-id"):
            out[name] = id_to(agent, fty)
        elif name in facts:
            out[name] = facts[name]
        else:
            raise _fail(f"agent-host has no value for the metadata field {name!r}")
    return out


def _self_metadata(sig: FuncSig) -> HostFunc:
    def live(session: Session) -> dict[str, Any]:
        return metadata(session.store, session.agent, sig.result)

    return HostFunc(live, R)


def _worker_metadata(sig: FuncSig) -> HostFunc:
    def live(session: Session, value: dict[str, Any]) -> Some | None:
        agent = id_from(value)
        try:
            return Some(metadata(session.store, agent, _payload(sig.result)))
        except NotFound:
            return None

    return HostFunc(live, R)


# -- enumeration -------------------------------------------------------------------------
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "equal": operator.eq,
    "not-equal": operator.ne,
    "greater-equal": operator.ge,
    "greater": operator.gt,
    "less-equal": operator.le,
    "less": operator.lt,
}
_STRING_COMPARE: dict[str, Callable[[str, str], bool]] = {
    "equal": operator.eq,
    "not-equal": operator.ne,
    # Golem's `like` is substring containment (golem-common StringFilterComparator).
    "like": lambda a, b: b in a,
    "not-like": lambda a, b: b not in a,
    "starts-with": lambda a, b: a.startswith(b),
}
_STATUS_ORDER = ("running", "idle", "suspended", "interrupted", "retrying", "failed", "exited")


def _property_matches(prop: Any, agent: AgentId, facts: dict[str, Any]) -> bool:
    f = prop.value
    kind = prop.name
    if kind == "name":
        return _STRING_COMPARE[f["comparator"]](agent.name, f["value"])
    if kind == "status":
        # Golem compares statuses by their position in the enum.
        have = _STATUS_ORDER.index(facts["status"])
        return _COMPARE[f["comparator"]](have, _STATUS_ORDER.index(f["value"]))
    if kind == "version":
        return _COMPARE[f["comparator"]](facts["component-version"], f["value"])
    if kind == "created-at":
        return _COMPARE[f["comparator"]](facts["created-at"], f["value"])
    if kind in ("env", "config", "wasi-config-vars"):
        pairs = facts["env"] if kind == "env" else facts["config-vars"]
        compare = _STRING_COMPARE[f["comparator"]]
        return any(k == f["name"] and compare(v, f["value"]) for k, v in pairs)
    raise _fail(f"agent-host does not know the agent filter {kind!r}")


def filter_matches(filter_: Any, agent: AgentId, facts: dict[str, Any]) -> bool:
    """Golem's any-filter: OR over groups, each an AND over property filters; none
    matches every agent."""
    if filter_ is None:
        return True
    return any(
        all(_property_matches(p, agent, facts) for p in group["filters"])
        for group in filter_.value["filters"]
    )


class AgentEnumeration:
    """The get-workers / get-agents resource: one batch with every match, then none."""

    def __init__(self, component_id: str, filter_: Any) -> None:
        self.component_id = component_id
        self.filter = filter_
        self.done = False


def _enumerate_new(
    session: Session, component: dict[str, Any], filter_: Any, precise: bool
) -> AgentEnumeration:
    # precise or not, the store's state is the most recent one on a single node.
    return AgentEnumeration(_component_id_from(component), filter_)


def _get_next(sig: FuncSig) -> HostFunc:
    list_ty = _payload(sig.result)
    assert isinstance(list_ty, ListT)

    def live(session: Session, enumeration: AgentEnumeration) -> Some | None:
        if enumeration.done:
            return None
        enumeration.done = True
        store = session.store
        found: Any = []
        for record in store.list_agents(enumeration.component_id):
            facts = metadata_facts(store, record.agent)
            if filter_matches(enumeration.filter, record.agent, facts):
                found.append(metadata(store, record.agent, list_ty.elem))
        return Some(found)

    return HostFunc(live, R)


# -- effects -----------------------------------------------------------------------------
def _update(sig: FuncSig) -> HostFunc:
    """update-worker / update-agent: records the request (a PendingUpdate) in the target's
    oplog; the executor applies it once the target is between invocations
    (host/runtime/updates.py). An agent updating itself automatically is restarted once
    this call is committed, as Golem interrupts it: the update is tried at the new
    instance's creation and the invocation goes on (replayed, then live) on the new
    version; a snapshot-based one applies after this invocation. A target running an
    invocation gets the request in its invocation queue (host/runtime/update_queue.py):
    a manual one waits for that invocation to end; an automatic one restarts it on the
    new version, as Golem does, once the scheduler's wake reaches the process running it
    (update_restart.py)."""

    def live(session: Session, value: dict[str, Any], target: int, mode: str) -> None:
        from host.runtime import updates  # updates imports the registry, which imports this

        agent = id_from(value)
        if agent != session.agent and session.persist_nothing and session.replaying:
            # Nothing of the call was recorded, so a replay would ask again for an
            # update another agent may have applied long ago. Golem's update-agent is a
            # durable remote write: replaying it in a persist-nothing block fails the
            # invocation (its read_persisted_durable_function_invocation), so here too.
            raise _fail(PERSIST_NOTHING_REPLAY)
        try:
            record = session.store.get_agent(agent)
        except NotFound:
            raise _fail(f"cannot update {agent}: there is no such agent") from None
        versions = session.store.list_component_versions(str(agent.component_id))
        found = next((c for c in versions if c.version == target), None)
        # A version the component does not have is accepted, as Golem's executor accepts
        # it: the update fails when applied (updates.target_file looks it up again).
        file = "" if found is None else found.hash
        request = PendingUpdate(target, file, updates.MODES[mode])
        replayed = agent == session.agent and session.replaying  # its request is in the log
        if target == record.component_version and not replayed:
            # Golem's executor refuses it so (its update_worker compares the numbers).
            raise _fail(f"cannot update {agent}: Worker is already at the target version")
        if agent == session.agent:
            # A replay making the call again (persist-nothing: the call is not recorded,
            # the request is) finds the request in the log: nothing more to ask.
            if not session.replaying:
                session.record(request)
                session.update_pending = True
                if request.mode == updates.AUTOMATIC:
                    # Golem interrupts the caller (its update_worker_internal: Restart):
                    # once this call is committed the agent runs again from a fresh
                    # instance, which tries the update by replaying on the new version
                    # and, on success, goes on with this invocation on the new code.
                    session.flush()
                    session.restart_after_call = f"{agent} updates itself to version {target}"
                # A snapshot-based one needs the agent between invocations: after this one.
            return
        queue = record.status == AgentStatus.RUNNING
        if not queue:
            try:
                _record_request(session.store, agent, record.status, request)
            except OplogConflict:
                queue = True  # it started an invocation meanwhile
        if queue:
            # Running an invocation: queued after it, as Golem queues it.
            update_queue.enqueue(session.store, agent, request)
        _wake(session, agent)

    return HostFunc(live, Kind.EFFECT)


def _record_request(store: Store, agent: AgentId, status: str, request: PendingUpdate) -> None:
    """Record an update request in an agent that runs no invocation, and activate it as
    Golem's executor does for an update (``start_if_needed``): a failed agent is
    retried, an interrupted one resumed, a suspended or retrying one made due now (the
    service does the same for the CLI and REST: host/service/worker_ops.py)."""
    if status == AgentStatus.FAILED:
        store.retry(agent)  # Golem: a pending update makes a failed worker retrying
    store.append(agent, store.oplog_length(agent) + 1, [request])
    if status == AgentStatus.INTERRUPTED:
        store.resume(agent)
    else:
        store.wake_now(agent)


def _revert(sig: FuncSig) -> HostFunc:
    def live(session: Session, value: dict[str, Any], target: Case) -> None:
        from host.runtime import revert  # revert imports the store layer only

        agent = id_from(value)
        _refuse_unrecorded_replay(session)
        if agent == session.agent:
            raise _fail(
                f"{agent} cannot revert itself while it runs: revert it from another agent, "
                "the CLI (agent revert) or REST once this invocation ended"
            )
        count = target.value
        assert isinstance(count, int)
        index = count if target.name == "revert-to-oplog-index" else None
        last = count if target.name == "revert-last-invocations" else None
        try:
            revert.revert(session.store, agent, index, last)
        except HostError as exc:  # not found, busy, a target inside an invocation
            raise _fail(f"cannot revert {agent}: {exc}") from None

    return HostFunc(live, Kind.EFFECT)


def _fork(sig: FuncSig) -> HostFunc:
    def live(
        session: Session, source_v: dict[str, Any], target_v: dict[str, Any], cut: int
    ) -> None:
        source, target = id_from(source_v), id_from(target_v)
        _refuse_unrecorded_replay(session)
        if source.component_id != target.component_id:
            raise _fail(
                f"cannot fork {source} into {target}: agent-host forks within one component"
            )
        if source == session.agent:
            session.flush()  # the copy must see what this agent recorded so far
        # The call is bracketed (HostFunc.recovers): its intent, a BeginRemoteWrite, is
        # committed before the copy. A replay finding the intent without the call's entry
        # (a crash between the copy and that entry) finishes it, recognising the copy it
        # made. Under persist-nothing nothing is recorded: a replay reaching the call
        # fails (above), and a live run of it again (the region was the log's end when the
        # agent stopped) recognises its copy too. A live call into an existing agent, a
        # repeat of the same fork included, fails as Golem fails it: the target exists.
        idempotent = session.recovering or session.persist_nothing
        session.recovering = False
        try:
            hashes = session.secrets.hash_of if session.secrets else None
            made = forking.fork_into(
                session.store, source, target, cut, hashes, idempotent=idempotent
            )
        except (InvalidInput, AgentExists, AgentNotFound) as exc:
            raise _fail(str(exc)) from None
        if made:
            _wake(session, target)

    return HostFunc(live, Kind.EFFECT, remote_write=True, recovers=True)


def _refuse_unrecorded_replay(session: Session) -> None:
    """A replay reaching revert, fork-agent or fork inside a persist-nothing region: the
    call was not recorded, so running it again would revert or copy once more what may
    have changed long since. Golem's are durable remote writes (DurableFunctionType
    WriteRemote); replaying one reads its persisted result, which in a PersistNothing
    block fails the invocation (read_persisted_durable_function_invocation): so here.
    Live (the region is the log's end) the call runs."""
    if session.persist_nothing and session.replaying:
        raise _fail(PERSIST_NOTHING_REPLAY)


def _wake(session: Session, agent: AgentId) -> None:
    if session.wake_agent is not None:
        session.wake_agent(agent)


def _fork_value(ty: WitType | None, which: str, phantom: uuid.UUID) -> Any:
    """1.1.7's enum fork-result, or 1.3.0+'s variant with the fork-details."""
    if isinstance(ty, EnumT):
        return which
    halves: Any = {"high-bits": phantom.int >> 64, "low-bits": phantom.int & 0xFFFF_FFFF_FFFF_FFFF}
    return Case(which, {"forked-phantom-id": halves})


def _fork_self(sig: FuncSig) -> HostFunc:
    """``fork``: the running agent's oplog up to and including this call is copied into
    a new agent (1.1.7: named ``new-name``; 1.3.0+: the agent's name with a fresh phantom
    id, as Golem names it); in the copy this call answers ``forked``, here
    ``original`` (host/runtime/forking.py)."""

    def live(session: Session, *args: Any) -> Any:
        assert sig.result is not None
        source = session.agent
        if session.replaying:
            # Reached on a replay under persist-nothing (nothing of the guest's call was
            # recorded). In the copy, the entry the fork wrote answering `forked` is
            # here: that answer, the copy's start. In the source the call was not
            # recorded: the replay fails as Golem's does (_refuse_unrecorded_replay).
            session.skip_markers()
            ahead = session.entries[session.cursor] if session.replaying else None
            if isinstance(ahead, HostCall) and ahead.function == sig.name:
                recorded = session.next_recorded(sig.name)
                assert isinstance(recorded, HostCall)
                return from_json(recorded.response, sig.result, compact_bytes=True)
            _refuse_unrecorded_replay(session)
        session.flush()  # the copy gets every entry recorded so far ...
        # ... up to this call: the cursor (on a replay, the log goes on past it).
        cut = session.cursor
        created = session.entries[0]
        assert isinstance(created, oplog.AgentCreated)
        phantom = forking.phantom_for(source, created, cut)
        name = str(args[0]) if args else forking.phantom_name(source, phantom)
        try:
            target = AgentId(source.component_id, check_promise_owner(name))
        except InvalidInput as exc:
            raise _fail(f"cannot fork {source}: {exc}") from None
        request = [jsonable(a, t) for a, t in zip(args, sig.param_types, strict=True)]
        forked = _fork_value(sig.result, "forked", phantom)
        # ... and this call's entry, answering `forked` (the source records `original`).
        tail = [HostCall(sig.name, request, to_json(forked, sig.result, compact_bytes=True))]
        try:
            hashes = session.secrets.hash_of if session.secrets else None
            # Idempotent: a run of this call again (live at the end of a persist-nothing
            # region, or after a crash before this call's own entry was committed) finds
            # the copy it made.
            forking.fork_into(session.store, source, target, cut, hashes, tail, idempotent=True)
        except (InvalidInput, AgentExists) as exc:
            raise _fail(f"cannot fork {source} into {target.name!r}: {exc}") from None
        _wake(session, target)
        return _fork_value(sig.result, "original", phantom)

    return HostFunc(live, Kind.EFFECT)


# -- resolution --------------------------------------------------------------------------
def _component(store: Store, ref: str) -> ComponentRecord | None:
    try:
        return store.get_component(ref)
    except (NotFound, InvalidInput):
        return None


def _resolve_component(sig: FuncSig) -> HostFunc:
    def live(session: Session, ref: str) -> Some | None:
        record = _component(session.store, ref)
        return Some(component_to(record.id)) if record is not None else None

    return HostFunc(live, R)


def _resolve_agent(sig: FuncSig, strict: bool) -> HostFunc:
    def live(session: Session, ref: str, name: str) -> Some | None:
        record = _component(session.store, ref)
        if record is None:
            return None
        agent = AgentId(uuid.UUID(record.id), name)
        if strict:
            try:
                session.store.get_agent(agent)
            except NotFound:
                return None
        return Some(id_to(agent, _payload(sig.result)))

    return HostFunc(live, R)


def _unsupported(name: str, why: str) -> Callable[[FuncSig], HostFunc]:
    def refuse(session: Session, *args: Any) -> None:
        raise _fail(f"golem:api/host {name} is not supported by agent-host: {why}")

    return lambda sig: HostFunc(refuse, Kind.PURE)


def _constructor(sig: FuncSig) -> HostFunc:
    assert isinstance(sig.result, ResourceT)
    return HostFunc(_enumerate_new)


FUNCS: dict[str, Callable[[FuncSig], HostFunc]] = {}
for _noun in ("worker", "agent"):
    FUNCS.update(
        {
            f"get-{_noun}-metadata": _worker_metadata,
            f"[constructor]get-{_noun}s": _constructor,
            f"[method]get-{_noun}s.get-next": _get_next,
            f"update-{_noun}": _update,
            f"fork-{_noun}": _fork,
            f"revert-{_noun}": _revert,
            f"resolve-{_noun}-id": lambda sig: _resolve_agent(sig, strict=False),
            f"resolve-{_noun}-id-strict": lambda sig: _resolve_agent(sig, strict=True),
        }
    )
FUNCS.update(
    {
        "get-self-metadata": _self_metadata,
        "resolve-component-id": _resolve_component,
        "fork": _fork_self,
        "get-self-uri": _unsupported(
            "get-self-uri", "worker URIs (golem:rpc 0.1.0 wasm-rpc) are not implemented"
        ),
    }
)

__all__ = ["FUNCS", "filter_matches", "id_from", "id_to", "metadata", "metadata_facts"]
