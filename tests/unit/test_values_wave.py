"""WAVE parsing and printing, the type model's check() and describe()."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings

from host.values import (
    BOOL,
    CHAR,
    F32,
    F64,
    S8,
    S64,
    STRING,
    U8,
    U32,
    U64,
    Case,
    EnumT,
    FlagsT,
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
    WaveError,
    WitType,
    check,
    describe,
    format_call,
    format_value,
    parse_args,
    parse_call,
    parse_value,
)
from tests.wit_strategies import same, typed_values

ITEM = RecordT((("name", STRING), ("qty", U32)))
AB = RecordT((("a", U32), ("b", ListT(U32))))
SHAPE = VariantT((("circle", F64), ("square", U32), ("dot", None)))
KW_ENUM = EnumT(("none", "some", "left"))
PERMS = FlagsT(("read", "write", "exec"))
OPTS = RecordT((("required", U8), ("optional", OptionT(U8)), ("opt2", OptionT(STRING))))


@settings(max_examples=400)
@given(typed_values)
def test_format_then_parse_is_identity(case: tuple[WitType, Value]) -> None:
    ty, value = case
    text = format_value(value, ty)
    assert same(parse_value(text, ty), value), text


@given(typed_values, typed_values)
def test_format_call_then_parse_is_identity(
    first: tuple[WitType, Value], second: tuple[WitType, Value]
) -> None:
    types, values = [first[0], second[0]], [first[1], second[1]]
    name, args = parse_call(format_call("golem:it/api.{do-it}", values, types))
    assert name == "golem:it/api.{do-it}"
    assert same(parse_args(args, types), values)


@pytest.mark.parametrize(
    ("text", "ty", "expected"),
    [
        ("true", BOOL, True),
        (" false ", BOOL, False),
        ("-128", S8, -128),
        ("18446744073709551615", U64, 2**64 - 1),
        ("-9223372036854775808", S64, -(2**63)),
        ("+7", U32, 7),
        ("3.25", F64, 3.25),
        ("6.022e+23", F64, 6.022e23),
        ("1", F64, 1.0),
        ("-inf", F64, -math.inf),
        ("inf", F32, math.inf),
        ("0.1", F32, 0.10000000149011612),  # rounded to f32 as the guest would
        ("'x'", CHAR, "x"),
        (r"'\''", CHAR, "'"),
        ("'\"'", CHAR, '"'),
        (r"'\u{1F600}'", CHAR, "\U0001f600"),
        (r"'\u{0}'", CHAR, "\0"),
        (r'"a\tb\n\\\"q\" \u{48}i"', STRING, 'a\tb\n\\"q" Hi'),
        ('"it\'s"', STRING, "it's"),
        ('"""\n  line one\n    indented\n  """', STRING, "line one\n  indented"),
        ('"""\nraw "quotes" ok\n"""', STRING, 'raw "quotes" ok'),
        ("[1, 2, 3,]", ListT(U32), [1, 2, 3]),
        ("[]", ListT(STRING), []),
        ("[0, 255]", ListT(U8), b"\x00\xff"),
        ('(1, "a")', TupleT((U32, STRING)), (1, "a")),
        ("(1,)", TupleT((U32,)), (1,)),
        ('{qty: 2, name: "x"}', ITEM, {"name": "x", "qty": 2}),
        ("{a: 1, b: [2, 3]}", AB, {"a": 1, "b": [2, 3]}),
        ("{required: 1}", OPTS, {"required": 1, "optional": None, "opt2": None}),
        (
            '{required: 1, optional: 5, opt2: some("s"),}',
            OPTS,
            {"required": 1, "optional": Some(5), "opt2": Some("s")},
        ),
        ("{:}", RecordT((("o", OptionT(U8)),)), {"o": None}),
        ("{}", RecordT((("o", OptionT(U8)),)), {"o": None}),
        ("circle(1.5)", SHAPE, Case("circle", 1.5)),
        ("dot", SHAPE, Case("dot")),
        ("%none", KW_ENUM, "none"),
        ("left", KW_ENUM, "left"),
        ("none", OptionT(KW_ENUM), None),
        ("%none", OptionT(KW_ENUM), Some("none")),
        ("some(%some)", OptionT(KW_ENUM), Some("some")),
        ("5", OptionT(U32), Some(5)),
        ("some(5)", OptionT(U32), Some(5)),
        ("none", OptionT(OptionT(U32)), None),
        ("some(none)", OptionT(OptionT(U32)), Some(None)),
        ("some(7)", OptionT(OptionT(U32)), Some(Some(7))),
        ("ok(5)", ResultT(U64, STRING), Case("ok", 5)),
        ("5", ResultT(U64, STRING), Case("ok", 5)),
        ('err("no")', ResultT(U64, STRING), Case("err", "no")),
        ("ok", ResultT(None, STRING), Case("ok")),
        ("err", ResultT(None, None), Case("err")),
        ("{}", PERMS, frozenset()),
        ("{write, read,}", PERMS, frozenset({"read", "write"})),
        ("// leading comment\n[1, // one\n 2] // trailing", ListT(U8), b"\x01\x02"),
    ],
)
def test_parse_examples(text: str, ty: WitType, expected: Value) -> None:
    assert same(parse_value(text, ty), expected)


@pytest.mark.parametrize(
    ("value", "ty", "text"),
    [
        (Some("none"), OptionT(KW_ENUM), "some(%none)"),
        (frozenset({"exec", "read"}), PERMS, "{read, exec}"),
        (
            {"required": 1, "optional": None, "opt2": Some("x")},
            OPTS,
            '{required: 1, optional: none, opt2: some("x")}',
        ),
        (Case("err", 'a"b\n'), ResultT(U64, STRING), 'err("a\\"b\\n")'),
        ("'", CHAR, "'\\''"),
        ("\x01", STRING, '"\\u{1}"'),
        (0.1, F64, "0.1"),
        (0.10000000149011612, F32, "0.1"),
        (math.nan, F64, "nan"),
        (-math.inf, F32, "-inf"),
        (b"\x01\x02", ListT(U8), "[1, 2]"),
        ((1, "a"), TupleT((U32, STRING)), '(1, "a")'),
        (Case("dot"), SHAPE, "dot"),
        (Case("ok"), ResultT(None, STRING), "ok"),
    ],
)
def test_format_examples(value: Value, ty: WitType, text: str) -> None:
    assert format_value(value, ty) == text


@pytest.mark.parametrize(
    ("text", "ty", "message"),
    [
        ('{a: 1, b: [2, "x"]}', AB, 'at 14: expected u32, found string "x"'),
        ("300", U8, "at 0: u8 out of range (0..=255): 300"),
        ("-1", U32, "at 0: u32 out of range (0..=4294967295): -1"),
        ("1.5", U32, "at 0: expected u32, found number 1.5"),
        ("true", U32, "at 0: expected u32, found keyword true"),
        ("'ab'", CHAR, "at 0: a char literal holds exactly one character"),
        (r"'\u{D800}'", CHAR, "is not a Unicode scalar value"),
        (r'"\q"', STRING, "at 2: invalid escape"),
        ('"abc', STRING, "at 0: unterminated literal"),
        ("1e39", F32, "at 0: f32 out of range: 1e39"),
        ("[1, 2", ListT(U8), "at 5: expected ',' or ']', found end of input"),
        ("(1, 2, 3)", TupleT((U8, U8)), "tuple<u8, u8> has 2 elements, found more"),
        ("(1)", TupleT((U8, U8)), "at 0: tuple<u8, u8> has 2 elements, found 1"),
        ('{name: "x"}', ITEM, "at 0: missing field 'qty' of record { name: string, qty: u32 }"),
        ("{qty: 1, qty: 2}", ITEM, "at 9: field 'qty' given twice"),
        ("{size: 1}", ITEM, "at 1: unknown field 'size'"),
        (
            "{read, delete}",
            PERMS,
            "at 7: expected a flag of flags { read, write, exec }, found label delete",
        ),
        ("{read, read}", PERMS, "flag 'read' given twice"),
        (
            "triangle",
            SHAPE,
            "expected variant { circle(f64), square(u32), dot }, found label triangle",
        ),
        (
            "circle",
            SHAPE,
            "case circle of variant { circle(f64), square(u32), dot } "
            "needs a payload: circle(<f64>)",
        ),
        ("dot(1)", SHAPE, "case dot of variant"),
        (
            "7",
            OptionT(OptionT(U32)),
            "at 0: expected option<option<u32>> (none or some(...)), found number 7",
        ),
        ("ok(1)", ResultT(None, STRING), "case ok of result<_, string> has no payload"),
        ("1 2", U32, "at 2: expected end of input, found number 2"),
        ("", STRING, "at 0: expected string, found end of input"),
        ("x", ResourceT("pollable"), "at 0: expected own<pollable> as a handle string"),
        ('"x"', ResourceT("pollable"), "expected a resource handle as"),
    ],
)
def test_parse_errors(text: str, ty: WitType, message: str) -> None:
    with pytest.raises(WaveError) as info:
        parse_value(text, ty)
    assert message in str(info.value)


def test_error_carries_offset_and_base() -> None:
    with pytest.raises(WaveError) as info:
        parse_value('"x"', U32, base=10)
    assert info.value.offset == 10
    assert str(info.value) == 'at 10: expected u32, found string "x"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('add(1, "x", {a: 1, b: [2, 3]})', ("add", '1, "x", {a: 1, b: [2, 3]}')),
        ("start-approval()", ("start-approval", "")),
        ("start-approval", ("start-approval", "")),
        ("golem:it/api.{create}(1)", ("golem:it/api.{create}", "1")),
        ("pkg:ns/iface#fn( (1, 2) ) ", ("pkg:ns/iface#fn", " (1, 2) ")),
        ('[method]counter.inc("a)")', ("[method]counter.inc", '"a)"')),
    ],
)
def test_parse_call(text: str, expected: tuple[str, str]) -> None:
    assert parse_call(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("f(1", "expected ')' to close the argument list"), ("(1)", "expected a function name")],
)
def test_parse_call_errors(text: str, message: str) -> None:
    with pytest.raises(WaveError, match=re.escape(message)):
        parse_call(text)


def test_parse_args_example_from_the_cli() -> None:
    name, args = parse_call('add(1, "x", {a: 1, b: [2, 3]})')
    assert parse_args(args, [U32, STRING, AB]) == [1, "x", {"a": 1, "b": [2, 3]}]
    assert parse_args(" ", []) == []
    assert parse_args("1, 2,", [U8, U8]) == [1, 2]


@pytest.mark.parametrize(
    ("args", "params", "message"),
    [
        ("1", [U32, STRING], "at 1: expected 2 arguments (u32, string), given 1"),
        ("", [U32], "at 0: expected 1 argument (u32), given 0"),
        (
            '1, "x", 3, [4, (5)], some(x)',
            [U32, STRING],
            "at 8: expected 2 arguments (u32, string), given 5",
        ),
        ("1", [], "at 0: expected 0 arguments (), given 1"),
        ('1 "x"', [U32, STRING], "at 2: expected ',' or ')', found string \"x\""),
        ('"x", 1', [U32, STRING], 'at 0: expected u32, found string "x"'),
    ],
)
def test_parse_args_errors(args: str, params: list[WitType], message: str) -> None:
    with pytest.raises(WaveError) as info:
        parse_args(args, params)
    assert str(info.value) == message


def test_format_call() -> None:
    text = format_call(
        "f", [1, Some("x"), Case("err", "e")], [U32, OptionT(STRING), ResultT(U32, STRING)]
    )
    assert text == 'f(1, some("x"), err("e"))'
    with pytest.raises(ValueTypeError, match=r"\$\.params\[1\]: expected u32"):
        format_call("f", [1, "x"], [U32, U32])


def test_resources_are_not_written() -> None:
    handle = Handle(object())
    check(handle, ResourceT("pollable"))
    with pytest.raises(ValueTypeError, match="resources cannot be written as values"):
        format_value(Some(handle), OptionT(ResourceT("pollable")))


@pytest.mark.parametrize(
    ("value", "ty", "message"),
    [
        (
            {"items": [{"name": "a", "qty": 1}, {"name": "b", "qty": 2}, {"name": 3, "qty": 1}]},
            RecordT((("items", ListT(ITEM)),)),
            "$.items[2].name: expected string, got 3",
        ),
        ({"name": "x", "qty": "x"}, ITEM, '$.qty: expected u32, got "x"'),
        (True, U32, "$: expected u32, got True"),
        (1, BOOL, "$: expected bool, got 1"),
        (256, U8, "$: u8 out of range (0..=255): 256"),
        (1, F64, "$: expected f64, got 1"),
        ("ab", CHAR, '$: expected char (one code point), got "ab"'),
        ("\ud800", STRING, "lone surrogate"),
        ([1], ListT(U8), "expected list<u8> as bytes"),
        ({"name": "x"}, ITEM, "missing field 'qty'"),
        ({"name": "x", "qty": 1, "z": 0}, ITEM, "unknown field 'z'"),
        (Case("dot", 1), SHAPE, "case 'dot' of variant"),
        (Case("circle", 1), SHAPE, "$.circle: expected f64, got 1"),
        (Some(Some(1)), OptionT(U8), "$.some: expected u8, got Some(value=1)"),
        (5, OptionT(U8), "expected option<u8> (None or Some), got 5"),
        (frozenset({"x"}), PERMS, "expected a frozenset of names"),
        ({"read"}, PERMS, "expected a frozenset of names"),
        ("up", EnumT(("left",)), 'expected one of enum { left }, got "up"'),
        (1, ResourceT("r", own=False), "expected a Handle for borrow<r>"),
    ],
)
def test_check_errors(value: object, ty: WitType, message: str) -> None:
    with pytest.raises(ValueTypeError) as info:
        check(value, ty)
    assert message in str(info.value)


def test_describe() -> None:
    assert describe(ListT(U8)) == "list<u8>"
    assert describe(OptionT(STRING)) == "option<string>"
    assert describe(RecordT((("a", U32),))) == "record { a: u32 }"
    assert describe(ResultT(None, None)) == "result"
    assert describe(ResultT(U32, None)) == "result<u32>"
    assert describe(ResultT(None, STRING)) == "result<_, string>"
    assert describe(TupleT((U8, CHAR))) == "tuple<u8, char>"
    assert describe(SHAPE) == "variant { circle(f64), square(u32), dot }"
    assert describe(PERMS) == "flags { read, write, exec }"
    assert describe(ResourceT("pollable", own=False)) == "borrow<pollable>"
