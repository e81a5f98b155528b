"""Golem agent ids: golden texts from Golem 1.5's structural_format tests, and round trips."""

from __future__ import annotations

import math
import struct
import uuid

import pytest
from hypothesis import assume, given, settings

from host.agents.agentid import (
    canonical_agent_id,
    kebab,
    make_agent_id,
    parse_agent_id,
    resolve_agent_id,
)
from host.agents.datavalue import data_value_from_json
from host.agents.model import (
    AgentConstructor,
    AgentType,
    ComponentModel,
    DataSchema,
    ElementSchema,
    UnstructuredBinary,
    UnstructuredText,
)
from host.agents.structural import format_float, normalize_structural
from host.agents.wittype import wit_value_from_value
from host.errors import InvalidInput
from host.values import (
    BOOL,
    CHAR,
    F32,
    F64,
    S32,
    STRING,
    U8,
    U32,
    Case,
    EnumT,
    FlagsT,
    ListT,
    OptionT,
    RecordT,
    ResultT,
    Some,
    TupleT,
    Value,
    VariantT,
    WitType,
)
from host.values.types import round_f32
from tests.wit_strategies import typed_values

PHANTOM = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")


def agent(name: str, *elements: tuple[str, ElementSchema], kind: str = "tuple") -> AgentType:
    schema = DataSchema(kind, tuple(elements))  # type: ignore[arg-type]
    return AgentType(name, "", "", AgentConstructor(None, "", None, schema), ())


def cm_value(*pairs: tuple[WitType, Value]) -> Value:
    return Case("tuple", [Case("component-model", wit_value_from_value(v, t)) for t, v in pairs])


FLAGS3 = FlagsT(("a", "b", "c"))


@pytest.mark.parametrize(
    ("pairs", "text"),
    [
        ([], ""),
        ([(U32, 42)], "42"),
        ([(S32, -42)], "-42"),
        ([(F64, 0.0)], "0.0"),
        ([(F64, -0.0)], "0.0"),
        ([(F32, 1.5)], "1.5"),
        ([(F64, 1e20)], "100000000000000000000.0"),
        ([(F32, 0.1)], "0.1"),
        ([(BOOL, True), (BOOL, False)], "true,false"),
        ([(STRING, "hello")], '"hello"'),
        ([(STRING, 'hello\n"world"\t\\')], r'"hello\n\"world\"\t\\"'),
        ([(CHAR, "a")], 'c"a"'),
        ([(CHAR, "\n")], r'c"\n"'),
        ([(TupleT((U32, U32)), (10, 20))], "(10,20)"),
        ([(RecordT(()), {})], "()"),
        (
            [(U32, 32), (RecordT((("x", U32), ("y", U32), ("f", FLAGS3))),
                         {"x": 12, "y": 32, "f": frozenset({"a", "c"})})],
            "32,(12,32,f(0,2))",
        ),
        ([(ListT(U32), [12, 13, 14])], "[12,13,14]"),
        ([(ListT(U32), [])], "[]"),
        ([(EnumT(("a", "b", "c")), "b")], "v1"),
        ([(VariantT((("a", None), ("b", STRING))), Case("b", "hello"))], 'v1("hello")'),
        ([(OptionT(U32), Some(42))], "s(42)"),
        ([(OptionT(U32), None)], "n"),
        ([(ResultT(U32, STRING), Case("ok", 1))], "ok(1)"),
        ([(ResultT(None, STRING), Case("ok"))], "ok"),
        ([(ResultT(U32, STRING), Case("err", "bad"))], 'err("bad")'),
        ([(ResultT(U32, None), Case("err"))], "err"),
        ([(FLAGS3, frozenset())], "f()"),
        ([(ListT(U8), b"\x01\x02")], "[1,2]"),
    ],
)  # fmt: skip
def test_golden_structural_texts(pairs: list[tuple[WitType, Value]], text: str) -> None:
    t = agent("A", *((f"p{i}", ComponentModel(ty)) for i, (ty, _) in enumerate(pairs)))
    dv = cm_value(*pairs)
    assert make_agent_id(t, dv) == f"A({text})"
    _, back = resolve_agent_id(parse_agent_id(f"A({text})"), [t])
    assert make_agent_id(t, back) == f"A({text})"


def test_unstructured_and_multimodal_goldens() -> None:
    t = agent("T", ("a", UnstructuredText()), ("b", UnstructuredBinary()))
    dv = data_value_from_json(
        t.constructor.input_schema,
        [{"data": "hallo", "languageCode": "de"}, {"data": "e30=", "mimeType": "application/json"}],
    )
    assert make_agent_id(t, dv) == 'T(@t[de]"hallo",@b[application/json]"e30=")'
    url = data_value_from_json(
        t.constructor.input_schema, [{"url": "https://example.com/"}, {"url": "https://x/i.png"}]
    )
    assert make_agent_id(t, url) == 'T(@tu"https://example.com/",@bu"https://x/i.png")'
    m = agent("M", ("n", ComponentModel(U32)), ("t", UnstructuredText()), kind="multimodal")
    text = 'M(0(42),1(@t"hello"),1(@t"second"))'
    assert canonical_agent_id(text, [m]) == text


def test_workflow_agent_in_both_generations() -> None:
    t = agent("WorkflowAgent", ("name", ComponentModel(STRING)))
    dv = cm_value((STRING, "alice"))
    assert make_agent_id(t, dv) == 'WorkflowAgent("alice")'
    assert make_agent_id(t, dv, PHANTOM) == f'WorkflowAgent("alice")[{PHANTOM}]'
    assert make_agent_id(t, dv, generation="1.4") == 'workflow-agent("alice")'
    for text in ['workflow-agent("alice")', ' WorkflowAgent( "alice" ) ']:
        assert canonical_agent_id(text, [t]) == 'WorkflowAgent("alice")'


def test_trailing_options_may_be_left_out() -> None:
    t = agent("A", ("x", ComponentModel(U32)), ("y", ComponentModel(OptionT(U32))))
    assert canonical_agent_id("A(1)", [t]) == "A(1,n)"
    r = agent("R", ("r", ComponentModel(RecordT((("a", U32), ("b", OptionT(U32)))))))
    assert canonical_agent_id("R((1))", [r]) == "R((1,n))"


def test_normalize_keeps_strings() -> None:
    assert normalize_structural("  42 , ( 10 , 20 )  ") == "42,(10,20)"
    assert normalize_structural(r'  "hello\" world"  ') == r'"hello\" world"'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nothing", "expected TYPE"),
        ('A("x")[not-a-uuid]', "not a UUID"),
        ("(1)", "expected TYPE"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_agent_id(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("B(1)", "no agent type 'B'"),
        ("A(01)", "leading zeros"),
        ("A(1,2)", "trailing input"),
        ("A(-0)", "expected an integer"),
        ('A("x")', "expected an integer"),
    ],
)
def test_resolve_errors(text: str, message: str) -> None:
    t = agent("A", ("x", ComponentModel(U32)))
    with pytest.raises(InvalidInput, match=message):
        canonical_agent_id(text, [t])


def test_nan_is_refused() -> None:
    t = agent("A", ("x", ComponentModel(F64)))
    with pytest.raises(InvalidInput, match="NaN"):
        make_agent_id(t, cm_value((F64, math.nan)))


def test_kebab_case() -> None:
    assert kebab("WorkflowAgent") == "workflow-agent"
    assert kebab("HTTPServerAgent") == "http-server-agent"
    assert kebab("weather_agent") == "weather-agent"


def _finite(v: object) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, list | tuple):
        return all(_finite(x) for x in v)
    if isinstance(v, dict):
        return all(_finite(x) for x in v.values())
    if isinstance(v, Case | Some):
        return _finite(v.value)
    return True


@settings(max_examples=300)
@given(typed_values)
def test_canonical_text_round_trips(case: tuple[WitType, Value]) -> None:
    ty, value = case
    assume(_finite(value))
    t = agent("Agent", ("x", ComponentModel(ty)), ("y", ComponentModel(STRING)))
    text = make_agent_id(t, cm_value((ty, value), (STRING, "k")), PHANTOM)
    parsed = parse_agent_id(text)
    assert parsed.phantom == PHANTOM and parsed.type_name == "Agent"
    assert canonical_agent_id(text, [t]) == text


def test_the_largest_f32_prints_without_overflowing() -> None:
    # 3.4028235e38 (the largest f32): its 4-digit candidate 3.403e38 rounds past the f32
    # range, which once raised OverflowError instead of trying a longer candidate.
    largest = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]
    for v in (largest, -largest):
        text = format_float(v, "f32")
        assert round_f32(float(text)) == v
