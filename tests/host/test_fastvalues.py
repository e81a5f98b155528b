"""host.runtime.fastvalues against wasmtime-py's stock conversion, through a real component.

The WAT guest echoes each type three ways: ``echo-T`` returns its argument, ``via-T`` passes
it to the host import ``host-T`` and returns what the host gave back. Every type here
flattens to i32s laid out in memory as consecutive 4-byte slots, so one generic body per
function (store flat parameter ``i`` at ``retptr + 4*i``) is a correct echo. Random values
(``list<u8>`` of 0, 1, a few and up to 150 KB bytes, nested in records, options, results,
tuples and lists) must come out identical on the fast and the stock path, both directions;
a 1 MiB list is checked on the fast path alone (the stock path takes seconds per MiB).
"""

from __future__ import annotations

import logging
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasmtime import component as wc

from host.runtime import fastvalues
from host.runtime.typeconv import from_wasmtime, func_sig, to_wasmtime
from host.values import (
    STRING,
    U8,
    U32,
    Case,
    ListT,
    OptionT,
    RecordT,
    ResultT,
    Some,
    TupleT,
    Value,
    WitType,
)

BYTES = ListT(U8)
BLOB = RecordT((("tag", STRING), ("data", BYTES), ("more", OptionT(BYTES))))
TYPES: dict[str, tuple[str, WitType, int]] = {
    # name: (WIT, our type, flat i32 count)
    "bytes": ("list<u8>", BYTES, 2),
    "blob": ("blob", BLOB, 7),
    "res": ("result<list<u8>, string>", ResultT(BYTES, STRING), 3),
    "opt": ("option<list<u8>>", OptionT(BYTES), 3),
    "lists": ("list<list<u8>>", ListT(BYTES), 2),
    "blobs": ("list<blob>", ListT(BLOB), 2),
    "pair": ("tuple<list<u8>, u32>", TupleT((BYTES, U32)), 3),
    "nested": ("option<result<list<u8>, u32>>", OptionT(ResultT(BYTES, U32)), 4),
}

WIT = (
    "package test:fast;\n\nworld fast {\n"
    "  record blob { tag: string, data: list<u8>, more: option<list<u8>> }\n"
    + "".join(
        f"  import host-{n}: func(x: {w}) -> {w};\n"
        f"  export echo-{n}: func(x: {w}) -> {w};\n"
        f"  export via-{n}: func(x: {w}) -> {w};\n"
        for n, (w, _, _) in TYPES.items()
    )
    + "}\n"
)


def _wat() -> str:
    out = ["(module"]
    for n, (_, _, k) in TYPES.items():
        params = " ".join(["i32"] * k)
        out.append(f'(import "$root" "host-{n}" (func $host_{n} (param {params} i32)))')
    out.append('(memory (export "memory") 1) (global $heap (mut i32) (i32.const 1024))')
    out.append(
        # A bump allocator growing memory as needed: lists the host passes live here.
        """(func (export "cabi_realloc") (param i32 i32) (param $align i32) (param $size i32)
          (result i32) (local $ret i32)
          (local.set $ret (i32.and (i32.add (global.get $heap)
            (i32.sub (local.get $align) (i32.const 1))) (i32.sub (i32.const 0) (local.get $align))))
          (global.set $heap (i32.add (local.get $ret) (local.get $size)))
          (block $fits
            (br_if $fits (i32.le_u (global.get $heap) (i32.shl (memory.size) (i32.const 16))))
            (drop (memory.grow (i32.add (i32.const 1) (i32.shr_u
              (i32.sub (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
              (i32.const 16))))))
          (local.get $ret))"""
    )
    for n, (_, _, k) in TYPES.items():
        params = " ".join(["i32"] * k)
        stores = " ".join(
            f"(i32.store offset={16 + 4 * i} (i32.const 0) (local.get {i}))" for i in range(k)
        )
        out.append(
            f'(func (export "echo-{n}") (param {params}) (result i32) {stores} (i32.const 16))'
        )
        gets = " ".join(f"(local.get {i})" for i in range(k))
        out.append(
            f'(func (export "via-{n}") (param {params}) (result i32) '
            f"(call $host_{n} {gets} (i32.const 256)) (i32.const 256))"
        )
    out.append(")")
    return "\n".join(out)


def _wasm_tools() -> str:
    found = shutil.which("wasm-tools") or str(Path(sys.executable).parent / "wasm-tools")
    if not Path(found).is_file():
        pytest.fail("wasm-tools is not installed (scripts/setup.sh installs it)")
    return found


@pytest.fixture(scope="module")
def component(tmp_path_factory: pytest.TempPathFactory) -> tuple[wasmtime.Engine, wc.Component]:
    work = tmp_path_factory.mktemp("fast")
    (work / "wit").mkdir()
    (work / "wit" / "fast.wit").write_text(WIT)
    (work / "guest.wat").write_text(_wat())
    tool = _wasm_tools()
    for args in (
        ["component", "embed", "wit", "guest.wat", "--world", "fast", "-o", "core.wasm"],
        ["component", "new", "core.wasm", "-o", "fast.wasm"],
    ):
        subprocess.run([tool, *args], cwd=work, check=True, capture_output=True)
    engine = wasmtime.Engine()
    return engine, wc.Component(engine, (work / "fast.wasm").read_bytes())


class Guest:
    """One instance whose host imports are defined on the fast or the stock path; each
    import records the argument it received and returns it."""

    def __init__(self, engine: wasmtime.Engine, component: wc.Component, fast: bool) -> None:
        self.fast = fast
        received: list[Any] = []
        self.received = received

        # Holds only the list: a host function referring to this object would keep its
        # Store alive through wasmtime-py's table of host functions (a cycle via a global).
        def host(_store: Any, raw: Any) -> Any:
            received.append(raw)
            return raw

        imports = component.type.imports(engine)
        linker = wc.Linker(engine)
        with linker.root() as root:
            for n in TYPES:
                fty = imports[f"host-{n}"].ty
                assert isinstance(fty, wc.FuncType)
                fastvalues.add_func(root, f"host-{n}", host, func_sig(n, fty), fast=fast)
        self.store = wasmtime.Store(engine)
        self.instance = linker.instantiate(self.store, component)

    def call(self, name: str, raw: Any) -> Any:
        func = self.instance.get_func(self.store, name)
        assert func is not None
        sig = func_sig(name, func.type(self.store))
        out = fastvalues.call(func, self.store, sig, raw, fast=self.fast)
        func.post_return(self.store)
        return out


def _bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


_sizes = st.one_of(st.just(0), st.just(1), st.integers(2, 300), st.integers(20_000, 150_000))
_blobs = st.builds(_bytes, _sizes, st.integers(0, 2**32))
_small = st.builds(_bytes, st.integers(0, 40), st.integers(0, 2**32))
_blob_records = st.fixed_dictionaries(
    {"tag": st.text(max_size=12), "data": _blobs, "more": st.none() | _small.map(Some)}
)


def _values(name: str) -> st.SearchStrategy[Any]:
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "bytes": _blobs,
        "blob": _blob_records,
        "res": st.one_of(
            _blobs.map(lambda b: Case("ok", b)), st.text().map(lambda s: Case("err", s))
        ),
        "opt": st.none() | _blobs.map(Some),
        "lists": st.lists(st.one_of(_small, _blobs), max_size=3),
        "blobs": st.lists(_blob_records, max_size=2),
        "pair": st.tuples(_blobs, st.integers(0, 2**32 - 1)),
        "nested": st.one_of(
            st.none(),
            _blobs.map(lambda b: Some(Case("ok", b))),
            st.integers(0, 2**32 - 1).map(lambda n: Some(Case("err", n))),
        ),
    }
    return strategies[name]


_cases = st.sampled_from(sorted(TYPES)).flatmap(lambda n: _values(n).map(lambda v: (n, v)))
_settings = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(autouse=True)
def _fast_path_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # Compared here even in a run with AGENT_HOST_FASTPATH=0 (which the rest may use).
    monkeypatch.setattr(fastvalues, "ENABLED", fastvalues.SUPPORTED)


def test_the_installed_wasmtime_is_the_one_written_for() -> None:
    # If this fails, pyproject's pin moved and everything runs on the slow stock path.
    assert fastvalues.SUPPORTED, "fast path unsupported: see the warning logged at import"


@_settings
@given(_cases)
def test_fast_and_stock_agree_through_exports_and_imports(
    component: tuple[wasmtime.Engine, wc.Component], case: tuple[str, Value]
) -> None:
    name, value = case
    ty = TYPES[name][1]
    raw = to_wasmtime(value, ty)
    fast, stock = Guest(*component, fast=True), Guest(*component, fast=False)
    for fn in (f"echo-{name}", f"via-{name}"):
        got_fast, got_stock = fast.call(fn, raw), stock.call(fn, raw)
        assert got_fast == got_stock
        assert type(got_fast) is type(got_stock)
        assert from_wasmtime(got_fast, ty) == value
    # What the host import received (the lifting direction of a host call).
    assert fast.received == stock.received == [raw]


def test_one_mebibyte_both_ways(
    component: tuple[wasmtime.Engine, wc.Component], monkeypatch: pytest.MonkeyPatch
) -> None:
    def stock(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the fast path went through wasmtime-py's stock conversion")

    # Neither direction may fall back: no stock call, no stock host function definition.
    monkeypatch.setattr(wc.Func, "__call__", stock)
    monkeypatch.setattr(wc.LinkerInstance, "add_func", stock)
    payload = _bytes(1 << 20, 7)
    guest = Guest(*component, fast=True)
    assert guest.call("echo-bytes", payload) == payload
    assert guest.call("via-bytes", payload) == payload
    assert guest.received == [payload]


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("bytes", [1, 2, 3]),  # a list, not bytes
        ("bytes", "text"),
        ("pair", (b"x",)),  # tuple too short
        ("opt", 5),  # matches neither case
    ],
)
def test_bad_values_fail_alike_and_leave_the_store_usable(
    component: tuple[wasmtime.Engine, wc.Component], name: str, bad: Any
) -> None:
    errors = []
    for fast in (True, False):
        guest = Guest(*component, fast=fast)
        with pytest.raises((TypeError, ValueError)) as info:
            guest.call(f"echo-{name}", bad)
        errors.append(type(info.value))
        assert guest.call("echo-bytes", b"still fine") == b"still fine"
    assert errors[0] is errors[1]


def test_a_host_import_that_raises_reaches_the_caller(
    component: tuple[wasmtime.Engine, wc.Component],
) -> None:
    engine, comp = component
    imports = comp.type.imports(engine)

    def refuse(_store: Any, _raw: Any) -> Any:
        raise wasmtime.WasmtimeError("refused by the host")

    linker = wc.Linker(engine)
    with linker.root() as root:
        for n in TYPES:
            fty = imports[f"host-{n}"].ty
            assert isinstance(fty, wc.FuncType)
            fastvalues.add_func(root, f"host-{n}", refuse, func_sig(n, fty))
    store = wasmtime.Store(engine)
    instance = linker.instantiate(store, comp)
    func = instance.get_func(store, "via-bytes")
    assert func is not None
    with pytest.raises(wasmtime.WasmtimeError, match="refused by the host"):
        fastvalues.call(func, store, func_sig("via-bytes", func.type(store)), b"abc")


def test_another_wasmtime_version_falls_back_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="host.runtime.fastvalues"):
        assert not fastvalues._version_supported("51.0.0")
    assert "written for 50.0.1" in caplog.text
    assert fastvalues._version_supported(fastvalues.WRITTEN_FOR)
