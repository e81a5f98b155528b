"""Python type hints as Golem WIT types, and Python values as wit-value nodes (no bindings).

:func:`shape_of` turns a type hint into a :class:`Shape`, refusing (with
:class:`UnsupportedType`, naming the hint) what has no WIT form. A shape

* writes its ``wit-type`` (Golem's ``golem:core/types@1.5.0`` node list, root first):
  :meth:`Shape.wit_type`;
* encodes a Python value into ``wit-value`` nodes (root first): :meth:`Shape.encode`;
* decodes ``wit-value`` nodes back into the Python value: :meth:`Shape.decode`,
  raising :class:`ValueMismatch` with the path of what does not fit.

The mapping is golem-rust's and golem-ts's:

=====================================  ==========================================
Python                                 WIT
=====================================  ==========================================
``str`` / ``int`` / ``float`` / ``bool``  ``string`` / ``s64`` / ``f64`` / ``bool``
``bytes``                              ``list<u8>``
``list[T]``, ``tuple[T, ...]``         ``list<T>``
``tuple[A, B]``                        ``tuple<A, B>``
``T | None`` / ``Optional[T]``         ``option<T>``
``dict[K, V]``                         ``list<tuple<K, V>>`` (as both SDKs map maps)
a dataclass                            ``record`` named after the class, fields as written
an ``Enum``, ``Literal["a", "b"]``     ``enum`` (an Enum's cases are its string values,
                                       else its member names)
a union of dataclasses ``A | B``       ``variant`` with one case per class, named after
                                       it, each carrying the class's record
=====================================  ==========================================

Nodes are neutral Python data, converted to the generated bindings in one place
(:mod:`agent_sdk._convert`): a type node is ``{"name", "owner", "type": (case, payload)}``
and a value node is ``(case, payload)``, cases named as in the WIT (``prim-string``,
``record-type``...).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

__all__ = ["Shape", "UnsupportedType", "ValueMismatch", "shape_of"]

Node = tuple[str, Any]
TypeNode = dict[str, Any]

_S64 = (-(1 << 63), (1 << 63) - 1)
_INT_NODES = {"prim-s64", "prim-s32", "prim-s16", "prim-s8", "prim-u64", "prim-u32"}
_INT_NODES |= {"prim-u16", "prim-u8"}


class UnsupportedType(TypeError):
    """A type hint with no WIT form; the message names it and says what is supported."""


class ValueMismatch(ValueError):
    """A value does not fit its type: ``path`` says where (``.by``, ``[2]``)."""

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(f"at {path}: {reason}" if path else reason)
        self.reason = reason
        self.path = path


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Shape:
    """One type's WIT form; subclasses per kind."""

    name: str | None = None  # the WIT type node's name (records, enums, variants)

    def describe(self) -> str:
        raise NotImplementedError

    def wit_type(self) -> list[TypeNode]:
        """The ``wit-type`` node list, the root at index 0."""
        nodes: list[TypeNode] = []
        self._type_into(nodes)
        return nodes

    def _type_into(self, nodes: list[TypeNode]) -> int:
        index = len(nodes)
        nodes.append({"name": self.name, "owner": None, "type": None})
        nodes[index]["type"] = self._type_node(nodes)
        return index

    def _type_node(self, nodes: list[TypeNode]) -> Node:
        raise NotImplementedError

    def encode(self, value: Any) -> list[Node]:
        """The ``wit-value`` nodes of ``value``, root first; ValueMismatch if it does not fit."""
        nodes: list[Node] = []
        self._encode_into(value, nodes, "")
        return nodes

    def _encode_into(self, value: Any, nodes: list[Node], path: str) -> int:
        index = len(nodes)
        nodes.append(("", None))
        nodes[index] = self._value_node(value, nodes, path)
        return index

    def _value_node(self, value: Any, nodes: list[Node], path: str) -> Node:
        raise NotImplementedError

    def decode(self, nodes: list[Node]) -> Any:
        """The Python value of ``wit-value`` nodes; ValueMismatch if they do not fit."""
        if not nodes:
            raise ValueMismatch(f"expected {self.describe()}, got an empty wit-value")
        return self._decode_at(nodes, 0, "")

    def _decode_at(self, nodes: list[Node], index: Any, path: str) -> Any:
        if not isinstance(index, int) or not 0 <= index < len(nodes):
            raise ValueMismatch(f"node index {_show(index)} is out of range", path)
        case, payload = nodes[index]
        return self._decode_node(case, payload, nodes, path)

    def _decode_node(self, case: str, payload: Any, nodes: list[Node], path: str) -> Any:
        raise NotImplementedError

    def _wrong(self, got: str, path: str) -> ValueMismatch:
        return ValueMismatch(f"expected {self.describe()}, got {got}", path)


@dataclasses.dataclass(eq=False)
class Prim(Shape):
    py: type  # str, int, float, bool
    wit: str  # "string", "s64", "f64", "bool"

    def describe(self) -> str:
        return {"string": "a string", "s64": "an integer (s64)", "f64": "a number (f64)"}.get(
            self.wit, "a bool"
        )

    def _type_node(self, nodes: list[TypeNode]) -> Node:
        return (f"prim-{self.wit}-type", None)

    def _value_node(self, value: Any, nodes: list[Node], path: str) -> Node:
        if self.py is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.py) or (self.py is int and isinstance(value, bool)):
            raise self._wrong(f"{type(value).__name__} {_show(value)}", path)
        if isinstance(value, int) and not _S64[0] <= value <= _S64[1]:
            raise ValueMismatch(f"{value} is out of the s64 range", path)
        return ("prim-float64" if self.wit == "f64" else f"prim-{self.wit}", value)

    def _decode_node(self, case: str, payload: Any, nodes: list[Node], path: str) -> Any:
        if self.py is int and case in _INT_NODES and isinstance(payload, int):
            return payload
        if self.py is float and case in ("prim-float64", "prim-float32"):
            return float(payload)
        if case == f"prim-{self.wit}" and isinstance(payload, self.py):
            return payload
        raise self._wrong(f"a {case} node", path)


class Bytes(Shape):
    def describe(self) -> str:
        return "bytes (list<u8>)"

    def _type_node(self, nodes: list[TypeNode]) -> Node:
        item = len(nodes)
        nodes.append({"name": None, "owner": None, "type": ("prim-u8-type", None)})
        return ("list-type", item)

    def _value_node(self, value: Any, nodes: list[Node], path: str) -> Node:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise self._wrong(f"{type(value).__name__} {_show(value)}", path)
        items = []
        for byte in bytes(value):
            items.append(len(nodes))
            nodes.append(("prim-u8", byte))
        return ("list-value", items)

    def _decode_node(self, case: str, payload: Any, nodes: list[Node], path: str) -> Any:
        if case != "list-value":
            raise self._wrong(f"a {case} node", path)
        out = bytearray()
        for n, i in enumerate(payload):
            if not isinstance(i, int) or not 0 <= i < len(nodes) or nodes[i][0] != "prim-u8":
                raise ValueMismatch("expected a u8 node", f"{path}[{n}]")
            out.append(nodes[i][1])
        return bytes(out)


@dataclasses.dataclass(eq=False)
class ListOf(Shape):
    item: Shape
    as_tuple: bool = False  # tuple[T, ...] decodes to a tuple

    def describe(self) -> str:
        return f"a list of {self.item.describe()}"

    def _type_node(self, nodes: list[TypeNode]) -> Node:
        return ("list-type", self.item._type_into(nodes))

    def _value_node(self, value: Any, nodes: list[Node], path: str) -> Node:
        if not isinstance(value, list | tuple):
            raise self._wrong(f"{type(value).__name__} {_show(value)}", path)
        return (
            "list-value",
            [self.item._encode_into(v, nodes, f"{path}[{n}]") for n, v in enumerate(value)],
        )

    def _decode_node(self, case: str, payload: Any, nodes: list[Node], path: str) -> Any:
        if case != "list-value":
            raise self._wrong(f"a {case} node", path)
        items = [self.item._decode_at(nodes, i, f"{path}[{n}]") for n, i in enumerate(payload)]
        return tuple(items) if self.as_tuple else items


@dataclasses.dataclass(eq=False)
class TupleOf(Shape):
    items: list[Shape]

    def describe(self) -> str:
        return f"a tuple of {len(self.items)}"

    def _type_node(self, nodes: list[TypeNode]) -> Node:
        return ("tuple-type", [s._type_into(nodes) for s in self.items])

    def _value_node(self, value: Any, nodes: list[Node], path: str) -> Node:
        if not isinstance(value, list | tuple) or len(value) != len(self.items):
            raise self._wrong(f"{type(value).__name__} {_show(value)}", path)
        pairs = zip(self.items, value, strict=True)
        return (
            "tuple-value",
            [s._encode_into(v, nodes, f"{path}.{n}") for n, (s, v) in enumerate(pairs)],
        )

    def _decode_node(self, case: str, payload: Any, nodes: list[Node], path: str) -> Any:
        if case != "tuple-value" or len(payload) != len(self.items):
            raise self._wrong(f"a {case} node", path)
        pairs = zip(self.items, payload, strict=True)
        return tuple(s._decode_at(nodes, i, f"{path}.{n}") for n, (s, i) in enumerate(pairs))


@dataclasses.dataclass(eq=False)
class OptionOf(Shape):
    inner: Shape

    def describe(self) -> str:
        return f"{self.inner.describe()} or none"

    def _type_node(self, nodes: list[TypeNode]) -> Node:
        return ("option-type", self.inner._type_into(nodes))

    def _value_node(self, value: Any, nodes: list[Node], path: str) -> Node:
        if value is None:
            return ("option-value", None)
        return ("option-value", self.inner._encode_into(value, nodes, path))

    def _decode_node(self, case: str, payload: Any, nodes: list[Node], path: str) -> Any:
        if case != "option-value":
            raise self._wrong(f"a {case} node", path)
        return None if payload is None else self.inner._decode_at(nodes, payload, path)


@dataclasses.dataclass(eq=False)
class MapOf(Shape):
    key: Shape
    value: Shape

    def describe(self) -> str:
        return f"a map of {self.key.describe()} to {self.value.describe()}"

    def _pairs(self) -> ListOf:
        return ListOf(TupleOf([self.key, self.value]))

    def _type_node(self, nodes: list[TypeNode]) -> Node:
        return self._pairs()._type_node(nodes)

    def _value_node(self, value: Any, nodes: list[Node], path: str) -> Node:
        if not isinstance(value, dict):
            raise self._wrong(f"{type(value).__name__} {_show(value)}", path)
        return self._pairs()._value_node(list(value.items()), nodes, path)

    def _decode_node(self, case: str, payload: Any, nodes: list[Node], path: str) -> Any:
        return dict(self._pairs()._decode_node(case, payload, nodes, path))


@dataclasses.dataclass(eq=False)
class Record(Shape):
    cls: type
    fields: list[tuple[str, Shape]]

    def __post_init__(self) -> None:
        self.name = self.cls.__name__

    def describe(self) -> str:
        return f"a {self.cls.__name__} record"

    def _type_node(self, nodes: list[TypeNode]) -> Node:
        return ("record-type", [(n, s._type_into(nodes)) for n, s in self.fields])

    def _value_node(self, value: Any, nodes: list[Node], path: str) -> Node:
        if not isinstance(value, self.cls):
            raise self._wrong(f"{type(value).__name__} {_show(value)}", path)
        return (
            "record-value",
            [s._encode_into(getattr(value, n), nodes, f"{path}.{n}") for n, s in self.fields],
        )

    def _decode_node(self, case: str, payload: Any, nodes: list[Node], path: str) -> Any:
        if case != "record-value" or len(payload) != len(self.fields):
            got = f"{len(payload)} fields" if case == "record-value" else f"a {case} node"
            raise self._wrong(got, path)
        pairs = zip(self.fields, payload, strict=True)
        return self.cls(**{n: s._decode_at(nodes, i, f"{path}.{n}") for (n, s), i in pairs})


@dataclasses.dataclass(eq=False)
class EnumOf(Shape):
    cases: list[str]
    values: list[Any]  # the Python value of each case (a member, or the literal string)
    type_name: str | None = None

    def __post_init__(self) -> None:
        self.name = self.type_name

    def describe(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.cases)

    def _type_node(self, nodes: list[TypeNode]) -> Node:
        return ("enum-type", list(self.cases))

    def _value_node(self, value: Any, nodes: list[Node], path: str) -> Node:
        for n, known in enumerate(self.values):
            if value is known or (type(value) is type(known) and value == known):
                return ("enum-value", n)
        raise self._wrong(_show(value), path)

    def _decode_node(self, case: str, payload: Any, nodes: list[Node], path: str) -> Any:
        if case != "enum-value" or not isinstance(payload, int):
            raise self._wrong(f"a {case} node", path)
        if not 0 <= payload < len(self.values):
            raise self._wrong(f"case index {payload}", path)
        return self.values[payload]


@dataclasses.dataclass(eq=False)
class VariantOf(Shape):
    arms: list[Record]
    type_name: str

    def __post_init__(self) -> None:
        self.name = self.type_name

    def describe(self) -> str:
        return "one of " + ", ".join(a.cls.__name__ for a in self.arms)

    def _type_node(self, nodes: list[TypeNode]) -> Node:
        return ("variant-type", [(a.cls.__name__, a._type_into(nodes)) for a in self.arms])

    def _value_node(self, value: Any, nodes: list[Node], path: str) -> Node:
        for n, arm in enumerate(self.arms):
            if type(value) is arm.cls:
                return ("variant-value", (n, arm._encode_into(value, nodes, path)))
        raise self._wrong(f"{type(value).__name__} {_show(value)}", path)

    def _decode_node(self, case: str, payload: Any, nodes: list[Node], path: str) -> Any:
        if case != "variant-value":
            raise self._wrong(f"a {case} node", path)
        n, inner = payload
        if not isinstance(n, int) or not 0 <= n < len(self.arms) or inner is None:
            raise self._wrong(f"case {_show(n)}", path)
        return self.arms[n]._decode_at(nodes, inner, path)


_PRIMS: dict[Any, Shape] = {
    str: Prim(str, "string"),
    int: Prim(int, "s64"),
    float: Prim(float, "f64"),
    bool: Prim(bool, "bool"),
}

SUPPORTED = (
    "str, int, float, bool, bytes, list[T], tuple[...], dict[K, V], T | None, "
    "dataclasses, Enum, Literal[str, ...] and unions of dataclasses"
)


def hint_name(hint: Any) -> str:
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return repr(hint).replace("typing.", "")


def shape_of(hint: Any, _seen: tuple[type, ...] = ()) -> Shape:
    """The shape of a (resolved) type hint; UnsupportedType names what does not map."""
    if hint in _PRIMS:
        return _PRIMS[hint]
    if hint in (bytes, bytearray):
        return Bytes()
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (list, typing.List) and len(args) == 1:  # noqa: UP006
        return ListOf(shape_of(args[0], _seen))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return ListOf(shape_of(args[0], _seen), as_tuple=True)
        if args and Ellipsis not in args:
            return TupleOf([shape_of(a, _seen) for a in args])
    if origin is dict and len(args) == 2:
        return MapOf(shape_of(args[0], _seen), shape_of(args[1], _seen))
    if origin is typing.Literal:
        if args and all(isinstance(a, str) for a in args):
            return EnumOf(list(args), list(args))
        raise UnsupportedType(f"{hint_name(hint)}: only Literal of strings maps to a WIT enum")
    if origin in (typing.Union, types.UnionType):
        return _union(hint, args, _seen)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        members = list(hint)
        if not members:
            raise UnsupportedType(f"enum {hint.__name__} has no members")
        strs = all(isinstance(m.value, str) for m in members)
        cases = [m.value if strs else m.name for m in members]
        return EnumOf(cases, members, hint.__name__)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record(hint, _seen)
    raise UnsupportedType(f"the type {hint_name(hint)} has no WIT form (supported: {SUPPORTED})")


def _union(hint: Any, args: tuple[Any, ...], seen: tuple[type, ...]) -> Shape:
    rest = [a for a in args if a is not type(None)]
    if len(rest) < len(args):  # T | None
        inner = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
        return OptionOf(shape_of(inner, seen))
    arms = [a for a in rest if isinstance(a, type) and dataclasses.is_dataclass(a)]
    if len(arms) != len(rest):
        raise UnsupportedType(
            f"the union {hint_name(hint)}: only unions of dataclasses map to a WIT variant "
            "(and X | None to an option)"
        )
    records = [_record(a, seen) for a in arms]
    return VariantOf(records, "".join(a.__name__ for a in arms))


def _record(cls: type, seen: tuple[type, ...]) -> Record:
    if cls in seen:
        raise UnsupportedType(f"the dataclass {cls.__name__} is recursive: WIT types cannot be")
    try:
        hints = typing.get_type_hints(cls)
    except NameError as exc:
        raise UnsupportedType(f"the dataclass {cls.__name__}: cannot resolve {exc}") from None
    fields = []
    for f in dataclasses.fields(cls):
        try:
            fields.append((f.name, shape_of(hints[f.name], (*seen, cls))))
        except UnsupportedType as exc:
            raise UnsupportedType(f"field {cls.__name__}.{f.name}: {exc}") from None
    return Record(cls, fields)
