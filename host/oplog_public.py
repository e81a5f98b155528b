"""Our oplog entries as Golem's public oplog entries (``golem:api/oplog@1.5.0``
``public-oplog-entry``), as host values of that WIT type.

Golem builds a public entry from its internal one (its executor's
``PublicOplogEntry::from_oplog_entry``); our entries are Golem's vocabulary, so almost
every one has a counterpart. Where we keep less than Golem does, the field gets the
nearest honest value, said at each function: no accounts, environments or plugins
(nil uuids, empty lists), no fuel (0), no linear-memory accounting (0), and host-call
payloads and invocation parameters kept as JSON / WAVE text rather than Golem's typed
values, so they are given as ``string`` values with their ``string`` type.

Pure: no wasmtime, no store. :class:`Context` carries what the mapping needs from
outside the entry (the agent, the component's versions).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from host import oplog
from host import retry_policy as rp
from host.agents.wittype import wit_type_to_value, wit_value_from_value
from host.ids import AgentId
from host.retry_policy_wit import named_to_wit
from host.tracecontext import invocation_trace_id, trace_states
from host.values import STRING, Case, Some

Value = Any
NIL_UUID: Value = {"high-bits": 0, "low-bits": 0}


@dataclass(frozen=True)
class Context:
    """What the mapping needs besides the entry: whose oplog it is, and the component's
    versions by file hash as (version, size in bytes)."""

    agent: AgentId
    versions: Mapping[str, tuple[int, int]]

    def version_of(self, component_hash: str) -> int:
        return self.versions.get(component_hash, (0, 0))[0]

    def size_of(self, version: int) -> int:
        return next((size for v, size in self.versions.values() if v == version), 0)


def datetime(ns: int) -> Value:
    """A wall-clock time (ns since the epoch) as ``wasi:clocks/wall-clock.datetime``."""
    return {"seconds": ns // 1_000_000_000, "nanoseconds": ns % 1_000_000_000}


def _uuid(value: uuid.UUID) -> Value:
    return {"high-bits": value.int >> 64, "low-bits": value.int & 0xFFFF_FFFF_FFFF_FFFF}


def agent_id(agent: AgentId) -> Value:
    """``golem:core/types.agent-id``."""
    return {"component-id": {"uuid": _uuid(agent.component_id)}, "agent-id": agent.name}


def text(value: str) -> Value:
    """A ``value-and-type`` holding ``value`` as a ``string``: how we give payloads that
    we keep as JSON or WAVE text (Golem gives them typed)."""
    return {"value": wit_value_from_value(value, STRING), "typ": wit_type_to_value(STRING)}


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _typed_params(params: tuple[str, ...]) -> Value:
    """A ``typed-data-value`` of an invocation's parameters: one component-model element
    per parameter, its WAVE text as a ``string`` (our oplog keeps WAVE text, not the
    export's types)."""
    element = Case("component-model", wit_type_to_value(STRING))
    return {
        "value": Case(
            "tuple", [Case("component-model", wit_value_from_value(p, STRING)) for p in params]
        ),
        "schema": Case("tuple", [(f"param{i}", element) for i in range(len(params))]),
    }


# -- one function per entry family ---------------------------------------------------------
def _created(index: int, e: oplog.AgentCreated, ctx: Context) -> Value:
    return Case(
        "create",
        {
            "timestamp": datetime(e.timestamp),
            "agent-id": agent_id(ctx.agent),
            "component-revision": ctx.version_of(e.component_hash),
            "env": [tuple(pair) for pair in e.user_env],
            # One node, one environment, no accounts: nil uuids.
            "created-by": {"uuid": NIL_UUID},
            "environment-id": {"uuid": NIL_UUID},
            # A fork's copy does not record its source in its create entry here.
            "parent": None,
            "component-size": ctx.size_of(ctx.version_of(e.component_hash)),
            "initial-total-linear-memory-size": 0,
            "initial-active-plugins": [],
            # Config values are kept as JSON text.
            "local-agent-config": [
                {"path": list(path), "value": text(value)} for path, value in e.config
            ],
            "original-phantom-id": None,
        },
    )


# Our host functions by the kind of side effect Golem would declare for them (the
# function name's prefix): HTTP and agent-to-agent calls and promise/agent management are
# remote writes, the rest reads of the agent's own environment.
_WRITE_REMOTE = (
    "wasi:http/",
    "golem:agent/host",
    "golem:rpc/",
)
_WRITE_REMOTE_FUNCS = (
    "complete-promise",
    "update-",
    "fork",
    "revert-",
    "schedule",
    "invoke",
)


def _function_type(function: str) -> Value:
    name = function.rpartition(".")[2]
    if function.startswith(_WRITE_REMOTE) or name.startswith(_WRITE_REMOTE_FUNCS):
        return Case("write-remote")
    return Case("read-local")


# The recorded get-next calls of golem:api/oplog's readers.
OPLOG_READS = (
    "golem:api/oplog@1.5.0.[method]get-oplog.get-next",
    "golem:api/oplog@1.5.0.[method]search-oplog.get-next",
)
_LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "critical")


def _host_call_case(
    timestamp: int, function: str, request: Any, response: Any, function_type: Value
) -> Value:
    """A ``host-call`` public entry (request and response as our JSON text)."""
    return Case(
        "host-call",
        {
            "timestamp": datetime(timestamp),
            "function-name": function,
            "request": text(_json_text(request)),
            "response": text(_json_text(response)),
            "durable-function-type": function_type,
        },
    )


def _host_call(index: int, e: oplog.HostCall, ctx: Context) -> Value:
    log = _as_log(e)
    if log is not None:
        return log
    return _host_call_case(
        e.timestamp, e.function, e.request, shown_response(e), _function_type(e.function)
    )


def shown_response(e: oplog.HostCall) -> Any:
    """What a host call's public entry shows as its response: the recorded one, but for
    a recorded page of an oplog read (host/runtime/golem_oplog.py), which Golem does not
    record, its size instead of the page again (each read of an oplog holding reads
    would otherwise hold all of them)."""
    response = e.response
    if e.function.startswith(OPLOG_READS) and isinstance(response, dict):
        return {"entries": len(response.get("page") or []), "next": response.get("next")}
    return response


def _as_log(e: oplog.HostCall) -> Value | None:
    """wasi:logging ``log`` calls are Golem's ``log`` entries (request: level, context,
    message). Guest stdout/stderr writes stay host calls: their request does not say
    which stream they wrote to."""
    if not e.function.startswith("wasi:logging/logging") or not e.function.endswith(".log"):
        return None
    request = e.request
    if not (isinstance(request, list) and len(request) == 3):
        return None
    level, context, message = request
    level = level if level in _LOG_LEVELS else "info"
    return Case(
        "log",
        {
            "timestamp": datetime(e.timestamp),
            "level": level,
            "context": str(context),
            "message": str(message),
        },
    )


def _promise_created(index: int, e: oplog.PromiseCreated, ctx: Context) -> Value:
    # The promise's id is this entry's index (what create-promise answered).
    response = {"agent-id": str(ctx.agent), "oplog-idx": index}
    return _host_call_case(e.timestamp, e.function, [], response, Case("write-local"))


def _started(index: int, e: oplog.InvocationStarted, ctx: Context) -> Value:
    # Our idempotency key is optional; Golem's always set (ours: the invocation id).
    key = e.idempotency_key if e.idempotency_key is not None else e.invocation_id
    common: dict[str, Value] = {
        "idempotency-key": key,
        # The invocation's trace (golem:api/context): its request's, else derived.
        "trace-id": invocation_trace_id(e.invocation_id, e.traceparent),
        "trace-states": trace_states(e.tracestate),
        "invocation-context": [],
    }
    if e.function.rpartition(".")[2].strip("{}") == "initialize":
        invocation = Case(
            "agent-initialization",
            {**common, "constructor-parameters": _typed_params(e.params)},
        )
    else:
        invocation = Case(
            "agent-method-invocation",
            {**common, "method-name": e.function, "function-input": _typed_params(e.params)},
        )
    return Case(
        "agent-invocation-started", {"timestamp": datetime(e.timestamp), "invocation": invocation}
    )


def _finished(index: int, e: oplog.InvocationFinished, ctx: Context, revision: int) -> Value:
    output = _typed_params(() if e.result is None else (e.result,))
    return Case(
        "agent-invocation-finished",
        {
            "timestamp": datetime(e.timestamp),
            "result": Case("agent-method", {"output": output}),
            "consumed-fuel": 0,  # no fuel metering
            "component-revision": revision,
        },
    )


def _failed(index: int, e: oplog.InvocationFailed, ctx: Context) -> Value:
    return Case(
        "error",
        {
            "timestamp": datetime(e.timestamp),
            "error": e.error,
            # A retry (Retried) re-runs the invocation from its recorded answers: from here.
            "retry-from": index,
            "inside-atomic-region": False,
            "retry-policy-state": None,
        },
    )


def _stamp(case: str) -> Callable[[int, Any, Context], Value]:
    return lambda index, e, ctx: Case(case, {"timestamp": datetime(e.timestamp)})


def _region_end(case: str) -> Callable[[int, Any, Context], Value]:
    return lambda index, e, ctx: Case(
        case, {"timestamp": datetime(e.timestamp), "begin-index": e.begin_index}
    )


def _jump(index: int, e: oplog.Jump, ctx: Context) -> Value:
    region: Value = {"start": e.start, "end": e.end}
    return Case("jump", {"timestamp": datetime(e.timestamp), "jump": region})


def _persistence(index: int, e: oplog.ChangePersistenceLevel, ctx: Context) -> Value:
    return Case(
        "change-persistence-level",
        {"timestamp": datetime(e.timestamp), "persistence-level": Case(e.level)},
    )


def _snapshot(index: int, e: oplog.Snapshot, ctx: Context) -> Value:
    data: Value = {"data": base64.b64decode(e.payload), "mime-type": e.mime_type}
    return Case("snapshot", {"timestamp": datetime(e.timestamp), "data": data})


def _pending_update(index: int, e: oplog.PendingUpdate, ctx: Context) -> Value:
    if e.mode == "snapshot-based":
        # The snapshot is taken when the update applies, so the request has none yet.
        description = Case("snapshot-based", {"payload": b"", "mime-type": ""})
    else:
        description = Case("auto-update")
    return Case(
        "pending-update",
        {
            "timestamp": datetime(e.timestamp),
            "target-revision": e.target_version,
            "description": description,
        },
    )


def _updated(index: int, e: oplog.SuccessfulUpdate, ctx: Context) -> Value:
    return Case(
        "successful-update",
        {
            "timestamp": datetime(e.timestamp),
            "target-revision": e.target_version,
            "new-component-size": ctx.size_of(e.target_version),
            "new-active-plugins": [],
        },
    )


def _update_failed(index: int, e: oplog.FailedUpdate, ctx: Context) -> Value:
    return Case(
        "failed-update",
        {
            "timestamp": datetime(e.timestamp),
            "target-revision": e.target_version,
            "details": Some(e.details),
        },
    )


def _durable_function_type(recorded: Any) -> Value:
    """The recorded ``wrapped-function-type`` (its JSON, host/runtime/durability.py) as
    the value again: the batched and transaction cases carry an optional oplog index."""
    if not (isinstance(recorded, dict) and len(recorded) == 1):
        return Case("read-local")  # not what durability.py records: the nearest honest
    ((name, payload),) = recorded.items()
    if name in ("write-remote-batched", "write-remote-transaction"):
        return Case(name, None if payload is None else Some(int(payload)))
    return Case(str(name))


def _durable_call(index: int, e: oplog.DurableFunctionCall, ctx: Context) -> Value:
    # Golem writes a guest's durable function as a host call under its own name.
    return _host_call_case(
        e.timestamp,
        e.function,
        e.request,
        e.response,
        _durable_function_type(e.function_type),
    )


def _start_span(index: int, e: oplog.StartSpan, ctx: Context) -> Value:
    attributes: Value = [{"key": k, "value": Case("string", v)} for k, v in e.attributes]
    return Case(
        "start-span",
        {
            "timestamp": datetime(e.timestamp),
            "span-id": e.span_id,
            "parent": Some(e.parent) if e.parent else None,
            "linked-context-id": None,
            "attributes": attributes,
        },
    )


def _set_span_attribute(index: int, e: oplog.SetSpanAttribute, ctx: Context) -> Value:
    return Case(
        "set-span-attribute",
        {
            "timestamp": datetime(e.timestamp),
            "span-id": e.span_id,
            "key": e.key,
            "value": Case("string", e.value),
        },
    )


def _finish_span(index: int, e: oplog.FinishSpan, ctx: Context) -> Value:
    return Case("finish-span", {"timestamp": datetime(e.timestamp), "span-id": e.span_id})


def _set_retry_policy(index: int, e: oplog.SetRetryPolicy, ctx: Context) -> Value:
    policy = named_to_wit(rp.named_from_json(e.policy))
    return Case("set-retry-policy", {"timestamp": datetime(e.timestamp), "policy": policy})


def _remove_retry_policy(index: int, e: oplog.RemoveRetryPolicy, ctx: Context) -> Value:
    return Case("remove-retry-policy", {"timestamp": datetime(e.timestamp), "name": e.name})


def _in_function_retry(index: int, e: oplog.InFunctionRetry, ctx: Context) -> Value:
    # Golem's in-function retry writes an Error entry retrying from the failed call; the
    # call's entry comes after this one here, so retry-from is the next index.
    return Case(
        "error",
        {
            "timestamp": datetime(e.timestamp),
            "error": f"{e.function}: {e.detail} (retried in the call by policy {e.policy})",
            "retry-from": index + 1,
            "inside-atomic-region": False,
            "retry-policy-state": None,
        },
    )


_MAPPERS: dict[type[Any], Callable[[int, Any, Context], Value]] = {
    oplog.AgentCreated: _created,
    oplog.HostCall: _host_call,
    oplog.PromiseCreated: _promise_created,
    oplog.InvocationStarted: _started,
    oplog.InvocationFailed: _failed,
    oplog.Suspended: _stamp("suspend"),
    # A retry of a failed invocation has no entry of its own in Golem (its executor just
    # runs again from the error's retry-from): a no-op marker.
    oplog.Retried: _stamp("no-op"),
    oplog.BeginAtomicRegion: _stamp("begin-atomic-region"),
    oplog.EndAtomicRegion: _region_end("end-atomic-region"),
    # Golem's begin-remote-write has no function name; ours is dropped.
    oplog.BeginRemoteWrite: _stamp("begin-remote-write"),
    oplog.EndRemoteWrite: _region_end("end-remote-write"),
    # Reverts are jumps here (Golem writes a revert entry): a jump.
    oplog.Jump: _jump,
    oplog.ChangePersistenceLevel: _persistence,
    oplog.Snapshot: _snapshot,
    oplog.PendingUpdate: _pending_update,
    oplog.SuccessfulUpdate: _updated,
    oplog.FailedUpdate: _update_failed,
    oplog.DurableFunctionCall: _durable_call,
    oplog.StartSpan: _start_span,
    oplog.SetSpanAttribute: _set_span_attribute,
    oplog.FinishSpan: _finish_span,
    oplog.SetRetryPolicy: _set_retry_policy,
    oplog.RemoveRetryPolicy: _remove_retry_policy,
    oplog.InFunctionRetry: _in_function_retry,
}


def revision_after(entry: oplog.Entry, ctx: Context, revision: int) -> int:
    """The component revision in force after ``entry`` (Golem's
    ``specifies_component_revision``: the create entry and successful updates)."""
    if isinstance(entry, oplog.AgentCreated):
        return ctx.version_of(entry.component_hash)
    if isinstance(entry, oplog.SuccessfulUpdate):
        return entry.target_version
    return revision


def to_public(index: int, entry: oplog.Entry, ctx: Context, revision: int) -> Value:
    """The ``public-oplog-entry`` value of ``entry`` at oplog ``index``; ``revision`` is
    the component revision in force at it (:func:`revision_after` of the entries
    before, as Golem tracks it while paging)."""
    if isinstance(entry, oplog.InvocationFinished):
        return _finished(index, entry, ctx, revision)
    return _MAPPERS[type(entry)](index, entry, ctx)


__all__ = ["Context", "agent_id", "datetime", "revision_after", "text", "to_public"]
