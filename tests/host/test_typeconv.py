"""host.runtime.typeconv against a real component: a hand-written WAT guest of identity functions.

The guest returns its flattened parameters through the canonical ABI return area, so every
export is ``x -> x`` and a round trip exercises our conversion and wasmtime's both ways.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasmtime import component as wc

from host.runtime.typeconv import (
    ConversionError,
    from_wasmtime,
    func_sig,
    to_wasmtime,
    wit_type,
)
from host.values import (
    BOOL,
    CHAR,
    F32,
    F64,
    S8,
    STRING,
    U8,
    U32,
    U64,
    Case,
    EnumT,
    FlagsT,
    FuncSig,
    Handle,
    ListT,
    OptionT,
    RecordT,
    ResourceT,
    ResultT,
    Some,
    TupleT,
    Value,
    ValueTypeError,
    VariantT,
    WitType,
)
from tests.wit_strategies import same, typed_values, values

WIT = """
package test:echo;

world echo {
  enum color { red, green, blue }
  variant shape { circle(f64), square(u32), dot }
  flags perms { read, write, exec }
  record rec {
    name: string,
    data: list<u8>,
    count: option<u32>,
    res: result<u64, string>,
    color: color,
    shape: shape,
    perms: perms,
  }
  import host-res: func(r: result<u64, string>) -> result<u64, string>;
  export echo-rec: func(r: rec) -> rec;
  export echo-res: func(r: result<u64, string>) -> result<u64, string>;
  export echo-err: func(r: result<_, string>) -> result<_, string>;
  export echo-unit: func(r: result) -> result;
  export echo-bytes: func(b: list<u8>) -> list<u8>;
  export echo-opt: func(o: option<option<u32>>) -> option<option<u32>>;
  export echo-tup: func(t: tuple<char, f32, s8, bool>) -> tuple<char, f32, s8, bool>;
  export echo-u64: func(x: u64) -> u64;
  export call-host: func(r: result<u64, string>) -> result<u64, string>;
}
"""

# Results wider than one flat value are stored in the return area at address 16 (8-aligned)
# using each type's canonical memory layout; `rec` is 72 bytes:
#   name 0, data 8, count 16 (payload 20), res 24 (payload 32), color 40, shape 48
#   (payload 56), perms 64.
WAT = """
(module
  (import "$root" "host-res" (func $host_res (param i32 i64 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  ;; A bump allocator: the host only allocates argument strings and lists here.
  (func (export "cabi_realloc") (param i32 i32) (param $align i32) (param $size i32)
    (result i32)
    (local $ret i32)
    (local.set $ret
      (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
               (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ret) (local.get $size)))
    (block $fits
      (br_if $fits (i32.le_u (global.get $heap) (i32.shl (memory.size) (i32.const 16))))
      (drop (memory.grow (i32.add (i32.const 1) (i32.shr_u
        (i32.sub (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
        (i32.const 16))))))
    (local.get $ret))
  (func (export "echo-rec")
    (param $name i32) (param $name_len i32) (param $data i32) (param $data_len i32)
    (param $count_d i32) (param $count i32) (param $res_d i32) (param $res i64)
    (param $res_len i32) (param $color i32) (param $shape_d i32) (param $shape i64)
    (param $perms i32) (result i32)
    (i32.store offset=16 (i32.const 0) (local.get $name))
    (i32.store offset=20 (i32.const 0) (local.get $name_len))
    (i32.store offset=24 (i32.const 0) (local.get $data))
    (i32.store offset=28 (i32.const 0) (local.get $data_len))
    (i32.store8 offset=32 (i32.const 0) (local.get $count_d))
    (i32.store offset=36 (i32.const 0) (local.get $count))
    (i32.store8 offset=40 (i32.const 0) (local.get $res_d))
    ;; ok: the u64 itself; err: the string pointer widened to i64, then its length.
    (i64.store offset=48 (i32.const 0) (local.get $res))
    (if (local.get $res_d)
      (then (i32.store offset=52 (i32.const 0) (local.get $res_len))))
    (i32.store8 offset=56 (i32.const 0) (local.get $color))
    (i32.store8 offset=64 (i32.const 0) (local.get $shape_d))
    ;; circle: f64 bits; square: u32 widened to i64 (little-endian, so the low half is it).
    (i64.store offset=72 (i32.const 0) (local.get $shape))
    (i32.store8 offset=80 (i32.const 0) (local.get $perms))
    (i32.const 16))
  (func (export "echo-res") (param $d i32) (param $v i64) (param $len i32) (result i32)
    (i32.store8 offset=16 (i32.const 0) (local.get $d))
    (i64.store offset=24 (i32.const 0) (local.get $v))
    (if (local.get $d) (then (i32.store offset=28 (i32.const 0) (local.get $len))))
    (i32.const 16))
  (func (export "echo-err") (param $d i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 offset=16 (i32.const 0) (local.get $d))
    (i32.store offset=20 (i32.const 0) (local.get $ptr))
    (i32.store offset=24 (i32.const 0) (local.get $len))
    (i32.const 16))
  (func (export "echo-unit") (param i32) (result i32) (local.get 0))
  (func (export "echo-bytes") (param $ptr i32) (param $len i32) (result i32)
    (i32.store offset=16 (i32.const 0) (local.get $ptr))
    (i32.store offset=20 (i32.const 0) (local.get $len))
    (i32.const 16))
  (func (export "echo-opt") (param $d i32) (param $d2 i32) (param $v i32) (result i32)
    (i32.store8 offset=16 (i32.const 0) (local.get $d))
    (i32.store8 offset=20 (i32.const 0) (local.get $d2))
    (i32.store offset=24 (i32.const 0) (local.get $v))
    (i32.const 16))
  (func (export "echo-tup") (param $c i32) (param $f f32) (param $s i32) (param $b i32)
    (result i32)
    (i32.store offset=16 (i32.const 0) (local.get $c))
    (f32.store offset=20 (i32.const 0) (local.get $f))
    (i32.store8 offset=24 (i32.const 0) (local.get $s))
    (i32.store8 offset=25 (i32.const 0) (local.get $b))
    (i32.const 16))
  (func (export "echo-u64") (param i64) (result i64) (local.get 0))
  ;; Passes its argument to the host import, whose result the host writes at 96.
  (func (export "call-host") (param i32 i64 i32) (result i32)
    (call $host_res (local.get 0) (local.get 1) (local.get 2) (i32.const 96))
    (i32.const 96))
)
"""

COLOR = EnumT(("red", "green", "blue"))
SHAPE = VariantT((("circle", F64), ("square", U32), ("dot", None)))
PERMS = FlagsT(("read", "write", "exec"))
RES = ResultT(U64, STRING)
REC = RecordT(
    (
        ("name", STRING),
        ("data", ListT(U8)),
        ("count", OptionT(U32)),
        ("res", RES),
        ("color", COLOR),
        ("shape", SHAPE),
        ("perms", PERMS),
    )
)
TUP = TupleT((CHAR, F32, S8, BOOL))
OPT = OptionT(OptionT(U32))

SIGNATURES = {
    "echo-rec": FuncSig("echo-rec", (("r", REC),), REC),
    "echo-res": FuncSig("echo-res", (("r", RES),), RES),
    "echo-err": FuncSig("echo-err", (("r", ResultT(None, STRING)),), ResultT(None, STRING)),
    "echo-unit": FuncSig("echo-unit", (("r", ResultT(None, None)),), ResultT(None, None)),
    "echo-bytes": FuncSig("echo-bytes", (("b", ListT(U8)),), ListT(U8)),
    "echo-opt": FuncSig("echo-opt", (("o", OPT),), OPT),
    "echo-tup": FuncSig("echo-tup", (("t", TUP),), TUP),
    "echo-u64": FuncSig("echo-u64", (("x", U64),), U64),
    "call-host": FuncSig("call-host", (("r", RES),), RES),
}


def _wasm_tools() -> str:
    found = shutil.which("wasm-tools") or str(Path(sys.executable).parent / "wasm-tools")
    if not Path(found).is_file():
        pytest.skip("wasm-tools is not installed")
    return found


@pytest.fixture(scope="module")
def component_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    work = tmp_path_factory.mktemp("echo")
    (work / "wit").mkdir()
    (work / "wit" / "echo.wit").write_text(WIT)
    (work / "guest.wat").write_text(WAT)
    tool = _wasm_tools()
    subprocess.run(
        [tool, "component", "embed", "wit", "guest.wat", "--world", "echo", "-o", "core.wasm"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [tool, "component", "new", "core.wasm", "-o", "echo.wasm"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    return (work / "echo.wasm").read_bytes()


def _flip(value: Value) -> Value:
    """The host import: ok(n) -> err("<n>"), err(s) -> ok(len(s))."""
    assert isinstance(value, Case)
    if value.name == "ok":
        return Case("err", str(value.value))
    assert isinstance(value.value, str)
    return Case("ok", len(value.value))


class Guest:
    """One instance of the echo component, called through typeconv in both directions."""

    def __init__(self, wasm: bytes) -> None:
        engine = wasmtime.Engine()
        component = wc.Component(engine, wasm)
        imported = component.type.imports(engine)["host-res"].ty
        assert isinstance(imported, wc.FuncType)
        host_sig = func_sig("host-res", imported)
        self.host_calls: list[Value] = []

        def host_res(_store: Any, raw: Any) -> Any:
            arg = from_wasmtime(raw, host_sig.params[0][1])
            self.host_calls.append(arg)
            assert host_sig.result is not None
            return to_wasmtime(_flip(arg), host_sig.result)

        linker = wc.Linker(engine)
        with linker.root() as root:
            root.add_func("host-res", host_res)
        self.store = wasmtime.Store(engine)
        self.instance = linker.instantiate(self.store, component)

    def sig(self, name: str) -> FuncSig:
        func = self.instance.get_func(self.store, name)
        assert func is not None
        return func_sig(name, func.type(self.store))

    def call(self, name: str, *args: Value) -> Value:
        func = self.instance.get_func(self.store, name)
        assert func is not None
        sig = self.sig(name)
        raw = func(
            self.store, *(to_wasmtime(a, t) for a, (_, t) in zip(args, sig.params, strict=True))
        )
        func.post_return(self.store)
        assert sig.result is not None
        return from_wasmtime(raw, sig.result)


@pytest.fixture(scope="module")
def guest(component_bytes: bytes) -> Iterator[Guest]:
    yield Guest(component_bytes)


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_func_sig_reads_wasmtime_types(guest: Guest, name: str) -> None:
    assert guest.sig(name) == SIGNATURES[name]


def test_wit_type_of_component_exports(component_bytes: bytes) -> None:
    engine = wasmtime.Engine()
    exports = wc.Component(engine, component_bytes).type.exports(engine)
    ft = exports["echo-rec"].ty
    assert isinstance(ft, wc.FuncType) and ft.result is not None
    assert wit_type(ft.result) == REC


REC_VALUE: dict[str, Value] = {
    "name": "héllo 😀",
    "data": b"\x00\x01\xff",
    "count": Some(7),
    "res": Case("err", "bad"),
    "color": "green",
    "shape": Case("circle", 2.5),
    "perms": frozenset({"read", "exec"}),
}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("echo-rec", REC_VALUE),
        (
            "echo-rec",
            {
                **REC_VALUE,
                "count": None,
                "res": Case("ok", 2**64 - 1),
                "shape": Case("square", 2**32 - 1),
                "perms": frozenset(),
                "data": b"",
            },
        ),
        ("echo-rec", {**REC_VALUE, "shape": Case("dot"), "count": Some(0), "name": ""}),
        ("echo-res", Case("ok", 0)),
        ("echo-res", Case("ok", 2**64 - 1)),
        ("echo-res", Case("err", "")),
        ("echo-res", Case("err", "x" * 5000)),
        ("echo-err", Case("ok")),
        ("echo-err", Case("err", "e")),
        ("echo-unit", Case("ok")),
        ("echo-unit", Case("err")),
        ("echo-bytes", b""),
        ("echo-bytes", bytes(range(256))),
        ("echo-opt", None),
        ("echo-opt", Some(None)),
        ("echo-opt", Some(Some(0))),
        ("echo-opt", Some(Some(2**32 - 1))),
        ("echo-tup", ("😀", 1.5, -128, True)),
        ("echo-tup", ("\0", -0.0, 127, False)),
        ("echo-tup", ("x", math.inf, 0, True)),
        ("echo-u64", 2**64 - 1),
    ],
)
def test_round_trip_through_the_guest(guest: Guest, name: str, value: Value) -> None:
    assert same(guest.call(name, value), value)


def test_nan_round_trips(guest: Guest) -> None:
    out = guest.call("echo-tup", ("a", math.nan, 1, False))
    assert isinstance(out, tuple) and isinstance(out[1], float) and math.isnan(out[1])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(Case("ok", 41), Case("err", "41")), (Case("err", "four"), Case("ok", 4))],
)
def test_host_import_converts_both_ways(guest: Guest, value: Value, expected: Value) -> None:
    assert guest.call("call-host", value) == expected
    assert guest.host_calls[-1] == value


_slow = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_slow
@given(values(REC))
def test_random_records_round_trip_through_the_guest(guest: Guest, value: Value) -> None:
    assert same(guest.call("echo-rec", value), value)


@_slow
@given(
    st.one_of(
        values(OPT).map(lambda v: ("echo-opt", v)),
        values(TUP).map(lambda v: ("echo-tup", v)),
        values(RES).map(lambda v: ("echo-res", v)),
    )
)
def test_random_values_round_trip_through_the_guest(guest: Guest, case: tuple[str, Value]) -> None:
    name, value = case
    assert same(guest.call(name, value), value)


# --- the wasmtime-level forms, without a guest --------------------------------------------


@pytest.mark.parametrize(
    ("value", "ty", "check_raw"),
    [
        (Case("ok", 5), RES, lambda raw: raw == 5),  # untagged: case sets differ
        (Case("err", "x"), RES, lambda raw: raw == "x"),
        (Case("ok"), ResultT(None, STRING), lambda raw: raw is None),
        (Case("ok"), ResultT(None, None), lambda raw: raw == wc.Variant("ok")),  # tagged
        (Case("ok", 1), ResultT(U32, U64), lambda raw: raw == wc.Variant("ok", 1)),
        (Some(None), OPT, lambda raw: raw == wc.Variant("some", None)),
        (Some(Some(3)), OPT, lambda raw: raw == wc.Variant("some", 3)),
        (Some(3), OptionT(U32), lambda raw: raw == 3),
        (Case("dot"), SHAPE, lambda raw: raw is None),
        (frozenset({"read"}), PERMS, lambda raw: raw == {"read"} and type(raw) is set),
        (b"ab", ListT(U8), lambda raw: raw == b"ab"),
        ([(1, "a")], ListT(TupleT((U8, STRING))), lambda raw: raw == [(1, "a")]),
        (
            {"oplog-idx": 3},
            RecordT((("oplog-idx", U64),)),
            lambda raw: isinstance(raw, wc.Record) and getattr(raw, "oplog-idx") == 3,
        ),
    ],
)
def test_wasmtime_forms(value: Value, ty: WitType, check_raw: Callable[[Any], bool]) -> None:
    raw = to_wasmtime(value, ty)
    assert check_raw(raw)
    assert same(from_wasmtime(raw, ty), value)


@pytest.mark.parametrize(
    ("value", "ty", "message"),
    [
        # bool is an int to isinstance, so wasmtime would send err(true) as ok(1).
        (Case("err", True), ResultT(U32, BOOL), "sends its untagged value True as case 'ok'"),
        # A case holding an untagged option matches every value (object) and shadows later
        # cases.
        (Case("b", "x"), VariantT((("a", OptionT(U32)), ("b", STRING))), "as case 'a'"),
        (Some(Case("f", True)), OptionT(VariantT((("n", U8), ("f", BOOL)))), "as case 'n'"),
    ],
)
def test_values_wasmtime_would_misroute_are_refused(
    value: Value, ty: WitType, message: str
) -> None:
    with pytest.raises(ConversionError, match=message):
        to_wasmtime(value, ty)


def test_unambiguous_neighbours_of_misroutes_pass() -> None:
    ty = VariantT((("a", OptionT(U32)), ("b", STRING)))
    assert to_wasmtime(Case("a", None), ty) is None
    assert from_wasmtime(None, ty) == Case("a", None)
    assert from_wasmtime(5, ty) == Case("a", Some(5))
    assert from_wasmtime("x", ty) == Case("b", "x")  # lifting is exact, unlike wasmtime's
    assert from_wasmtime(True, ResultT(U32, BOOL)) == Case("err", True)


def test_resources_pass_through_as_handles() -> None:
    token = wc.ResourceHost.own(7, 1)
    ty = OptionT(ResourceT("pollable"))
    assert to_wasmtime(Some(Handle(token)), ty) is token
    out = from_wasmtime(token, ty)
    assert isinstance(out, Some) and isinstance(out.value, Handle)
    assert out.value.resource is token


def test_invalid_values_are_type_errors() -> None:
    with pytest.raises(ValueTypeError, match=r"\$\.count\.some: u32 out of range"):
        to_wasmtime({**REC_VALUE, "count": Some(-1)}, REC)


@settings(max_examples=300)
@given(typed_values)
def test_to_then_from_wasmtime_is_identity(case: tuple[WitType, Value]) -> None:
    ty, value = case
    try:
        raw = to_wasmtime(value, ty)
    except ConversionError:
        return  # a value wasmtime-py itself cannot tell apart (see the misroute tests)
    assert same(from_wasmtime(raw, ty), value)
