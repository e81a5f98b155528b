"""WIT types and the Python values that inhabit them.

Types are immutable, hashable frozen dataclasses forming one union, :data:`WitType`:
``Prim(kind)``, ``ListT``, ``RecordT``, ``TupleT``, ``VariantT``, ``EnumT``, ``OptionT``,
``ResultT``, ``FlagsT`` and ``ResourceT``. A function signature is a :class:`FuncSig`.

The Python value model (:data:`Value`) that every other module speaks:

=====================  ===============================================================
WIT type               Python value
=====================  ===============================================================
``bool``               ``bool``
``s8`` .. ``u64``      ``int`` (never ``bool``), range-checked
``f32``, ``f64``       ``float`` (never ``int``); nan and infinities allowed
``char``               ``str`` of exactly one code point (not a surrogate)
``string``             ``str`` (no lone surrogates)
``list<u8>``           ``bytes``
``list<T>``            ``list``
``record``             ``dict[str, Value]`` with every field, keyed by kebab-case name
``tuple<...>``         ``tuple`` of the right length
``variant``            ``Case(name, payload)``; payload ``None`` for a case without one
``result<T, E>``       ``Case("ok", v)`` / ``Case("err", e)`` (``None`` where no type)
``enum``               ``str`` (the case name)
``flags``              ``frozenset[str]``
``option<T>``          ``None`` for none, ``Some(v)`` for some: exact even when nested
``own<R>``/``borrow``  ``Handle(obj)`` wrapping a live wasmtime resource; in memory only,
                       never written as WAVE or JSON; or ``ResourceRef(id, uri)``, an
                       instance of a resource the agent's component exports, written as
                       Golem writes a handle: the string ``"<uri>/<id>"``
=====================  ===============================================================

Because the payload of a ``Case`` is interpreted through its case's type, ``Case("a", None)``
is unambiguous: it is the payload-less case ``a``, or ``a(none)`` when ``a`` carries an option.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

PrimKind = Literal[
    "bool", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64", "f32", "f64", "char", "string"
]
PRIM_KINDS: frozenset[str] = frozenset(get_args(PrimKind))

INT_RANGES: dict[str, tuple[int, int]] = {
    "s8": (-(2**7), 2**7 - 1),
    "s16": (-(2**15), 2**15 - 1),
    "s32": (-(2**31), 2**31 - 1),
    "s64": (-(2**63), 2**63 - 1),
    "u8": (0, 2**8 - 1),
    "u16": (0, 2**16 - 1),
    "u32": (0, 2**32 - 1),
    "u64": (0, 2**64 - 1),
}
FLOAT_KINDS = frozenset({"f32", "f64"})
_F32_MAX = 2.0**128 - 2.0**104
_F32_OVERFLOW = 2.0**128 - 2.0**103  # halfway to the next power: rounds to infinity


class ValuesError(ValueError):
    """Root of the value layer's errors (type checks, WAVE, JSON, wasmtime conversion)."""


class ValueTypeError(ValuesError):
    """A Python value does not match a WIT type; ``path`` locates it (``$.items[2].name``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# --- types -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prim:
    """A primitive type: bool, s8..s64, u8..u64, f32, f64, char or string."""

    kind: PrimKind

    def __post_init__(self) -> None:
        if self.kind not in PRIM_KINDS:
            raise ValueError(f"unknown primitive type {self.kind!r}")


@dataclass(frozen=True, slots=True)
class ListT:
    """``list<elem>``."""

    elem: WitType


@dataclass(frozen=True, slots=True)
class RecordT:
    """``record { name: type, ... }``; field order is the declaration order."""

    fields: tuple[tuple[str, WitType], ...]


@dataclass(frozen=True, slots=True)
class TupleT:
    """``tuple<a, b, ...>``."""

    elems: tuple[WitType, ...]


@dataclass(frozen=True, slots=True)
class VariantT:
    """``variant { case(type), case, ... }``; ``None`` marks a case without payload."""

    cases: tuple[tuple[str, WitType | None], ...]


@dataclass(frozen=True, slots=True)
class EnumT:
    """``enum { a, b, ... }``."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OptionT:
    """``option<payload>``."""

    payload: WitType


@dataclass(frozen=True, slots=True)
class ResultT:
    """``result<ok, err>``; either side may be ``None`` (written ``_`` in WIT)."""

    ok: WitType | None
    err: WitType | None


@dataclass(frozen=True, slots=True)
class FlagsT:
    """``flags { a, b, ... }``."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ResourceT:
    """``own<name>`` (``own=True``) or ``borrow<name>``: a handle, never a writable value."""

    name: str
    own: bool = True


WitType: TypeAlias = (
    Prim | ListT | RecordT | TupleT | VariantT | EnumT | OptionT | ResultT | FlagsT | ResourceT
)


@dataclass(frozen=True, slots=True)
class FuncSig:
    """A component function's name, named parameters and optional result type."""

    name: str
    params: tuple[tuple[str, WitType], ...]
    result: WitType | None

    @property
    def param_types(self) -> tuple[WitType, ...]:
        """The parameter types in order, as ``parse_args`` and ``format_call`` take them."""
        return tuple(ty for _, ty in self.params)


BOOL = Prim("bool")
S8, S16, S32, S64 = Prim("s8"), Prim("s16"), Prim("s32"), Prim("s64")
U8, U16, U32, U64 = Prim("u8"), Prim("u16"), Prim("u32"), Prim("u64")
F32, F64 = Prim("f32"), Prim("f64")
CHAR, STRING = Prim("char"), Prim("string")


def variant_cases(ty: VariantT | OptionT | ResultT) -> tuple[tuple[str, WitType | None], ...]:
    """The cases of any variant-like type: options are none/some, results ok/err."""
    if isinstance(ty, OptionT):
        return (("none", None), ("some", ty.payload))
    if isinstance(ty, ResultT):
        return (("ok", ty.ok), ("err", ty.err))
    return ty.cases


def describe(ty: WitType | None) -> str:
    """Render ``ty`` in WIT syntax for messages: ``list<u8>``, ``record { a: u32 }``."""
    if ty is None:
        return "_"
    if isinstance(ty, Prim):
        return ty.kind
    if isinstance(ty, ListT):
        return f"list<{describe(ty.elem)}>"
    if isinstance(ty, OptionT):
        return f"option<{describe(ty.payload)}>"
    if isinstance(ty, TupleT):
        return f"tuple<{', '.join(describe(e) for e in ty.elems)}>"
    if isinstance(ty, RecordT):
        return "record { " + ", ".join(f"{n}: {describe(t)}" for n, t in ty.fields) + " }"
    if isinstance(ty, VariantT):
        cases = (n if t is None else f"{n}({describe(t)})" for n, t in ty.cases)
        return "variant { " + ", ".join(cases) + " }"
    if isinstance(ty, EnumT):
        return "enum { " + ", ".join(ty.names) + " }"
    if isinstance(ty, FlagsT):
        return "flags { " + ", ".join(ty.names) + " }"
    if isinstance(ty, ResultT):
        if ty.err is None:
            return "result" if ty.ok is None else f"result<{describe(ty.ok)}>"
        return f"result<{describe(ty.ok)}, {describe(ty.err)}>"
    return f"{'own' if ty.own else 'borrow'}<{ty.name}>"


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """A variant case or a result (``"ok"``/``"err"``) with its payload (``None`` if none)."""

    name: str
    value: Value = None


@dataclass(frozen=True, slots=True)
class Some:
    """The ``some`` of an option; ``None`` is its ``none``."""

    value: Value


@dataclass(frozen=True, slots=True, eq=False)
class Handle:
    """A live resource handle (a wasmtime ``ResourceAny``/``ResourceHost``), compared by
    identity. Exists only in memory: WAVE and JSON refuse it."""

    resource: object


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """An instance of a resource that an agent's component exports, by the number the host
    gave it when the guest created it (Golem's worker resource id). ``uri`` names the agent
    (``urn:worker:<component id>/<agent name>``, as Golem writes handles); it may be empty
    in what a caller sends."""

    id: int
    uri: str = ""

    @property
    def text(self) -> str:
        """Golem's text form of a handle: ``<uri>/<id>``."""
        return f"{self.uri}/{self.id}"

    @staticmethod
    def parse(text: str) -> ResourceRef:
        """Read :attr:`text` back (a bare number is accepted too); ValueError if malformed."""
        uri, _, number = text.rpartition("/")
        if not number.isdigit() or not number.isascii():
            raise ValueError(
                f'expected a resource handle as "<uri>/<number>" '
                f"(urn:worker:<component id>/<agent name>/<number>), got {text!r}"
            )
        return ResourceRef(int(number), uri)


Value: TypeAlias = (
    bool
    | int
    | float
    | str
    | bytes
    | list["Value"]
    | dict[str, "Value"]
    | tuple["Value", ...]
    | Case
    | Some
    | frozenset[str]
    | Handle
    | ResourceRef
    | None
)


def show(value: object, limit: int = 60) -> str:
    """A short rendering of a Python value for error messages."""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_scalar_char(value: str) -> bool:
    """True when ``value`` is exactly one Unicode scalar value (what WIT ``char`` holds)."""
    return len(value) == 1 and not 0xD800 <= ord(value) <= 0xDFFF


def is_scalar_string(value: str) -> bool:
    """True when ``value`` has no lone surrogates, so it is valid UTF-8 text for a guest."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def round_f32(value: float) -> float:
    """``value`` rounded to the nearest f32 (nan and infinities kept).

    Raises ``OverflowError`` when a finite value rounds beyond the f32 range.
    """
    if math.isfinite(value) and abs(value) > _F32_MAX:
        # struct refuses these outright; IEEE rounds them to the largest f32 below the tie.
        if abs(value) >= _F32_OVERFLOW:
            raise OverflowError(f"{value!r} is beyond the f32 range")
        return math.copysign(_F32_MAX, value)
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def check(value: object, ty: WitType, path: str = "$", *, handles: bool = True) -> None:
    """Check that ``value`` belongs to ``ty`` in the value model above.

    Raises :class:`ValueTypeError` naming the first offending location, e.g.
    ``$.items[2].name: expected u32, got "x"``. With ``handles=False`` a resource handle is an
    error too (the WAVE and JSON writers use this: resources cannot be written as values).
    """
    if isinstance(ty, Prim):
        _check_prim(value, ty.kind, path)
    elif isinstance(ty, ListT):
        if ty.elem == U8:
            if not isinstance(value, bytes):
                raise ValueTypeError(path, f"expected list<u8> as bytes, got {show(value)}")
            return
        if not isinstance(value, list):
            raise ValueTypeError(path, f"expected {describe(ty)} as a list, got {show(value)}")
        for i, item in enumerate(value):
            check(item, ty.elem, f"{path}[{i}]", handles=handles)
    elif isinstance(ty, RecordT):
        _check_record(value, ty, path, handles)
    elif isinstance(ty, TupleT):
        if not isinstance(value, tuple) or len(value) != len(ty.elems):
            raise ValueTypeError(
                path, f"expected {describe(ty)} as a {len(ty.elems)}-tuple, got {show(value)}"
            )
        for i, (item, elem) in enumerate(zip(value, ty.elems, strict=True)):
            check(item, elem, f"{path}[{i}]", handles=handles)
    elif isinstance(ty, OptionT):
        if value is None:
            return
        if not isinstance(value, Some):
            raise ValueTypeError(path, f"expected {describe(ty)} (None or Some), got {show(value)}")
        check(value.value, ty.payload, f"{path}.some", handles=handles)
    elif isinstance(ty, VariantT | ResultT):
        _check_case(value, ty, path, handles)
    elif isinstance(ty, EnumT):
        if not isinstance(value, str) or value not in ty.names:
            raise ValueTypeError(path, f"expected one of {describe(ty)}, got {show(value)}")
    elif isinstance(ty, FlagsT):
        if not isinstance(value, frozenset) or not all(
            isinstance(n, str) and n in ty.names for n in value
        ):
            raise ValueTypeError(
                path, f"expected a frozenset of names from {describe(ty)}, got {show(value)}"
            )
    elif isinstance(value, ResourceRef):
        return  # an exported resource's instance, by number: written as Golem's handle text
    elif not handles:
        raise ValueTypeError(path, f"{describe(ty)}: resources cannot be written as values")
    elif not isinstance(value, Handle):
        raise ValueTypeError(path, f"expected a Handle for {describe(ty)}, got {show(value)}")


def _check_prim(value: object, kind: str, path: str) -> None:
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind in INT_RANGES:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueTypeError(path, f"expected {kind}, got {show(value)}")
        lo, hi = INT_RANGES[kind]
        if not lo <= value <= hi:
            raise ValueTypeError(path, f"{kind} out of range ({lo}..={hi}): {value}")
        return
    elif kind in FLOAT_KINDS:
        ok = isinstance(value, float)
    elif kind == "char":
        if isinstance(value, str) and not is_scalar_char(value):
            raise ValueTypeError(path, f"expected char (one code point), got {show(value)}")
        ok = isinstance(value, str)
    else:
        if isinstance(value, str) and not is_scalar_string(value):
            raise ValueTypeError(path, "expected string, got text with a lone surrogate")
        ok = isinstance(value, str)
    if not ok:
        raise ValueTypeError(path, f"expected {kind}, got {show(value)}")


def _check_record(value: object, ty: RecordT, path: str, handles: bool) -> None:
    if not isinstance(value, dict):
        raise ValueTypeError(path, f"expected {describe(ty)} as a dict, got {show(value)}")
    names = {name for name, _ in ty.fields}
    extra = sorted(str(k) for k in value if k not in names)
    if extra:
        raise ValueTypeError(path, f"unknown field {extra[0]!r} for {describe(ty)}")
    for name, field_ty in ty.fields:
        if name not in value:
            raise ValueTypeError(path, f"missing field {name!r} of {describe(ty)}")
        check(value[name], field_ty, f"{path}.{name}", handles=handles)


def _check_case(value: object, ty: VariantT | ResultT, path: str, handles: bool) -> None:
    cases = dict(variant_cases(ty))
    if not isinstance(value, Case) or value.name not in cases:
        raise ValueTypeError(path, f"expected {describe(ty)} as a Case, got {show(value)}")
    payload_ty = cases[value.name]
    if payload_ty is None:
        if value.value is not None:
            raise ValueTypeError(
                path,
                f"case {value.name!r} of {describe(ty)} has no payload, got {show(value.value)}",
            )
        return
    check(value.value, payload_ty, f"{path}.{value.name}", handles=handles)
