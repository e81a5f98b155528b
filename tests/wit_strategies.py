"""Hypothesis strategies for random WIT types and values of them, and a nan-aware equality."""

from __future__ import annotations

import math
from collections.abc import Callable

from hypothesis import strategies as st

from host.values import (
    U8,
    Case,
    EnumT,
    FlagsT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResultT,
    Some,
    TupleT,
    Value,
    VariantT,
    WitType,
)
from host.values.types import INT_RANGES, PRIM_KINDS

# Keywords are in the pool so %-escaping is exercised.
LABELS = [
    "a",
    "b",
    "field-b",
    "x1",
    "long-label-name",
    "true",
    "none",
    "some",
    "ok",
    "err",
    "nan",
    "inf",
    "false",
    "ABC",
]

_labels = st.lists(st.sampled_from(LABELS), min_size=1, max_size=4, unique=True)
_prims = st.sampled_from([Prim(k) for k in sorted(PRIM_KINDS)])  # type: ignore[arg-type]
_leaves: st.SearchStrategy[WitType] = st.one_of(
    _prims, _labels.map(lambda ns: EnumT(tuple(ns))), _labels.map(lambda ns: FlagsT(tuple(ns)))
)


def _named(
    children: st.SearchStrategy[WitType | None],
) -> st.SearchStrategy[tuple[tuple[str, WitType | None], ...]]:
    return _labels.flatmap(
        lambda ns: st.lists(children, min_size=len(ns), max_size=len(ns)).map(
            lambda ts: tuple(zip(ns, ts, strict=True))
        )
    )


def _extend(children: st.SearchStrategy[WitType]) -> st.SearchStrategy[WitType]:
    return st.one_of(
        st.builds(ListT, children),
        st.builds(OptionT, children),
        st.lists(children, min_size=1, max_size=3).map(lambda ts: TupleT(tuple(ts))),
        _named(children).map(RecordT),  # type: ignore[arg-type]
        _named(st.none() | children).map(VariantT),
        st.builds(ResultT, st.none() | children, st.none() | children),
    )


wit_types: st.SearchStrategy[WitType] = st.recursive(_leaves, _extend, max_leaves=6)

_chars = st.characters(exclude_categories=["Cs"])  # no lone surrogates: not scalar values


def values(ty: WitType) -> st.SearchStrategy[Value]:
    """Values of ``ty`` in the value model."""
    if isinstance(ty, Prim):
        if ty.kind == "bool":
            return st.booleans()
        if ty.kind in INT_RANGES:
            lo, hi = INT_RANGES[ty.kind]
            return st.integers(lo, hi)
        if ty.kind == "f32":
            return st.floats(width=32)
        if ty.kind == "f64":
            return st.floats()
        if ty.kind == "char":
            return _chars
        return st.text(_chars, max_size=8)
    if isinstance(ty, ListT):
        if ty.elem == U8:
            return st.binary(max_size=8)
        return st.lists(values(ty.elem), max_size=3)
    if isinstance(ty, TupleT):
        return st.tuples(*(values(t) for t in ty.elems))
    if isinstance(ty, RecordT):
        return st.fixed_dictionaries({n: values(t) for n, t in ty.fields})
    if isinstance(ty, OptionT):
        return st.none() | values(ty.payload).map(Some)
    if isinstance(ty, EnumT):
        return st.sampled_from(ty.names)
    if isinstance(ty, FlagsT):
        return st.frozensets(st.sampled_from(ty.names))
    if isinstance(ty, VariantT | ResultT):
        cases = ty.cases if isinstance(ty, VariantT) else (("ok", ty.ok), ("err", ty.err))
        return st.one_of(
            [st.just(Case(n)) if t is None else values(t).map(_case(n)) for n, t in cases]
        )
    raise AssertionError(f"no values for {ty}")


def _case(name: str) -> Callable[[Value], Value]:
    return lambda payload: Case(name, payload)


typed_values: st.SearchStrategy[tuple[WitType, Value]] = wit_types.flatmap(
    lambda ty: values(ty).map(lambda v: (ty, v))
)


def same(a: object, b: object) -> bool:
    """Structural equality with exact types, nan equal to nan and -0.0 distinct from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, Case):
        assert isinstance(b, Case)
        return a.name == b.name and same(a.value, b.value)
    if isinstance(a, Some):
        assert isinstance(b, Some)
        return same(a.value, b.value)
    return a == b
