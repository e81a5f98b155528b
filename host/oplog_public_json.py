"""Golem's ``PublicOplogEntry`` JSON (its REST API's oplog, the worker service's
``GetOplogResponse``) from the ``public-oplog-entry`` WIT values of host/oplog_public.py.

One mapping from our entries to Golem's public model exists (oplog_public); this module
only writes its values the way Golem's serde/poem-openapi model does, so the guest's view
(golem:api/oplog) and the REST view cannot drift apart:

- a variant case is an object with a ``type`` discriminator, its name in PascalCase
  (``agent-invocation-started`` -> ``AgentInvocationStarted``), its record's fields
  beside it in camelCase;
- a ``datetime`` is an RFC 3339 UTC string, a uuid its canonical text, an agent id
  ``{componentId, agentId}``, ``env`` an object;
- a ``value-and-type`` is ``{typ, value}``: the analysed type (``{"type": "Str"}``) and
  the value as typed JSON; a ``typed-data-value`` is a ``DataValue`` (``{"type":
  "Tuple", "elements": [{"type": "ComponentModel", "value": <value-and-type>}]}``);
- enums of Golem's model (log level, persistence level) are PascalCase strings; an
  absent option is ``null``; bytes are a list of numbers.

Where Golem's Rust field names differ from the WIT's (start-span's ``parent`` is
``parentId``, ``linked-context-id`` is ``linkedContext``; the update description's
``auto-update`` is ``Automatic``; snapshot data is ``Raw``), the Rust names are used.
A set-retry-policy entry's ``policy`` is Golem's ``PublicNamedRetryPolicy``: an
``ApiPredicate`` and an ``ApiRetryPolicy``, durations in milliseconds
(host/retry_policy_api.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC
from datetime import datetime as _dt
from typing import Any

from host.agents.wittype import value_from_wit_value, wit_type_from_value
from host.retry_policy_api import named_to_api
from host.retry_policy_wit import named_from_wit
from host.values import Case, Some, to_json
from host.values.types import (
    EnumT,
    FlagsT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResultT,
    TupleT,
    VariantT,
    WitType,
)

Json = Any

# Golem's Rust field names where they differ from the WIT's, by entry case.
_RENAMES: dict[str, dict[str, str]] = {
    "start-span": {"parent": "parentId", "linked-context-id": "linkedContext"},
}
# Cases of Golem's model whose name differs from the WIT case's.
_CASE_NAMES = {"auto-update": "Automatic"}
# Fields whose value is one of Golem's string enums (a PascalCase string, not an object).
_ENUM_FIELDS = ("level", "persistence-level")
_PRIM_NAMES = {
    "bool": "Bool",
    "s8": "S8",
    "s16": "S16",
    "s32": "S32",
    "s64": "S64",
    "u8": "U8",
    "u16": "U16",
    "u32": "U32",
    "u64": "U64",
    "f32": "F32",
    "f64": "F64",
    "char": "Chr",
    "string": "Str",
}


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def rfc3339(value: dict[str, int]) -> str:
    """A ``datetime`` as Golem's ``Timestamp`` JSON (RFC 3339, UTC, ``Z``)."""
    seconds, nanos = value["seconds"], value["nanoseconds"]
    stamp = _dt.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{stamp}{fraction.rstrip('.')}Z"


def _uuid(value: dict[str, int]) -> str:
    return str(uuid.UUID(int=(value["high-bits"] << 64) | value["low-bits"]))


def analysed_type(ty: WitType) -> Json:
    """A WIT type as golem-wasm's ``AnalysedType`` JSON."""
    if isinstance(ty, Prim):
        return {"type": _PRIM_NAMES.get(str(ty.kind), pascal(str(ty.kind)))}
    if isinstance(ty, ListT):
        return {"type": "List", "inner": analysed_type(ty.elem)}
    if isinstance(ty, OptionT):
        return {"type": "Option", "inner": analysed_type(ty.payload)}
    if isinstance(ty, TupleT):
        return {"type": "Tuple", "items": [analysed_type(t) for t in ty.elems]}
    if isinstance(ty, RecordT):
        fields = [{"name": n, "typ": analysed_type(t)} for n, t in ty.fields]
        return {"type": "Record", "fields": fields}
    if isinstance(ty, VariantT):
        cases = [{"name": n, "typ": None if t is None else analysed_type(t)} for n, t in ty.cases]
        return {"type": "Variant", "cases": cases}
    if isinstance(ty, EnumT):
        return {"type": "Enum", "cases": list(ty.names)}
    if isinstance(ty, FlagsT):
        return {"type": "Flags", "names": list(ty.names)}
    if isinstance(ty, ResultT):
        ok = None if ty.ok is None else analysed_type(ty.ok)
        err = None if ty.err is None else analysed_type(ty.err)
        return {"type": "Result", "ok": ok, "err": err}
    return {"type": type(ty).__name__}  # resources: not in oplog payloads


def value_and_type(value: dict[str, Any]) -> Json:
    """A ``value-and-type`` (wit-value + wit-type nodes) as Golem's ``{typ, value}``."""
    ty = wit_type_from_value(value["typ"])
    return {
        "typ": analysed_type(ty),
        "value": to_json(value_from_wit_value(value["value"], ty), ty),
    }


def data_value(value: dict[str, Any]) -> Json:
    """A ``typed-data-value`` as Golem's ``DataValue`` JSON. Ours are tuples of
    component-model elements (host/oplog_public.py ``_typed_params``)."""
    schema, untyped = value["schema"], value["value"]
    if untyped.name == "tuple":
        elements = []
        for (_, element_schema), element in zip(schema.value, untyped.value, strict=True):
            if element.name == "component-model":
                typed = {"value": element.value, "typ": element_schema.value}
                elements.append({"type": "ComponentModel", "value": value_and_type(typed)})
            else:
                elements.append({"type": pascal(element.name), "value": _any(element.value)})
        return {"type": "Tuple", "elements": elements}
    return {"type": pascal(untyped.name), "elements": _any(untyped.value)}


def _is(value: Any, *keys: str) -> bool:
    return isinstance(value, dict) and set(value) == set(keys)


def _any(value: Any) -> Json:
    """Any other value of the public model, by its shape."""
    if isinstance(value, Some):
        return _any(value.value)
    if isinstance(value, Case):
        return _case(value)
    if isinstance(value, bytes | bytearray):
        return list(value)
    if isinstance(value, tuple | list):
        return [_any(v) for v in value]
    if isinstance(value, dict):
        if _is(value, "seconds", "nanoseconds"):
            return rfc3339(value)
        if _is(value, "high-bits", "low-bits"):
            return _uuid(value)
        if _is(value, "uuid"):  # component-id, account-id, environment-id
            return _any(value["uuid"])
        if _is(value, "component-id", "agent-id"):
            return {"componentId": _any(value["component-id"]), "agentId": value["agent-id"]}
        if _is(value, "value", "typ"):
            return value_and_type(value)
        if _is(value, "value", "schema"):
            return data_value(value)
        return _record(value)
    return value


def _record(value: dict[str, Any], renames: dict[str, str] | None = None) -> dict[str, Json]:
    out: dict[str, Json] = {}
    for key, field in value.items():
        name = (renames or {}).get(key) or camel(key)
        if key in _ENUM_FIELDS:
            out[name] = pascal(field.name if isinstance(field, Case) else str(field))
        elif key == "env":
            out[name] = {k: v for k, v in field}
        else:
            out[name] = _any(field)
    return out


def _case(value: Case) -> Json:
    out: dict[str, Json] = {"type": _CASE_NAMES.get(value.name) or pascal(value.name)}
    payload = value.value
    if isinstance(payload, dict) and not _is(payload, "value", "typ"):
        out.update(_record(payload))
    elif value.name in ("write-remote-batched", "write-remote-transaction"):
        out["index"] = _any(payload)
    elif payload is not None:
        out["value"] = _any(payload)
    return out


def entry_json(entry: Case) -> dict[str, Json]:
    """A ``public-oplog-entry`` value as Golem's ``PublicOplogEntry`` JSON."""
    assert isinstance(entry.value, dict), f"{entry.name}: a record payload"
    payload: dict[str, Any] = entry.value
    out: dict[str, Json] = {"type": pascal(entry.name)}
    if entry.name == "snapshot":
        data = payload["data"]
        snapshot = {"type": "Raw", "data": list(data["data"]), "mimeType": data["mime-type"]}
        return {**out, "timestamp": rfc3339(payload["timestamp"]), "data": snapshot}
    if entry.name == "set-retry-policy":
        policy = named_to_api(named_from_wit(payload["policy"]))
        return {**out, "timestamp": rfc3339(payload["timestamp"]), "policy": policy}
    out.update(_record(payload, _RENAMES.get(entry.name)))
    return out


__all__ = ["analysed_type", "camel", "entry_json", "pascal", "rfc3339", "value_and_type"]
