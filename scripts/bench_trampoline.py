#!/usr/bin/env python3
"""What one host call costs at the ctypes boundary (issue 13, item 3), printed, never asserted.

The ``ticker`` fixture's ``tick(N, 0)`` makes N calls of
``wasi:io/streams.[method]output-stream.blocking-write-and-flush`` (a borrowed stream, a
``list<u8>``, a ``result<_, stream-error>``). Each variant links that import its own way,
outside the host (no session, no oplog), and times ``tick(N, 0)`` in this process's CPU:

1. ``floor``: a ctypes callback with address-typed parameters that releases the borrow
   through the C API and copies a prebuilt ``ok`` into the result slot, its C calls
   keeping the GIL: what any Python host function pays at least (ctypes' callback entry
   plus four C calls), and what host/runtime/leancall.py does per replayed call besides
   finding the recorded entry.
2. ``pointer-typed``: the same work through wasmtime-py's own callback and function
   prototypes (a pointer object per parameter and per argument, the GIL released and
   re-taken around each C call).
3. ``stock``: wasmtime-py's ``LinkerInstance.add_func`` with a Python function that
   converts its borrow with ``to_host`` and returns ``Variant("ok", None)``.

For the host's own replay (the lean trampoline answering from the oplog), see
``scripts/bench_replay.py``: its per-entry figure beside these shows what the host adds.

    .venv/bin/python scripts/bench_trampoline.py [--calls 100000]
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import wasmtime  # noqa: E402
from wasmtime import _ffi as ffi  # noqa: E402
from wasmtime import component as wc  # noqa: E402

from tests.fixtures.build import build_fixture  # noqa: E402

_VP = ctypes.c_void_p
_Val = ffi.wasmtime_component_val_t
_OUT_ID, _ERR_ID = 7, 8
WRITE = "[method]output-stream.blocking-write-and-flush"


_KEEP_GIL = ctypes.PyDLL(ffi.dll._name)  # as host/runtime/leancall.py calls them


def _c(name: str, restype: Any, *argtypes: Any) -> Any:
    function = _KEEP_GIL[name]
    function.restype, function.argtypes = restype, argtypes
    return function


_memmove = ctypes.PYFUNCTYPE(_VP, _VP, _VP, ctypes.c_size_t)(ctypes._memmove_addr)  # type: ignore[attr-defined]


_to_host = _c("wasmtime_component_resource_any_to_host", _VP, _VP, _VP, _VP)
_rep = _c("wasmtime_component_resource_host_rep", ctypes.c_uint32, _VP)
_host_delete = _c("wasmtime_component_resource_host_delete", None, _VP)
_Callback = ctypes.CFUNCTYPE(
    ctypes.c_size_t, _VP, _VP, _VP, _VP, ctypes.c_size_t, _VP, ctypes.c_size_t
)


def _ok_bytes() -> bytes:
    ok = _Val()
    ok.kind = ffi.WASMTIME_COMPONENT_RESULT.value
    ok.of.result.is_ok = True
    ok.of.result.val = None
    return ctypes.string_at(ctypes.addressof(ok), ctypes.sizeof(_Val))


OK = _ok_bytes()


@_Callback
def _floor(env, ctx, ty, args, nargs, results, nresults):  # type: ignore[no-untyped-def]
    out = _VP()
    handle = _VP.from_address(args + _Val.of.offset).value
    if _to_host(ctx, handle, ctypes.byref(out)):
        return 0  # not reached: the stream is a host resource
    _rep(out.value)
    _host_delete(out.value)
    _memmove(results, OK, len(OK))
    return 0


_HostPtr = ctypes.POINTER(ffi.wasmtime_component_resource_host_t)


@ffi.wasmtime_component_func_callback_t
def _pointer_typed(env, ctx, ty, args, nargs, results, nresults):  # type: ignore[no-untyped-def]
    out = _HostPtr()
    ffi.wasmtime_component_resource_any_to_host(ctx, args[0].of.resource, ctypes.byref(out))
    ffi.wasmtime_component_resource_host_rep(out)
    ffi.wasmtime_component_resource_host_delete(out)
    r = results[0]
    r.kind = ffi.WASMTIME_COMPONENT_RESULT.value
    r.of.result.is_ok = True
    r.of.result.val = None
    return 0


@_Callback
def _get_stdout(env, ctx, ty, args, nargs, results, nresults):  # type: ignore[no-untyped-def]
    host = ffi.wasmtime_component_resource_host_new(True, 1, _OUT_ID)
    any_ptr = ctypes.POINTER(ffi.wasmtime_component_resource_any_t)()
    ctx_p = ctypes.cast(ctx, ctypes.POINTER(ffi.wasmtime_context_t))
    ffi.wasmtime_component_resource_host_to_any(ctx_p, host, ctypes.byref(any_ptr))
    ffi.wasmtime_component_resource_host_delete(host)
    slot = _Val.from_address(results)
    slot.kind = ffi.WASMTIME_COMPONENT_RESOURCE.value
    slot.of.resource = any_ptr
    return 0


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _no_finalizer(data):  # type: ignore[no-untyped-def]
    pass


def _add_raw(instance: wc.LinkerInstance, name: str, callback: Any) -> None:
    encoded = name.encode()
    err = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(),
        ctypes.create_string_buffer(encoded),
        len(encoded),
        callback,
        0,
        _no_finalizer,
    )
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)


def _stock_write(store: Any, stream: wc.ResourceAny, data: bytes) -> wc.Variant:
    stream.to_host(store)
    return wc.Variant("ok", None)


def measure(variant: str, calls: int) -> float:
    """CPU seconds per call of ``tick(calls, 0)`` with the write import linked as
    ``variant``."""
    engine = wasmtime.Engine()
    component = wc.Component.from_file(engine, str(build_fixture("ticker")))
    linker = wc.Linker(engine)
    writers: dict[str, Callable[[wc.LinkerInstance], None]] = {
        "floor": lambda i: _add_raw(
            i, WRITE, ctypes.cast(_floor, ffi.wasmtime_component_func_callback_t)
        ),
        "pointer-typed": lambda i: _add_raw(i, WRITE, _pointer_typed),
        "stock": lambda i: i.add_func(WRITE, _stock_write),
    }
    with linker.root() as root:
        with root.add_instance("wasi:io/streams@0.2.3") as streams:
            streams.add_resource("output-stream", wc.ResourceType.host(_OUT_ID), lambda s, r: None)
            writers[variant](streams)
        with root.add_instance("wasi:io/error@0.2.3") as errors:
            errors.add_resource("error", wc.ResourceType.host(_ERR_ID), lambda s, r: None)
        with root.add_instance("wasi:cli/stdout@0.2.3") as stdout:
            _add_raw(
                stdout,
                "get-stdout",
                ctypes.cast(_get_stdout, ffi.wasmtime_component_func_callback_t),
            )
    store = wasmtime.Store(engine)
    tick = linker.instantiate(store, component).get_func(store, "tick")
    assert tick is not None
    tick(store, 10, 0)  # warm
    tick.post_return(store)
    t0 = time.process_time()
    assert tick(store, calls, 0) == calls
    tick.post_return(store)
    return (time.process_time() - t0) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    for variant in ("floor", "pointer-typed", "stock"):
        n = args.calls if variant != "stock" else max(1, args.calls // 5)
        per_call = measure(variant, n)
        print(
            f"{variant:>14}: {per_call * 1e6:6.2f} us CPU per host call "
            f"({1 / per_call:,.0f} calls/s, {n:,} calls)"
        )


if __name__ == "__main__":
    main()
