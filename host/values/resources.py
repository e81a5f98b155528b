"""Resource handles inside values: one walk over a value by its type.

An invocation's parameters and results may hold handles of resources the agent's
component exports, anywhere in the value (``option<counter>``, a record field, a list).
The executor swaps the host's numbered references (:class:`ResourceRef`) for live
handles before a call and back after it; this module finds them, wasm-free.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from host.values.types import (
    Case,
    ListT,
    OptionT,
    RecordT,
    ResourceT,
    ResultT,
    Some,
    TupleT,
    Value,
    VariantT,
    WitType,
    variant_cases,
)

Swap = Callable[[Value, ResourceT], Value]


@lru_cache(maxsize=4096)
def has_resource(ty: WitType | None) -> bool:
    """Whether a value of ``ty`` may hold a resource handle."""
    if isinstance(ty, ResourceT):
        return True
    if isinstance(ty, ListT):
        return has_resource(ty.elem)
    if isinstance(ty, OptionT):
        return has_resource(ty.payload)
    if isinstance(ty, TupleT):
        return any(has_resource(t) for t in ty.elems)
    if isinstance(ty, RecordT):
        return any(has_resource(t) for _, t in ty.fields)
    if isinstance(ty, VariantT | ResultT):
        return any(has_resource(t) for _, t in variant_cases(ty))
    return False


def map_resources(value: Value, ty: WitType, swap: Swap) -> Value:
    """``value`` with every resource handle in it replaced by ``swap(handle, its type)``."""
    if not has_resource(ty):
        return value
    if isinstance(ty, ResourceT):
        return swap(value, ty)
    if isinstance(ty, ListT):
        assert isinstance(value, list)
        return [map_resources(v, ty.elem, swap) for v in value]
    if isinstance(ty, OptionT):
        if value is None:
            return None
        assert isinstance(value, Some)
        return Some(map_resources(value.value, ty.payload, swap))
    if isinstance(ty, TupleT):
        assert isinstance(value, tuple)
        return tuple(map_resources(v, t, swap) for v, t in zip(value, ty.elems, strict=True))
    if isinstance(ty, RecordT):
        assert isinstance(value, dict)
        return {name: map_resources(value[name], t, swap) for name, t in ty.fields}
    assert isinstance(value, Case) and isinstance(ty, VariantT | ResultT)
    payload_ty = dict(variant_cases(ty))[value.name]
    if payload_ty is None:
        return value
    return Case(value.name, map_resources(value.value, payload_ty, swap))
