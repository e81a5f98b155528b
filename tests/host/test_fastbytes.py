"""host.runtime.fastbytes: a list<u8> lowered into a value array this module allocated
holds a U8 value per byte, reads back the same, and is freed by wasmtime itself (the
array's owner) without harm, for random sizes; through whole calls it is compared with
wasmtime-py's stock conversion in tests/host/test_fastvalues.py."""

from __future__ import annotations

import ctypes
import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wasmtime import _ffi as ffi

from host.runtime import fastbytes


@pytest.mark.skipif(sys.platform == "win32", reason="Rust's allocator is the C library's on unix")
def test_the_array_comes_from_malloc_on_unix() -> None:
    assert fastbytes._malloc is not None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 70_000), st.integers(0, 2**32))
def test_lowered_values_are_the_bytes_and_wasmtime_frees_them(size: int, seed: int) -> None:
    data = random.Random(seed).randbytes(size)
    val = ffi.wasmtime_component_val_t()
    fastbytes.lower_bytes(None, data, val)
    try:
        assert val.kind == ffi.WASMTIME_COMPONENT_LIST.value
        assert val.of.list.size == size
        items = val.of.list.data
        for i in sorted({0, size // 2, size - 1} if size else set()):
            assert items[i].kind == ffi.WASMTIME_COMPONENT_U8.value
            assert items[i].of.u8 == data[i]
        assert fastbytes.lift_bytes(val) == data
        # wasmtime's own copy of the value reads the same: the array is a valid list.
        copy = ffi.wasmtime_component_val_t()
        ffi.wasmtime_component_val_clone(ctypes.byref(val), ctypes.byref(copy))
        assert fastbytes.lift_bytes(copy) == data
        ffi.wasmtime_component_val_delete(ctypes.byref(copy))
    finally:
        ffi.wasmtime_component_val_delete(ctypes.byref(val))  # Rust frees our malloc'd array


def test_only_bytes_are_lowered() -> None:
    val = ffi.wasmtime_component_val_t()
    with pytest.raises(TypeError, match="expected bytes"):
        fastbytes.lower_bytes(None, [1, 2], val)
    assert val.kind == ffi.WASMTIME_COMPONENT_BOOL.value  # untouched
