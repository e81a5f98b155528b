"""Golem ``data-value`` s typed by a ``data-schema``, to and from JSON and WAVE.

Minimal version written on branch ``agentproto`` while ``agentcore`` writes the full one
(component-model elements of tuple schemas only); the interface is the agreed one.
"""

from __future__ import annotations

from typing import Any

from host.agents.model import DataSchema
from host.agents.wittype import value_from_wit_value, wit_value_from_value
from host.errors import InvalidInput
from host.values import ValuesError, format_value, from_json, parse_args, to_json
from host.values.types import Case, Value, WitType


def _types(schema: DataSchema, where: str) -> list[WitType]:
    out = []
    for e in schema.elements:
        if e.wit is None:
            raise InvalidInput(
                f"{where}: {e.kind} element {e.name} is not supported yet", field=where
            )
        out.append(e.wit)
    return out


def _pack(schema: DataSchema, values: list[Value]) -> Value:
    return Case(
        "tuple",
        [
            Case("component-model", wit_value_from_value(v, e.wit))  # type: ignore[arg-type]
            for v, e in zip(values, schema.elements, strict=True)
        ],
    )


def _unpack(schema: DataSchema, value: Any) -> list[Value]:
    if not isinstance(value, Case) or value.name != "tuple":
        raise ValuesError("expected a tuple data-value")
    elems: Any = value.value
    if len(elems) != len(schema.elements):
        raise ValuesError(f"expected {len(schema.elements)} elements, got {len(elems)}")
    out = []
    for ev, e in zip(elems, schema.elements, strict=True):
        if ev.name != "component-model" or e.wit is None:
            raise ValuesError(f"element {e.name}: only component-model values are supported")
        out.append(value_from_wit_value(ev.value, e.wit))
    return out


def data_value_from_wave(schema: DataSchema, text: str, where: str) -> Value:
    types = _types(schema, where)
    try:
        values = parse_args(text, types)
    except ValuesError as exc:
        raise InvalidInput(f"{where}: {exc}", field=where) from None
    return _pack(schema, values)


def data_value_to_wave(schema: DataSchema, value: Value) -> str:
    values = _unpack(schema, value)
    return ", ".join(format_value(v, e.wit) for v, e in zip(values, schema.elements, strict=False))  # type: ignore[arg-type]


def data_value_from_json(schema: DataSchema, obj: Any, where: str) -> Value:
    types = _types(schema, where)
    names = [e.name for e in schema.elements]
    if isinstance(obj, dict):
        missing = [n for n in names if n not in obj]
        extra = [k for k in obj if k not in names]
        if missing or extra:
            raise InvalidInput(
                f"{where}: expected the fields {', '.join(names) or '(none)'}", field=where
            )
        items = [obj[n] for n in names]
    elif isinstance(obj, list):
        if len(obj) != len(names):
            raise InvalidInput(
                f"{where}: expected {len(names)} values, got {len(obj)}", field=where
            )
        items = obj
    else:
        raise InvalidInput(f"{where}: expected a JSON array or object", field=where)
    values = []
    for i, (item, ty, name) in enumerate(zip(items, types, names, strict=True)):
        try:
            values.append(from_json(item, ty, f"{where}.{name}"))
        except ValuesError as exc:
            raise InvalidInput(str(exc), field=f"{where}.{i}") from None
    return _pack(schema, values)


def data_value_to_json(schema: DataSchema, value: Value) -> Any:
    values = _unpack(schema, value)
    shown = [to_json(v, e.wit) for v, e in zip(values, schema.elements, strict=False)]  # type: ignore[arg-type]
    if not shown:
        return None
    if len(shown) == 1:
        return shown[0]
    return {e.name: s for e, s in zip(schema.elements, shown, strict=False)}
