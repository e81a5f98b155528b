"""A faster way across wasmtime-py's component value boundary, written over its ctypes layer.

wasmtime-py 50 converts every component value through Python objects one element at a time:
a ``list<u8>`` of 1 MiB is a million 32-byte ``wasmtime_component_val_t`` structs, each
filled (or read) by a Python method call, 0.7-0.9 s per MiB each way; and every call re-reads
the function's type through the C API (``Func.__call__`` calls ``Func.type``, host imports
rebuild a ``FuncType`` per call, records re-read their fields per value).

This module does the same conversions, to and from the *same* Python forms wasmtime-py uses
(``bytes`` for ``list<u8>``, ``Record``, ``Variant`` exactly where wasmtime tags, ...), driven
by our own cached :class:`~host.values.types.WitType` instead of wasmtime's type objects, so
:mod:`host.runtime.typeconv` stays the one conversion to and from our value layer:

- :func:`call` calls an exported ``Func`` with a :class:`FuncSig` the caller keeps;
- :func:`add_func` defines a host import whose arguments and result go the same way;
- ``list<u8>`` is written and read in bulk (:mod:`host.runtime.fastbytes`).

It relies on wasmtime-py internals of the version it was written for (the ``_ffi`` bindings,
``Func._func``, ``catch_exceptions``/``enter_wasm``, ``Slab``) and the C API's ownership
rules (checked in wasmtime's ``crates/c-api/src/component``: a call borrows its arguments and
hands over its result; a host callback's arguments are dropped by Rust afterwards and its
results are taken by Rust). With another wasmtime version installed, or with
``AGENT_HOST_FASTPATH=0`` in the environment, everything goes through wasmtime-py's stock
path instead (a warning is logged for a version mismatch).
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Sequence
from ctypes import byref
from functools import lru_cache
from importlib.metadata import version
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc
from wasmtime._slab import Slab
from wasmtime.component._enter import catch_exceptions, enter_wasm

from host.runtime import fastbytes
from host.runtime.typeconv import _classes, _tagged
from host.values.types import (
    EnumT,
    FlagsT,
    FuncSig,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResourceT,
    ResultT,
    TupleT,
    VariantT,
    WitType,
    variant_cases,
)

log = logging.getLogger(__name__)

WRITTEN_FOR = "50.0.1"  # the wasmtime (PyPI) release whose internals this module uses

_Val = ffi.wasmtime_component_val_t
_VAL_SIZE = ctypes.sizeof(_Val)  # 32: a one-byte kind, then the union at offset 8
_PAYLOAD_AT = _Val.of.offset

# Lower: (store, python value, destination val) -> None; writes the destination only once
# the whole value is built, so a failure leaves it as it was and frees what it allocated.
Lower = Callable[[Any, Any, Any], None]
Lift = Callable[[Any], Any]  # (val) -> python value; copies, frees nothing


def _kind(name: str) -> int:
    return int(getattr(ffi, f"WASMTIME_COMPONENT_{name}").value)


_BOOL, _U8, _CHAR, _STRING = _kind("BOOL"), _kind("U8"), _kind("CHAR"), _kind("STRING")
_LIST, _RECORD, _TUPLE, _VARIANT = _kind("LIST"), _kind("RECORD"), _kind("TUPLE"), _kind("VARIANT")
_ENUM, _OPTION, _RESULT = _kind("ENUM"), _kind("OPTION"), _kind("RESULT")
_FLAGS, _RESOURCE = _kind("FLAGS"), _kind("RESOURCE")


def _version_supported(installed: str) -> bool:
    if installed == WRITTEN_FOR:
        return True
    log.warning(
        "wasmtime %s is installed but host.runtime.fastvalues was written for %s: component "
        "values go through wasmtime-py's slower stock conversion (list<u8> at ~1 s per MiB)",
        installed,
        WRITTEN_FOR,
    )
    return False


SUPPORTED = _version_supported(version("wasmtime"))
ENABLED = SUPPORTED and os.environ.get("AGENT_HOST_FASTPATH", "1") not in ("0", "false", "no")


# --- lowering: wasmtime-py's python forms -> C values -----------------------------------


_INT_FIELDS = {
    "s8": "s8", "u8": "u8", "s16": "s16", "u16": "u16",
    "s32": "s32", "u32": "u32", "s64": "s64", "u64": "u64",
}  # fmt: skip


def _prim_lowerer(kind: str) -> Lower:
    if kind == "bool":

        def lower_bool(store: Any, v: Any, c: Any) -> None:
            if not isinstance(v, bool):
                raise TypeError("expected bool for Bool type")
            c.kind = _BOOL
            c.of.boolean = v

        return lower_bool
    if kind in ("f32", "f64"):
        fkind = _kind(kind.upper())

        def lower_float(store: Any, v: Any, c: Any) -> None:
            if not isinstance(v, float):
                raise TypeError(f"expected float for {kind.upper()} type")
            c.kind = fkind
            setattr(c.of, kind, v)

        return lower_float
    if kind == "char":

        def lower_char(store: Any, v: Any, c: Any) -> None:
            if not isinstance(v, str) or len(v) != 1:
                raise TypeError("expected single-character string for Char type")
            c.kind = _CHAR
            c.of.character = ord(v)

        return lower_char
    if kind == "string":

        def lower_string(store: Any, v: Any, c: Any) -> None:
            if not isinstance(v, str):
                raise TypeError("expected string type")
            c.of.string = ffi.str_to_capi(v)
            c.kind = _STRING

        return lower_string
    field, ikind = _INT_FIELDS[kind], _kind(kind.upper())

    def lower_int(store: Any, v: Any, c: Any) -> None:
        if not isinstance(v, int):
            raise TypeError(f"expected int for {kind.upper()} type")
        c.kind = ikind
        setattr(c.of, field, v)

    return lower_int


def _list_lowerer(elem: Lower) -> Lower:
    def lower_list(store: Any, v: Any, c: Any) -> None:
        if not isinstance(v, list):
            raise TypeError("expected list value")
        raw = ffi.wasmtime_component_vallist_t()
        ffi.wasmtime_component_vallist_new_uninit(raw, len(v))
        try:
            data = raw.data
            for i, e in enumerate(v):
                elem(store, e, data[i])
        except BaseException:
            ffi.wasmtime_component_vallist_delete(byref(raw))
            raise
        c.of.list = raw
        c.kind = _LIST

    return lower_list


def _record_lowerer(fields: Sequence[tuple[str, Lower]]) -> Lower:
    def lower_record(store: Any, v: Any, c: Any) -> None:
        raw = ffi.wasmtime_component_valrecord_t()
        ffi.wasmtime_component_valrecord_new_uninit(raw, len(fields))
        try:
            data = raw.data
            for i, (name, f) in enumerate(fields):
                entry = data[i]
                f(store, getattr(v, name), entry.val)
                entry.name = ffi.str_to_capi(name)
        except BaseException:
            ffi.wasmtime_component_valrecord_delete(byref(raw))
            raise
        c.of.record = raw
        c.kind = _RECORD

    return lower_record


def _tuple_lowerer(elems: Sequence[Lower]) -> Lower:
    def lower_tuple(store: Any, v: Any, c: Any) -> None:
        if not isinstance(v, tuple):
            raise TypeError("expected tuple type")
        if len(v) != len(elems):
            raise TypeError("tuple length mismatch")
        raw = ffi.wasmtime_component_valtuple_t()
        ffi.wasmtime_component_valtuple_new_uninit(raw, len(elems))
        try:
            data = raw.data
            for i, (f, e) in enumerate(zip(elems, v, strict=True)):
                f(store, e, data[i])
        except BaseException:
            ffi.wasmtime_component_valtuple_delete(byref(raw))
            raise
        c.of.tuple = raw
        c.kind = _TUPLE

    return lower_tuple


def _case_lowerer(ty: VariantT | OptionT | ResultT) -> Lower:
    tagged = _tagged(ty)
    cases = [
        (name, None if t is None else _lowerer(t), None if t is None else tuple(_classes(t)))
        for name, t in variant_cases(ty)
    ]

    def select(v: Any) -> tuple[str, Lower | None, Any]:
        # wasmtime-py's choice (VariantLikeType._lower): by tag when tagged, else the first
        # case whose classes the value is an instance of (None for a payload-less case).
        if tagged:
            if not isinstance(v, wc.Variant):
                raise TypeError("expected Variant type")
            for name, f, _ in cases:
                if name == v.tag:
                    return name, f, v.payload
        else:
            for name, f, classes in cases:
                if f is None:
                    if v is None:
                        return name, None, None
                elif isinstance(v, classes):  # type: ignore[arg-type]
                    return name, f, v
        raise ValueError("value not valid for this variant")

    def payload(store: Any, v: Any) -> tuple[str, Any]:
        name, f, inner = select(v)
        if f is None:
            return name, None
        raw = _Val()
        f(store, inner, raw)
        return name, ffi.wasmtime_component_val_new(byref(raw))

    if isinstance(ty, OptionT):

        def lower_option(store: Any, v: Any, c: Any) -> None:
            c.of.option = payload(store, v)[1]
            c.kind = _OPTION

        return lower_option
    if isinstance(ty, ResultT):

        def lower_result(store: Any, v: Any, c: Any) -> None:
            name, ptr = payload(store, v)
            c.of.result.is_ok = name == "ok"
            c.of.result.val = ptr
            c.kind = _RESULT

        return lower_result

    def lower_variant(store: Any, v: Any, c: Any) -> None:
        name, ptr = payload(store, v)
        c.of.variant.discriminant = ffi.str_to_capi(name)
        c.of.variant.val = ptr
        c.kind = _VARIANT

    return lower_variant


def _lower_enum(store: Any, v: Any, c: Any) -> None:
    if not isinstance(v, str):
        raise TypeError("expected str type")
    c.of.enumeration = ffi.str_to_capi(v)
    c.kind = _ENUM


def _lower_flags(store: Any, v: Any, c: Any) -> None:
    if not isinstance(v, set) or not all(isinstance(s, str) for s in v):
        raise TypeError("expected set of strings for Flags type")
    raw = ffi.wasmtime_component_valflags_t()
    ffi.wasmtime_component_valflags_new_uninit(raw, len(v))
    for i, s in enumerate(v):
        raw.data[i] = ffi.str_to_capi(s)
    c.of.flags = raw
    c.kind = _FLAGS


def _resource_lowerer(own: bool) -> Lower:
    def lower_resource(store: Any, v: Any, c: Any) -> None:
        if isinstance(v, wc.ResourceHost):
            ptr = v.to_any(store)._consume()
        elif isinstance(v, wc.ResourceAny):
            ptr = v._consume() if own else ffi.wasmtime_component_resource_any_clone(v.ptr())
        else:
            raise TypeError("expected ResourceAny or ResourceHost for a resource type")
        c.of.resource = ptr
        c.kind = _RESOURCE

    return lower_resource


@lru_cache(maxsize=4096)
def _lowerer(ty: WitType) -> Lower:
    if ty == ListT(Prim("u8")):
        return fastbytes.lower_bytes
    if isinstance(ty, Prim):
        return _prim_lowerer(ty.kind)
    if isinstance(ty, ListT):
        return _list_lowerer(_lowerer(ty.elem))
    if isinstance(ty, RecordT):
        return _record_lowerer([(name, _lowerer(t)) for name, t in ty.fields])
    if isinstance(ty, TupleT):
        return _tuple_lowerer([_lowerer(t) for t in ty.elems])
    if isinstance(ty, EnumT):
        return _lower_enum
    if isinstance(ty, FlagsT):
        return _lower_flags
    if isinstance(ty, ResourceT):
        return _resource_lowerer(ty.own)
    return _case_lowerer(ty)


# --- lifting: C values -> wasmtime-py's python forms ------------------------------------


def _prim_lifter(kind: str) -> Lift:
    if kind == "bool":
        return lambda c: bool(c.of.boolean)
    if kind in ("f32", "f64"):
        return lambda c: float(getattr(c.of, kind))
    if kind == "char":
        return lambda c: chr(c.of.character)
    if kind == "string":
        return lambda c: ffi.to_str(c.of.string)
    field = _INT_FIELDS[kind]
    return lambda c: int(getattr(c.of, field))


def _list_lifter(elem: Lift) -> Lift:
    def lift_list(c: Any) -> list[Any]:
        data = c.of.list.data
        return [elem(data[i]) for i in range(c.of.list.size)]

    return lift_list


def _record_lifter(fields: Sequence[tuple[str, Lift]]) -> Lift:
    def lift_record(c: Any) -> wc.Record:
        out = wc.Record()
        data = c.of.record.data
        for i in range(min(c.of.record.size, len(fields))):
            name, f = fields[i]
            setattr(out, name, f(data[i].val))
        return out

    return lift_record


def _tuple_lifter(elems: Sequence[Lift]) -> Lift:
    def lift_tuple(c: Any) -> tuple[Any, ...]:
        data = c.of.tuple.data
        return tuple(elems[i](data[i]) for i in range(min(c.of.tuple.size, len(elems))))

    return lift_tuple


def _case_lifter(ty: VariantT | OptionT | ResultT) -> Lift:
    tagged = _tagged(ty)
    payloads = {name: None if t is None else _lifter(t) for name, t in variant_cases(ty)}

    def finish(tag: str, ptr: Any) -> Any:
        if tag not in payloads:
            raise ValueError(f"tag {tag} not found in variant cases")
        f = payloads[tag]
        value = None if f is None or not ptr else f(ptr.contents)
        return wc.Variant(tag, value) if tagged else value

    if isinstance(ty, OptionT):
        return lambda c: finish("some" if c.of.option else "none", c.of.option)
    if isinstance(ty, ResultT):
        return lambda c: finish("ok" if c.of.result.is_ok else "err", c.of.result.val)
    return lambda c: finish(ffi.to_str(c.of.variant.discriminant), c.of.variant.val)


def _lift_flags(c: Any) -> set[str]:
    data = c.of.flags.data
    return {ffi.to_str(data[i]) for i in range(c.of.flags.size)}


def _lift_resource(c: Any) -> wc.ResourceAny:
    handle = wc.ResourceAny._from_ptr(ffi.take_pointer(c.of, "resource"))
    c.kind = _BOOL  # taken: whoever drops this value must not free the handle again
    return handle


@lru_cache(maxsize=4096)
def _lifter(ty: WitType) -> Lift:
    if ty == ListT(Prim("u8")):
        return fastbytes.lift_bytes
    if isinstance(ty, Prim):
        return _prim_lifter(ty.kind)
    if isinstance(ty, ListT):
        return _list_lifter(_lifter(ty.elem))
    if isinstance(ty, RecordT):
        return _record_lifter([(name, _lifter(t)) for name, t in ty.fields])
    if isinstance(ty, TupleT):
        return _tuple_lifter([_lifter(t) for t in ty.elems])
    if isinstance(ty, EnumT):
        return lambda c: ffi.to_str(c.of.enumeration)
    if isinstance(ty, FlagsT):
        return _lift_flags
    if isinstance(ty, ResourceT):
        return _lift_resource
    return _case_lifter(ty)


# --- calls both ways ----------------------------------------------------------------------


def lower_into(store: Any, value: Any, ty: WitType, c: Any) -> None:
    """Write wasmtime-py's python form ``value`` of ``ty`` into the C value ``c``."""
    _lowerer(ty)(store, value, c)


def lift_from(c: Any, ty: WitType) -> Any:
    """Read the C value ``c`` of ``ty`` as wasmtime-py's python form (``c`` keeps its memory,
    except resource handles, which move into the returned objects)."""
    return _lifter(ty)(c)


def call(
    func: wc.Func, store: wasmtime.Store, sig: FuncSig, *params: Any, fast: bool = True
) -> Any:
    """``func(store, *params)`` with the types from ``sig`` (no type reads through the C API)
    and bulk ``list<u8>``; the stock ``Func.__call__`` when disabled or ``fast`` is false.
    The caller still calls ``func.post_return(store)``."""
    if not (ENABLED and fast):
        return func(store, *params)
    types = sig.param_types
    if len(params) != len(types):
        raise TypeError(
            f"wrong number of parameters provided: given {len(params)}, expected {len(types)}"
        )
    n = len(params)
    args = (_Val * n)()  # zeroed: every slot is Bool(false), safe to drop at any point
    try:
        for i, (p, t) in enumerate(zip(params, types, strict=True)):
            _lowerer(t)(store, p, args[i])
        result = None if sig.result is None else _Val()
        out = None if result is None else byref(result)
        context = store._context()
        enter_wasm(
            lambda: ffi.wasmtime_component_func_call(
                byref(func._func), context, args, n, out, 0 if result is None else 1
            )
        )
        if result is None or sig.result is None:
            return None
        try:
            return _lifter(sig.result)(result)
        finally:
            ffi.wasmtime_component_val_delete(byref(result))
    finally:
        for i in range(n):
            ffi.wasmtime_component_val_delete(byref(args[i]))


HostImpl = Callable[..., Any]
_HOST: Slab[tuple[HostImpl, tuple[Lift, ...], Lower | None]] = Slab()


def add_func(
    instance: wc.LinkerInstance, name: str, impl: HostImpl, sig: FuncSig, fast: bool = True
) -> None:
    """``instance.add_func(name, impl)``, converting arguments and result with the types of
    ``sig`` (cached: wasmtime's ``FuncType`` is not read per call) and bulk ``list<u8>``."""
    if not (ENABLED and fast):
        instance.add_func(name, impl)
        return
    instance._assert_not_locked()
    lifts = tuple(_lifter(t) for t in sig.param_types)
    lower = None if sig.result is None else _lowerer(sig.result)
    idx = _HOST.allocate((impl, lifts, lower))
    define(instance, name, _trampoline, idx, _finalize)


def define(
    instance: wc.LinkerInstance, name: str, trampoline: Any, idx: int, finalize: Any
) -> None:
    """Define ``name`` in ``instance`` as the C callback ``trampoline`` (a
    ``wasmtime_component_func_callback_t``) with ``idx`` as its data, which ``finalize``
    frees with the linker (this module's and host/runtime/leancall.py's host functions)."""
    encoded = name.encode("utf-8")
    err = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(),
        ctypes.create_string_buffer(encoded),
        len(encoded),
        trampoline,
        idx,
        finalize,
    )
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)


@ffi.wasmtime_component_func_callback_t
def _trampoline(idx, context, _ty, args, nargs, results, nresults):  # type: ignore[no-untyped-def]
    def run(store: Any) -> None:
        impl, lifts, lower = _HOST.get(idx or 0)
        if nargs != len(lifts) or nresults != (0 if lower is None else 1):
            raise wasmtime.WasmtimeError("host function called with an unexpected signature")
        # Rust drops the arguments after this returns: read them, free nothing.
        result = impl(store, *[lift(args[i]) for i, lift in enumerate(lifts)])
        if lower is not None:
            lower(store, result, results[0])  # Rust takes the result from here

    return catch_exceptions(context, run)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _finalize(idx):  # type: ignore[no-untyped-def]
    if _HOST:
        _HOST.deallocate(idx or 0)
