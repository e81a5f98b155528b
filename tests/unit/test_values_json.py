"""The Golem-style JSON mapping of values."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings

from host.values import (
    BOOL,
    CHAR,
    F32,
    F64,
    S64,
    STRING,
    U8,
    U32,
    U64,
    Case,
    EnumT,
    FlagsT,
    Handle,
    Json,
    ListT,
    OptionT,
    RecordT,
    ResourceT,
    ResultT,
    Some,
    TupleT,
    Value,
    ValueJsonError,
    ValueTypeError,
    VariantT,
    WitType,
    from_json,
    to_json,
)
from tests.wit_strategies import same, typed_values

ITEM = RecordT((("name", STRING), ("oplog-idx", U64), ("note", OptionT(STRING))))
SHAPE = VariantT((("circle", F64), ("square", U32), ("dot", None)))
PERMS = FlagsT(("read", "write", "exec"))


@settings(max_examples=400)
@given(typed_values)
def test_to_json_then_from_json_is_identity(case: tuple[WitType, Value]) -> None:
    ty, value = case
    # Through real JSON text, strictly: nan and infinities must not leak out as bare tokens.
    text = json.dumps(to_json(value, ty), allow_nan=False)
    assert same(from_json(json.loads(text), ty), value), text


@pytest.mark.parametrize(
    ("value", "ty", "expected"),
    [
        (True, BOOL, True),
        (2**64 - 1, U64, 18446744073709551615),
        (-(2**63), S64, -9223372036854775808),
        (1.5, F64, 1.5),
        (math.nan, F64, "NaN"),
        (0.10000000149011612, F32, 0.1),  # an f32 as its shortest decimal
        (math.inf, F32, "Infinity"),
        (-math.inf, F64, "-Infinity"),
        ("x", CHAR, "x"),
        (b"\x00\xff", ListT(U8), [0, 255]),
        ([1, 2], ListT(U32), [1, 2]),
        ((1, "a"), TupleT((U32, STRING)), [1, "a"]),
        (
            {"name": "n", "oplog-idx": 3, "note": None},
            ITEM,
            {"name": "n", "oplog-idx": 3, "note": None},
        ),
        (
            {"name": "n", "oplog-idx": 3, "note": Some("hi")},
            ITEM,
            {"name": "n", "oplog-idx": 3, "note": "hi"},
        ),
        (None, OptionT(U32), None),
        (Some(5), OptionT(U32), 5),
        (None, OptionT(OptionT(U32)), None),
        (Some(None), OptionT(OptionT(U32)), {"some": None}),
        (Some(Some(5)), OptionT(OptionT(U32)), {"some": 5}),
        (Some(Some(Some(1))), OptionT(OptionT(OptionT(U8))), {"some": {"some": 1}}),
        (Case("ok", 42), ResultT(U64, STRING), {"ok": 42}),
        (Case("err", "boom"), ResultT(U64, STRING), {"err": "boom"}),
        (Case("ok"), ResultT(None, STRING), {"ok": None}),
        (Case("circle", 2.5), SHAPE, {"circle": 2.5}),
        (Case("dot"), SHAPE, {"dot": None}),
        ("red", EnumT(("red", "green")), "red"),
        (frozenset({"exec", "read"}), PERMS, ["read", "exec"]),
    ],
)
def test_to_json_examples(value: Value, ty: WitType, expected: Json) -> None:
    assert to_json(value, ty) == expected
    assert same(from_json(expected, ty), value)


@pytest.mark.parametrize(
    ("obj", "ty", "expected"),
    [
        (3, F64, 3.0),  # integers are numbers too
        (0.1, F32, 0.10000000149011612),  # rounded to f32 as the guest would
        ({"name": "n", "oplog-idx": 1}, ITEM, {"name": "n", "oplog-idx": 1, "note": None}),
        (["write", "read"], PERMS, frozenset({"read", "write"})),
    ],
)
def test_from_json_leniencies(obj: Json, ty: WitType, expected: Value) -> None:
    assert same(from_json(obj, ty), expected)


@pytest.mark.parametrize(
    ("obj", "ty", "message"),
    [
        (
            [{"name": "a", "oplog-idx": 1}, {"name": 5, "oplog-idx": 1}],
            ListT(ITEM),
            "$.params[1][1].name: expected string, got 5",
        ),
        ({"name": "a", "oplog-idx": "1"}, ITEM, '$.params[1].oplog-idx: expected u64, got "1"'),
        ({"name": "a"}, ITEM, "$.params[1]: missing field 'oplog-idx' of record"),
        ({"name": "a", "oplog-idx": 1, "x": 2}, ITEM, "unknown field 'x'"),
        (True, U32, "$.params[1]: expected u32, got true"),
        (1.0, U32, "expected u32, got 1.0"),
        (-1, U64, "u64 out of range (0..=18446744073709551615): -1"),
        (1, BOOL, "expected bool, got 1"),
        ("nan", F64, 'expected f64, got "nan"'),
        (1e39, F32, "f32 out of range: 1e+39"),
        (10**400, F64, "f64 out of range"),
        ("ab", CHAR, 'expected char (a one-character string), got "ab"'),
        ([1, 256], ListT(U8), "$.params[1][1]: u8 out of range (0..=255): 256"),
        ("AAE=", ListT(U8), "expected list<u8> as an array"),
        ([1], TupleT((U8, U8)), "expected tuple<u8, u8> with 2 elements, got 1"),
        ({"circle": 1.0, "dot": None}, SHAPE, 'as one of {"circle": ...}, {"square": ...}'),
        ("dot", SHAPE, "expected variant { circle(f64), square(u32), dot }"),
        ({"dot": 1}, SHAPE, "$.params[1].dot: case 'dot' has no payload: expected null, got 1"),
        ({"square": -1}, SHAPE, "$.params[1].square: u32 out of range"),
        ({"Ok": 1}, ResultT(U32, None), 'as one of {"ok": ...}, {"err": ...}'),
        (5, OptionT(OptionT(U32)), 'as null or {"some": ...}, got 5'),
        ({"some": "x"}, OptionT(OptionT(U32)), '$.params[1].some: expected u32, got "x"'),
        ("blue", EnumT(("red",)), 'expected one of enum { red }, got "blue"'),
        (["read", "read"], PERMS, "$.params[1][1]: flag 'read' given twice"),
        (["nope"], PERMS, "$.params[1][0]: expected a flag of flags { read, write, exec }"),
        ("read", PERMS, "expected flags { read, write, exec } as an array of names"),
        (1, ResourceT("pollable"), 'expected own<pollable> as a handle string "<uri>/<id>"'),
        ("x", ResourceT("pollable"), "expected a resource handle as"),
    ],
)
def test_from_json_errors(obj: object, ty: WitType, message: str) -> None:
    with pytest.raises(ValueJsonError) as info:
        from_json(obj, ty, "$.params[1]")
    assert message in str(info.value)


def test_error_carries_path() -> None:
    with pytest.raises(ValueJsonError) as info:
        from_json({"name": 1, "oplog-idx": 0}, ITEM)
    assert info.value.path == "$.name"
    assert info.value.message == "expected string, got 1"


def test_to_json_checks_the_value() -> None:
    with pytest.raises(ValueTypeError, match=r"\$\.oplog-idx: expected u64"):
        to_json({"name": "n", "oplog-idx": "3", "note": None}, ITEM)
    with pytest.raises(ValueTypeError, match="resources cannot be written as values"):
        to_json(Case("ok", Handle(object())), ResultT(ResourceT("r"), None))
