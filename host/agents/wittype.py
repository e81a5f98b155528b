"""Golem's self-describing ``wit-type`` / ``wit-value`` trees and this host's WIT types and
values (:mod:`host.values`).

Minimal version written on branch ``agentproto`` while ``agentcore`` writes the full one;
the interface is the agreed one.
"""

from __future__ import annotations

from typing import Any

from host.values.types import Case as C
from host.values.types import (
    EnumT,
    FlagsT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResourceT,
    ResultT,
    Some,
    TupleT,
    Value,
    ValuesError,
    VariantT,
    WitType,
)

_PRIM_TYPE = {
    "prim-u8-type": "u8",
    "prim-u16-type": "u16",
    "prim-u32-type": "u32",
    "prim-u64-type": "u64",
    "prim-s8-type": "s8",
    "prim-s16-type": "s16",
    "prim-s32-type": "s32",
    "prim-s64-type": "s64",
    "prim-f32-type": "f32",
    "prim-f64-type": "f64",
    "prim-char-type": "char",
    "prim-bool-type": "bool",
    "prim-string-type": "string",
}
_PRIM_NODE = {
    "u8": "prim-u8",
    "u16": "prim-u16",
    "u32": "prim-u32",
    "u64": "prim-u64",
    "s8": "prim-s8",
    "s16": "prim-s16",
    "s32": "prim-s32",
    "s64": "prim-s64",
    "f32": "prim-float32",
    "f64": "prim-float64",
    "char": "prim-char",
    "bool": "prim-bool",
    "string": "prim-string",
}
_TYPE_NODE = {v: k for k, v in _PRIM_TYPE.items()}


def _opt(v: Any) -> Any:
    return v.value if isinstance(v, Some) else v


def wit_type_from_value(v: Any) -> WitType:
    """A ``wit-type`` value (``{nodes: [...]}``, root first) as a WIT type."""
    nodes = v["nodes"]
    if not nodes:
        raise ValuesError("a wit-type has no nodes")

    def at(i: int, depth: int = 0) -> WitType:
        if depth > 100 or not 0 <= i < len(nodes):
            raise ValuesError(f"wit-type node index {i} is out of range")
        node = nodes[i]["type"]
        name, p = node.name, node.value
        if name in _PRIM_TYPE:
            return Prim(_PRIM_TYPE[name])  # type: ignore[arg-type]
        if name == "record-type":
            return RecordT(tuple((f, at(j, depth + 1)) for f, j in p))
        if name == "variant-type":
            return VariantT(
                tuple((n, None if _opt(j) is None else at(_opt(j), depth + 1)) for n, j in p)
            )
        if name == "enum-type":
            return EnumT(tuple(p))
        if name == "flags-type":
            return FlagsT(tuple(p))
        if name == "tuple-type":
            return TupleT(tuple(at(j, depth + 1) for j in p))
        if name == "list-type":
            return ListT(at(p, depth + 1))
        if name == "option-type":
            return OptionT(at(p, depth + 1))
        if name == "result-type":
            ok, err = (_opt(x) for x in p)
            return ResultT(
                None if ok is None else at(ok, depth + 1),
                None if err is None else at(err, depth + 1),
            )
        return ResourceT(f"resource-{p[0]}", own=p[1] == "owned")

    return at(0)


def wit_type_to_value(ty: WitType) -> dict[str, Any]:
    """A WIT type as a ``wit-type`` value (root first)."""
    nodes: list[Any] = []

    def add(t: WitType) -> int:
        i = len(nodes)
        nodes.append(None)
        node: C
        if isinstance(t, Prim):
            node = C(_TYPE_NODE[t.kind])
        elif isinstance(t, RecordT):
            node = C("record-type", [(f, add(ft)) for f, ft in t.fields])
        elif isinstance(t, VariantT):
            node = C(
                "variant-type", [(n, None if ct is None else Some(add(ct))) for n, ct in t.cases]
            )
        elif isinstance(t, EnumT):
            node = C("enum-type", list(t.names))
        elif isinstance(t, FlagsT):
            node = C("flags-type", list(t.names))
        elif isinstance(t, TupleT):
            node = C("tuple-type", [add(e) for e in t.elems])
        elif isinstance(t, ListT):
            node = C("list-type", add(t.elem))
        elif isinstance(t, OptionT):
            node = C("option-type", add(t.payload))
        elif isinstance(t, ResultT):
            ok = None if t.ok is None else Some(add(t.ok))
            err = None if t.err is None else Some(add(t.err))
            node = C("result-type", (ok, err))
        else:
            node = C("handle-type", (0, "owned" if t.own else "borrowed"))
        nodes[i] = {"name": None, "owner": None, "type": node}
        return i

    add(ty)
    return {"nodes": nodes}


def wit_value_from_value(value: Value, ty: WitType) -> dict[str, Any]:
    """A value of ``ty`` as a ``wit-value`` (root first)."""
    nodes: list[Any] = []

    def add(v: Value, t: WitType) -> int:
        i = len(nodes)
        nodes.append(None)
        node: C
        if isinstance(t, Prim):
            node = C(_PRIM_NODE[t.kind], v)
        elif isinstance(t, ListT):
            items = list(v) if isinstance(v, bytes) else v
            assert isinstance(items, list)
            node = C("list-value", [add(x, t.elem) for x in items])
        elif isinstance(t, RecordT):
            assert isinstance(v, dict)
            node = C("record-value", [add(v[f], ft) for f, ft in t.fields])
        elif isinstance(t, TupleT):
            assert isinstance(v, tuple)
            node = C("tuple-value", [add(x, e) for x, e in zip(v, t.elems, strict=True)])
        elif isinstance(t, VariantT):
            assert isinstance(v, C)
            names = [n for n, _ in t.cases]
            k = names.index(v.name)
            ct = t.cases[k][1]
            node = C("variant-value", (k, None if ct is None else Some(add(v.value, ct))))
        elif isinstance(t, EnumT):
            assert isinstance(v, str)
            node = C("enum-value", t.names.index(v))
        elif isinstance(t, FlagsT):
            assert isinstance(v, frozenset)
            node = C("flags-value", [n in v for n in t.names])
        elif isinstance(t, OptionT):
            node = C("option-value", None if v is None else Some(add(_opt(v), t.payload)))
        elif isinstance(t, ResultT):
            assert isinstance(v, C)
            side = t.ok if v.name == "ok" else t.err
            inner = None if side is None else Some(add(v.value, side))
            node = C("result-value", C(v.name, inner))
        else:
            raise ValuesError("resource handles cannot be agent values")
        nodes[i] = node
        return i

    add(value, ty)
    return {"nodes": nodes}


def value_from_wit_value(wv: Any, ty: WitType) -> Value:
    """A ``wit-value`` typed by ``ty`` as a value; ValuesError if it does not fit."""
    nodes = wv["nodes"]

    def at(i: int, t: WitType, path: str) -> Value:
        if not 0 <= i < len(nodes):
            raise ValuesError(f"{path}: wit-value node index {i} is out of range")
        node = nodes[i]
        name, p = node.name, node.value

        def want(expected: str) -> None:
            if name != expected:
                raise ValuesError(f"{path}: expected a {expected} node, got {name}")

        if isinstance(t, Prim):
            want(_PRIM_NODE[t.kind])
            prim: Value = p
            return prim
        if isinstance(t, ListT):
            want("list-value")
            items = [at(j, t.elem, f"{path}[{k}]") for k, j in enumerate(p)]
            if t.elem == Prim("u8"):
                return bytes(items)  # type: ignore[arg-type]
            return items
        if isinstance(t, RecordT):
            want("record-value")
            return {f: at(j, ft, f"{path}.{f}") for (f, ft), j in zip(t.fields, p, strict=True)}
        if isinstance(t, TupleT):
            want("tuple-value")
            return tuple(
                at(j, e, f"{path}[{k}]") for k, (j, e) in enumerate(zip(p, t.elems, strict=False))
            )
        if isinstance(t, VariantT):
            want("variant-value")
            k, j = p
            case, ct = t.cases[k]
            j = _opt(j)
            return C(case, None if ct is None or j is None else at(j, ct, f"{path}.{case}"))
        if isinstance(t, EnumT):
            want("enum-value")
            name_: str = t.names[p]
            return name_
        if isinstance(t, FlagsT):
            want("flags-value")
            return frozenset(n for n, on in zip(t.names, p, strict=False) if on)
        if isinstance(t, OptionT):
            want("option-value")
            j = _opt(p)
            return None if j is None else Some(at(j, t.payload, f"{path}.some"))
        if isinstance(t, ResultT):
            want("result-value")
            side = t.ok if p.name == "ok" else t.err
            j = _opt(p.value)
            return C(p.name, None if side is None or j is None else at(j, side, path))
        raise ValuesError(f"{path}: resource handles cannot be agent values")

    return at(0, ty, "$")
