"""Golem's self-describing types and values (``golem:core/types`` ``wit-type``, ``wit-value``)
as host :data:`~host.values.WitType` and :data:`~host.values.Value`.

Both are flat node lists whose root is node 0; a node refers to its children by index
(``node-index`` is an ``s32``). Golem writes them parent first (pre-order), and so do we.
A guest may send anything: every index is range-checked, cycles and over-deep nesting are
refused, and a value node must fit the type at its place. Errors are
:class:`host.errors.InvalidInput` whose ``field`` is the path of the bad part
(``nodes[3]`` for a type, ``$.items[2]`` for a value).

Node names and owners (``named-wit-type-node``) are not part of the host's structural
types: they are dropped on the way in and written as ``none`` on the way out, except for
handle types, whose name (or resource id) becomes the :class:`~host.values.ResourceT`'s name.
Handles cannot be written as values (they are live resources): a ``handle`` value node is
refused.
"""

from __future__ import annotations

from collections.abc import Callable

from host.errors import InvalidInput
from host.values.types import (
    FLOAT_KINDS,
    U8,
    Case,
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
    ValueTypeError,
    VariantT,
    WitType,
    check,
    describe,
    show,
)

# Deeper than any real signature; keeps a hostile node chain from exhausting the stack.
MAX_DEPTH = 64

_PRIM_TYPE_CASES: dict[str, str] = {
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
_PRIM_TYPE_NODES = {kind: case for case, kind in _PRIM_TYPE_CASES.items()}

_PRIM_VALUE_CASES: dict[str, str] = {
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


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", field=field)


# --- wit-type ----------------------------------------------------------------------------


def wit_type_from_value(v: Value, where: str = "wit-type") -> WitType:
    """Decode a ``wit-type`` record value (``{"nodes": [...]}``, root node 0)."""
    if not isinstance(v, dict) or not isinstance(v.get("nodes"), list):
        raise _bad(where, f"expected a wit-type record with a list of nodes, got {show(v)}")
    nodes = v["nodes"]
    assert isinstance(nodes, list)
    if not nodes:
        raise _bad(f"{where}.nodes", "a wit-type needs at least one node (the root)")
    return _TypeDecoder(nodes, where).decode(0, 0)


class _TypeDecoder:
    def __init__(self, nodes: list[Value], where: str) -> None:
        self.nodes = nodes
        self.where = where
        self.done: dict[int, WitType] = {}  # shared subtrees are decoded once
        self.active: set[int] = set()

    def child(self, idx: object, parent: int, depth: int) -> WitType:
        field = f"{self.where}.nodes[{parent}]"
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise _bad(field, f"expected a node index, got {show(idx)}")
        if not 0 <= idx < len(self.nodes):
            raise _bad(field, f"node index {idx} is out of range (0..{len(self.nodes) - 1})")
        return self.decode(idx, depth + 1)

    def decode(self, idx: int, depth: int) -> WitType:
        if idx in self.done:
            return self.done[idx]
        field = f"{self.where}.nodes[{idx}]"
        if idx in self.active:
            raise _bad(field, "the type refers to itself (a cycle of node indices)")
        if depth > MAX_DEPTH:
            raise _bad(field, f"the type nests deeper than {MAX_DEPTH} levels")
        node = self.nodes[idx]
        if not isinstance(node, dict) or not isinstance(node.get("type"), Case):
            raise _bad(field, f"expected a named-wit-type-node record, got {show(node)}")
        self.active.add(idx)
        try:
            ty = self._decode_node(node, idx, depth, field)
        except ValueError as exc:  # a bad shape inside a payload (tuple unpacking etc.)
            raise _bad(field, f"malformed node: {exc}") from None
        except TypeError as exc:
            raise _bad(field, f"malformed node: {exc}") from None
        self.active.discard(idx)
        self.done[idx] = ty
        return ty

    def _decode_node(self, node: dict[str, Value], idx: int, depth: int, field: str) -> WitType:
        case = node["type"]
        assert isinstance(case, Case)
        name, p = case.name, case.value
        if name in _PRIM_TYPE_CASES:
            return Prim(_PRIM_TYPE_CASES[name])  # type: ignore[arg-type]
        if name == "record-type":
            fields = tuple((_label(n, field), self.child(t, idx, depth)) for n, t in _pairs(p))
            _unique([n for n, _ in fields], field)
            return RecordT(fields)
        if name == "variant-type":
            cases = tuple(
                (_label(n, field), None if t is None else self.child(_some(t), idx, depth))
                for n, t in _pairs(p)
            )
            _unique([n for n, _ in cases], field)
            return VariantT(cases)
        if name in ("enum-type", "flags-type"):
            if not isinstance(p, list):
                raise _bad(field, f"{name} expects a list of names, got {show(p)}")
            names = tuple(_label(n, field) for n in p)
            _unique(list(names), field)
            return EnumT(names) if name == "enum-type" else FlagsT(names)
        if name == "tuple-type":
            if not isinstance(p, list):
                raise _bad(field, f"tuple-type expects a list of node indices, got {show(p)}")
            return TupleT(tuple(self.child(t, idx, depth) for t in p))
        if name == "list-type":
            return ListT(self.child(p, idx, depth))
        if name == "option-type":
            return OptionT(self.child(p, idx, depth))
        if name == "result-type":
            if not isinstance(p, tuple) or len(p) != 2:
                raise _bad(field, f"result-type expects a pair of optional indices, got {show(p)}")
            ok, err = p
            return ResultT(
                None if ok is None else self.child(_some(ok), idx, depth),
                None if err is None else self.child(_some(err), idx, depth),
            )
        if name == "handle-type":
            if not isinstance(p, tuple) or len(p) != 2 or p[1] not in ("owned", "borrowed"):
                raise _bad(
                    field, f"handle-type expects (resource-id, resource-mode), got {show(p)}"
                )
            label = node.get("name")
            rname = (
                label.value if isinstance(label, Some) and isinstance(label.value, str) else p[0]
            )
            return ResourceT(str(rname), own=p[1] == "owned")
        raise _bad(field, f"unknown wit-type-node case {name!r}")


def _pairs(p: Value) -> list[tuple[Value, Value]]:
    if not isinstance(p, list) or not all(isinstance(x, tuple) and len(x) == 2 for x in p):
        raise ValueError(f"expected a list of (name, index) pairs, got {show(p)}")
    return [(x[0], x[1]) for x in p]  # type: ignore[index]


def _some(v: Value) -> Value:
    if not isinstance(v, Some):
        raise ValueError(f"expected an optional node index, got {show(v)}")
    return v.value


def _label(n: Value, field: str) -> str:
    if not isinstance(n, str) or not n:
        raise _bad(field, f"expected a non-empty name, got {show(n)}")
    return n


def _unique(names: list[str], field: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise _bad(field, f"the name {n!r} appears twice")
        seen.add(n)


def wit_type_to_value(t: WitType) -> Value:
    """Encode ``t`` as a ``wit-type`` record value, parent first, root at node 0."""
    nodes: list[Value] = []

    def add(ty: WitType) -> int:
        idx = len(nodes)
        nodes.append(None)
        name: Value = None
        if isinstance(ty, Prim):
            case = Case(_PRIM_TYPE_NODES[ty.kind])
        elif isinstance(ty, RecordT):
            case = Case("record-type", [(n, add(f)) for n, f in ty.fields])
        elif isinstance(ty, VariantT):
            case = Case(
                "variant-type", [(n, None if c is None else Some(add(c))) for n, c in ty.cases]
            )
        elif isinstance(ty, EnumT):
            case = Case("enum-type", list(ty.names))
        elif isinstance(ty, FlagsT):
            case = Case("flags-type", list(ty.names))
        elif isinstance(ty, TupleT):
            case = Case("tuple-type", [add(e) for e in ty.elems])
        elif isinstance(ty, ListT):
            case = Case("list-type", add(ty.elem))
        elif isinstance(ty, OptionT):
            case = Case("option-type", add(ty.payload))
        elif isinstance(ty, ResultT):
            ok = None if ty.ok is None else Some(add(ty.ok))
            err = None if ty.err is None else Some(add(ty.err))
            case = Case("result-type", (ok, err))
        else:
            rid = int(ty.name) if ty.name.isdigit() else 0
            if not ty.name.isdigit():
                name = Some(ty.name)
            case = Case("handle-type", (rid, "owned" if ty.own else "borrowed"))
        nodes[idx] = {"name": name, "owner": None, "type": case}
        return idx

    add(t)
    return {"nodes": nodes}


# --- wit-value ---------------------------------------------------------------------------

_Adder = Callable[[Value, WitType], int]  # add(value, type) -> the new node's index


def wit_value_from_value(value: Value, t: WitType) -> Value:
    """Encode ``value`` (a host Value of type ``t``) as a ``wit-value`` record value."""
    try:
        check(value, t, handles=False)
    except ValueTypeError as exc:
        raise _bad(exc.path, exc.message) from None
    nodes: list[Value] = []

    def add(v: Value, ty: WitType) -> int:
        idx = len(nodes)
        nodes.append(None)
        nodes[idx] = _encode_node(v, ty, add)
        return idx

    add(value, t)
    return {"nodes": nodes}


def _encode_node(v: Value, ty: WitType, add: _Adder) -> Value:
    if isinstance(ty, Prim):
        return Case(_PRIM_VALUE_CASES[ty.kind], v)
    if isinstance(ty, ListT):
        if ty.elem == U8:
            assert isinstance(v, bytes)
            return Case("list-value", [add(b, U8) for b in v])
        assert isinstance(v, list)
        return Case("list-value", [add(x, ty.elem) for x in v])
    if isinstance(ty, RecordT):
        assert isinstance(v, dict)
        return Case("record-value", [add(v[n], f) for n, f in ty.fields])
    if isinstance(ty, TupleT):
        assert isinstance(v, tuple)
        return Case("tuple-value", [add(x, e) for x, e in zip(v, ty.elems, strict=True)])
    if isinstance(ty, OptionT):
        return Case("option-value", None if v is None else Some(add(_unwrap(v), ty.payload)))
    if isinstance(ty, EnumT):
        return Case("enum-value", ty.names.index(str(v)))
    if isinstance(ty, FlagsT):
        assert isinstance(v, frozenset)
        return Case("flags-value", [n in v for n in ty.names])
    if isinstance(ty, ResultT):
        assert isinstance(v, Case)
        side = ty.ok if v.name == "ok" else ty.err
        inner = None if side is None else Some(add(v.value, side))
        return Case("result-value", Case(v.name, inner))
    assert isinstance(ty, VariantT) and isinstance(v, Case)
    names = [n for n, _ in ty.cases]
    i = names.index(v.name)
    payload_ty = ty.cases[i][1]
    return Case(
        "variant-value", (i, None if payload_ty is None else Some(add(v.value, payload_ty)))
    )


def _unwrap(v: Value) -> Value:
    assert isinstance(v, Some)
    return v.value


def value_from_wit_value(wv: Value, t: WitType, where: str = "$") -> Value:
    """Decode a ``wit-value`` record value as a host Value of type ``t``.

    Every node must fit the type at its place and be used once (a tree, as Golem builds
    them); errors name the value path (``$.items[2]``) and the node.
    """
    if not isinstance(wv, dict) or not isinstance(wv.get("nodes"), list):
        raise _bad(where, f"expected a wit-value record with a list of nodes, got {show(wv)}")
    nodes = wv["nodes"]
    assert isinstance(nodes, list)
    if not nodes:
        raise _bad(where, "a wit-value needs at least one node (the root)")
    return _ValueDecoder(nodes).decode(0, t, where, 0)


class _ValueDecoder:
    def __init__(self, nodes: list[Value]) -> None:
        self.nodes = nodes
        self.used: set[int] = set()

    def child(self, idx: object, ty: WitType, path: str, depth: int) -> Value:
        if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < len(self.nodes):
            raise _bad(path, f"node index {show(idx)} is out of range (0..{len(self.nodes) - 1})")
        return self.decode(idx, ty, path, depth + 1)

    def decode(self, idx: int, ty: WitType, path: str, depth: int) -> Value:
        if idx in self.used:
            raise _bad(path, f"node {idx} is used twice (a wit-value is a tree)")
        if depth > MAX_DEPTH:
            raise _bad(path, f"the value nests deeper than {MAX_DEPTH} levels")
        self.used.add(idx)
        node = self.nodes[idx]
        if not isinstance(node, Case):
            raise _bad(path, f"node {idx} is not a wit-node: {show(node)}")
        return self._node(node, ty, path, depth, idx)

    def _expect(self, node: Case, case: str, ty: WitType, path: str, idx: int) -> Value:
        if node.name != case:
            raise _bad(path, f"expected {describe(ty)} ({case}), got {node.name} at node {idx}")
        return node.value

    def _node(self, node: Case, ty: WitType, path: str, depth: int, idx: int) -> Value:
        if isinstance(ty, Prim):
            v = self._expect(node, _PRIM_VALUE_CASES[ty.kind], ty, path, idx)
            if ty.kind in FLOAT_KINDS and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            _check_leaf(v, ty, path)
            return v
        if isinstance(ty, ListT):
            items = self._list(self._expect(node, "list-value", ty, path, idx), path)
            out = [self.child(c, ty.elem, f"{path}[{i}]", depth) for i, c in enumerate(items)]
            return bytes(out) if ty.elem == U8 else out  # type: ignore[arg-type]
        if isinstance(ty, RecordT):
            items = self._list(self._expect(node, "record-value", ty, path, idx), path)
            if len(items) != len(ty.fields):
                raise _bad(path, f"{describe(ty)} has {len(ty.fields)} fields, got {len(items)}")
            return {
                n: self.child(c, f, f"{path}.{n}", depth)
                for (n, f), c in zip(ty.fields, items, strict=True)
            }
        if isinstance(ty, TupleT):
            items = self._list(self._expect(node, "tuple-value", ty, path, idx), path)
            if len(items) != len(ty.elems):
                raise _bad(path, f"{describe(ty)} has {len(ty.elems)} items, got {len(items)}")
            return tuple(
                self.child(c, e, f"{path}[{i}]", depth)
                for i, (e, c) in enumerate(zip(ty.elems, items, strict=True))
            )
        if isinstance(ty, OptionT):
            p = self._expect(node, "option-value", ty, path, idx)
            if p is None:
                return None
            if not isinstance(p, Some):
                raise _bad(path, f"malformed option-value {show(p)}")
            return Some(self.child(p.value, ty.payload, f"{path}.some", depth))
        if isinstance(ty, EnumT):
            i = self._expect(node, "enum-value", ty, path, idx)
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(ty.names):
                raise _bad(path, f"enum case index {show(i)} out of range for {describe(ty)}")
            return ty.names[i]
        if isinstance(ty, FlagsT):
            bits = self._list(self._expect(node, "flags-value", ty, path, idx), path)
            if len(bits) != len(ty.names) or not all(isinstance(b, bool) for b in bits):
                raise _bad(path, f"{describe(ty)} needs {len(ty.names)} booleans, got {show(bits)}")
            return frozenset(n for n, b in zip(ty.names, bits, strict=True) if b)
        if isinstance(ty, ResultT):
            r = self._expect(node, "result-value", ty, path, idx)
            if not isinstance(r, Case) or r.name not in ("ok", "err"):
                raise _bad(path, f"malformed result-value {show(r)}")
            return Case(
                r.name,
                self._payload(
                    r.value, ty.ok if r.name == "ok" else ty.err, f"{path}.{r.name}", depth
                ),
            )
        if isinstance(ty, VariantT):
            p = self._expect(node, "variant-value", ty, path, idx)
            if not isinstance(p, tuple) or len(p) != 2 or not isinstance(p[0], int):
                raise _bad(path, f"malformed variant-value {show(p)}")
            i = p[0]
            if not 0 <= i < len(ty.cases):
                raise _bad(path, f"variant case index {i} out of range for {describe(ty)}")
            cname, cty = ty.cases[i]
            return Case(cname, self._payload(p[1], cty, f"{path}.{cname}", depth))
        raise _bad(path, f"{describe(ty)}: resources cannot be passed as values")

    def _payload(self, p: Value, ty: WitType | None, path: str, depth: int) -> Value:
        if ty is None:
            if p is not None:
                raise _bad(path, "this case has no payload, but the value carries one")
            return None
        if not isinstance(p, Some):
            raise _bad(path, f"expected a payload of type {describe(ty)}")
        return self.child(p.value, ty, path, depth)

    @staticmethod
    def _list(v: Value, path: str) -> list[Value]:
        if not isinstance(v, list):
            raise _bad(path, f"expected a list of node indices, got {show(v)}")
        return v


def _check_leaf(v: Value, ty: Prim, path: str) -> None:
    try:
        check(v, ty, path)
    except ValueTypeError as exc:
        raise _bad(exc.path, exc.message) from None


def check_value(value: Value, t: WitType, where: str = "$") -> None:
    """Check ``value`` against ``t`` with :class:`InvalidInput` errors (no handles)."""
    try:
        check(value, t, where, handles=False)
    except ValueTypeError as exc:
        raise _bad(exc.path, exc.message) from None


__all__ = [
    "MAX_DEPTH",
    "check_value",
    "value_from_wit_value",
    "wit_type_from_value",
    "wit_type_to_value",
    "wit_value_from_value",
]
