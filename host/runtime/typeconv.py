"""Bridge between :mod:`host.values` and wasmtime's component values and types.

``wit_type``/``func_sig`` read wasmtime's type objects into the value layer's immutable types;
``to_wasmtime``/``from_wasmtime`` convert values both ways, driven by those types.

wasmtime-py's own value forms (``wasmtime/component/_types.py``): records are ``Record``
objects with kebab-case attributes, ``list<u8>`` is ``bytes``, flags a ``set``, enums a ``str``.
Variants, options and results are *tagged* (``Variant(tag, payload)``) only when two cases
could produce the same Python class; otherwise the bare payload is passed (``None`` for a
payload-less case), and wasmtime picks the case with ``isinstance`` in declaration order.
That loses information, so this module recomputes wasmtime's class sets from our own types
to tag exactly when wasmtime does, and to map untagged values back to their case. Where
wasmtime's ``isinstance`` test would pick the wrong case (``bool`` is an ``int`` in Python,
and a case holding an untagged option matches every value), lowering raises
:class:`ConversionError` instead of silently sending another case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, cast

from wasmtime import component as wc

from host.values.types import (
    BOOL,
    CHAR,
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    STRING,
    U8,
    U16,
    U32,
    U64,
    Case,
    EnumT,
    FlagsT,
    FuncSig,
    Handle,
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
    check,
    describe,
    variant_cases,
)

_Convert = Callable[[Any], Any]
_Classes = frozenset[type]

_PRIMS: dict[type, Prim] = {
    wc.Bool: BOOL, wc.S8: S8, wc.S16: S16, wc.S32: S32, wc.S64: S64,
    wc.U8: U8, wc.U16: U16, wc.U32: U32, wc.U64: U64,
    wc.F32: F32, wc.F64: F64, wc.Char: CHAR, wc.String: STRING,
}  # fmt: skip


class ConversionError(ValuesError):
    """A type or value that cannot cross between wasmtime and the value layer."""


# --- types -------------------------------------------------------------------------------


def wit_type(vt: wc.ValType, resources: Sequence[tuple[str, wc.ResourceType]] = ()) -> WitType:
    """Read a wasmtime ``ValType`` into a :data:`~host.values.types.WitType`.

    wasmtime's resource types carry no name; ``resources`` lists known ``(name, type)`` pairs
    (e.g. from a component's imports) to name ``own``/``borrow`` handles; others are named
    ``"resource"``. Futures, streams and error-context are refused.
    """
    prim = _PRIMS.get(type(vt))
    if prim is not None:
        return prim
    if isinstance(vt, wc.ListType):
        return ListT(wit_type(vt.element, resources))
    if isinstance(vt, wc.RecordType):
        return RecordT(tuple((name, wit_type(t, resources)) for name, t in vt.fields))
    if isinstance(vt, wc.TupleType):
        return TupleT(tuple(wit_type(t, resources) for t in vt.elements))
    if isinstance(vt, wc.VariantType):
        return VariantT(
            tuple((name, None if t is None else wit_type(t, resources)) for name, t in vt.cases)
        )
    if isinstance(vt, wc.EnumType):
        return EnumT(tuple(vt.names))
    if isinstance(vt, wc.OptionType):
        return OptionT(wit_type(vt.payload, resources))
    if isinstance(vt, wc.ResultType):
        ok, err = vt.ok, vt.err
        return ResultT(
            None if ok is None else wit_type(ok, resources),
            None if err is None else wit_type(err, resources),
        )
    if isinstance(vt, wc.FlagsType):
        return FlagsT(tuple(vt.names))
    if isinstance(vt, wc.OwnType | wc.BorrowType):
        name = next((n for n, rt in resources if rt == vt.ty), "resource")
        return ResourceT(name, own=isinstance(vt, wc.OwnType))
    raise ConversionError(
        f"unsupported component type {type(vt).__name__} "
        "(futures, streams and error-context are not values here)"
    )


def func_sig(
    name: str, ft: wc.FuncType, resources: Sequence[tuple[str, wc.ResourceType]] = ()
) -> FuncSig:
    """Read a wasmtime ``FuncType`` into a :class:`~host.values.types.FuncSig`.

    Each property read goes through the C API, so callers should keep the result.
    """
    result = ft.result
    return FuncSig(
        name,
        tuple((pname, wit_type(t, resources)) for pname, t in ft.params),
        None if result is None else wit_type(result, resources),
    )


# --- wasmtime's class logic, recomputed on our types ---------------------------------------


@lru_cache(maxsize=4096)
def _classes(ty: WitType) -> _Classes:
    """The Python classes wasmtime uses for ``ty`` (its ``ValType.add_classes``)."""
    if isinstance(ty, Prim):
        return frozenset(
            {
                {"bool": bool, "f32": float, "f64": float, "char": str, "string": str}.get(
                    ty.kind, int
                )
            }
        )
    if isinstance(ty, ListT):
        return frozenset({bytes if ty.elem == U8 else list})
    if isinstance(ty, RecordT):
        return frozenset({wc.Record})
    if isinstance(ty, TupleT):
        return frozenset({tuple})
    if isinstance(ty, EnumT):
        return frozenset({str})
    if isinstance(ty, FlagsT):
        return frozenset({set})
    if isinstance(ty, ResourceT):
        return frozenset({wc.ResourceAny, wc.ResourceHost})
    if _tagged(ty):
        return frozenset({wc.Variant})
    return frozenset().union(*_case_classes(ty))


def _case_classes(ty: VariantT | OptionT | ResultT) -> list[_Classes]:
    # A payload-less case is represented by None, which wasmtime files under ``object``.
    return [frozenset({object}) if t is None else _classes(t) for _, t in variant_cases(ty)]


@lru_cache(maxsize=4096)
def _tagged(ty: VariantT | OptionT | ResultT) -> bool:
    """Whether wasmtime wants ``Variant(tag, payload)`` for ``ty`` (``_tagged``)."""
    seen: set[type] = set()
    for classes in _case_classes(ty):
        if classes & seen:
            return True
        seen |= classes
    return False


# --- lowering: value layer -> wasmtime ---------------------------------------------------


def to_wasmtime(value: Value, ty: WitType) -> Any:
    """Convert ``value`` of ``ty`` into what wasmtime's ``convert_to_c`` accepts."""
    check(value, ty)
    return _lowerer(ty)(value)


def _same(value: Any) -> Any:
    return value


@lru_cache(maxsize=4096)
def _lowerer(ty: WitType) -> _Convert:
    if isinstance(ty, Prim | EnumT) or ty == ListT(U8):
        return _same
    if isinstance(ty, ListT):
        elem = _lowerer(ty.elem)
        return _same if elem is _same else lambda v: [elem(x) for x in v]
    if isinstance(ty, TupleT):
        elems = [_lowerer(t) for t in ty.elems]
        return lambda v: tuple(f(x) for f, x in zip(elems, v, strict=True))
    if isinstance(ty, RecordT):
        fields = [(name, _lowerer(t)) for name, t in ty.fields]

        def record(v: dict[str, Value]) -> wc.Record:
            out = wc.Record()
            for name, f in fields:
                setattr(out, name, f(v[name]))  # kebab-case attribute names, as wasmtime reads
            return out

        return record
    if isinstance(ty, FlagsT):
        return set
    if isinstance(ty, ResourceT):
        return lambda v: v.resource
    return _case_lowerer(ty)


def _case_lowerer(ty: VariantT | OptionT | ResultT) -> _Convert:
    payloads = {name: None if t is None else _lowerer(t) for name, t in variant_cases(ty)}
    tagged = _tagged(ty)
    tests = [
        (name, None if t is None else tuple(c))
        for (name, t), c in zip(variant_cases(ty), _case_classes(ty), strict=True)
    ]

    def lower(v: Value) -> Any:
        if isinstance(ty, OptionT):
            name, payload = ("none", None) if v is None else ("some", cast(Some, v).value)
        else:
            assert isinstance(v, Case)
            name, payload = v.name, v.value
        f = payloads[name]
        raw = None if f is None else f(payload)
        if tagged:
            return wc.Variant(name, raw)
        # Replay wasmtime's case selection so a misroute is an error, not another case.
        picked = next(
            (n for n, cls in tests if (raw is None if cls is None else isinstance(raw, cls))), None
        )
        if picked != name:
            fate = "matches no case" if picked is None else f"as case {picked!r}"
            if isinstance(raw, bool):
                fate += " (bool is an int in Python)"
            raise ConversionError(
                f"wasmtime-py cannot pass case {name!r} of {describe(ty)}: "
                f"it sends its untagged value {raw!r} {fate}"
            )
        return raw

    return lower


# --- lifting: wasmtime -> value layer ----------------------------------------------------


def from_wasmtime(pyval: Any, ty: WitType) -> Value:
    """Convert what wasmtime's ``convert_from_c`` returned for ``ty`` into a value."""
    return _lifter(ty)(pyval)  # type: ignore[no-any-return]


@lru_cache(maxsize=4096)
def _lifter(ty: WitType) -> _Convert:
    if isinstance(ty, Prim | EnumT):
        return _same
    if ty == ListT(U8):
        return bytes
    if isinstance(ty, ListT):
        elem = _lifter(ty.elem)
        return list if elem is _same else lambda v: [elem(x) for x in v]
    if isinstance(ty, TupleT):
        elems = [_lifter(t) for t in ty.elems]
        return lambda v: tuple(f(x) for f, x in zip(elems, v, strict=True))
    if isinstance(ty, RecordT):
        fields = [(name, _lifter(t)) for name, t in ty.fields]
        return lambda v: {name: f(getattr(v, name)) for name, f in fields}
    if isinstance(ty, FlagsT):
        return frozenset
    if isinstance(ty, ResourceT):
        return Handle
    return _case_lifter(ty)


def _case_lifter(ty: VariantT | OptionT | ResultT) -> _Convert:
    cases = [
        (name, None if t is None else _lifter(t), c)
        for (name, t), c in zip(variant_cases(ty), _case_classes(ty), strict=True)
    ]
    payloads = {name: f for name, f, _ in cases}
    tagged = _tagged(ty)

    def case_of(raw: Any) -> tuple[str, Any]:
        if tagged:
            if not isinstance(raw, wc.Variant):
                raise ConversionError(
                    f"expected a wasmtime Variant for {describe(ty)}, got {raw!r}"
                )
            return raw.tag, raw.payload
        # Untagged case sets are disjoint, so the exact class (None: ``object``) decides;
        # isinstance would be wrong here (bool is an int, everything is an object).
        for name, _, classes in cases:
            if type(raw) in classes or (raw is None and object in classes):
                return name, raw
        raise ConversionError(f"wasmtime value {raw!r} matches no case of {describe(ty)}")

    def lift(raw: Any) -> Value:
        name, payload = case_of(raw)
        f = payloads[name]
        value = None if f is None else f(payload)
        if isinstance(ty, OptionT):
            return None if name == "none" else Some(value)
        return Case(name, value)

    return lift
