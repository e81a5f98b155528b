"""golem:core wit-type / wit-value node trees <-> host types and values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from host.agents.wittype import (
    value_from_wit_value,
    wit_type_from_value,
    wit_type_to_value,
    wit_value_from_value,
)
from host.errors import InvalidInput
from host.values import (
    STRING,
    U8,
    U32,
    Case,
    ListT,
    OptionT,
    RecordT,
    ResourceT,
    Some,
    Value,
    WitType,
)
from tests.wit_strategies import same, typed_values, wit_types


def node(case: str, payload: Value = None) -> Value:
    return {"name": None, "owner": None, "type": Case(case, payload)}


@settings(max_examples=300)
@given(wit_types)
def test_type_round_trips(ty: WitType) -> None:
    encoded = wit_type_to_value(ty)
    assert wit_type_from_value(encoded) == ty


@settings(max_examples=300)
@given(typed_values)
def test_value_round_trips(case: tuple[WitType, Value]) -> None:
    ty, value = case
    assert same(value_from_wit_value(wit_value_from_value(value, ty), ty), value)


def test_golem_layout_is_parent_first() -> None:
    ty = RecordT((("name", STRING), ("tags", ListT(STRING))))
    assert wit_type_to_value(ty) == {
        "nodes": [
            node("record-type", [("name", 1), ("tags", 2)]),
            node("prim-string-type"),
            node("list-type", 3),
            node("prim-string-type"),
        ]
    }
    assert wit_value_from_value({"name": "a", "tags": ["x"]}, ty) == {
        "nodes": [
            Case("record-value", [1, 2]),
            Case("prim-string", "a"),
            Case("list-value", [3]),
            Case("prim-string", "x"),
        ]
    }


def test_names_are_dropped_and_shared_nodes_allowed_in_types() -> None:
    named: Value = {"name": Some("point"), "owner": Some("pkg"), "type": Case("tuple-type", [1, 1])}
    assert wit_type_from_value({"nodes": [named, node("prim-u32-type")]}) == wit_type_from_value(
        wit_type_to_value(wit_type_from_value({"nodes": [named, node("prim-u32-type")]}))
    )


def test_handle_types_become_resources() -> None:
    h: Value = {
        "name": Some("counter"),
        "owner": None,
        "type": Case("handle-type", (7, "borrowed")),
    }
    assert wit_type_from_value({"nodes": [h]}) == ResourceT("counter", own=False)
    assert wit_type_from_value({"nodes": [node("handle-type", (7, "owned"))]}) == ResourceT("7")


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([], "at least one node"),
        ([node("list-type", 5)], "out of range"),
        ([node("list-type", 0)], "cycle"),
        ([node("option-type", 1), node("list-type", 0)], "cycle"),
        ([node("record-type", [("a", 1), ("a", 1)]), node("prim-u8-type")], "appears twice"),
        ([node("record-type", "oops")], "malformed"),
        ([node("banana-type")], "unknown wit-type-node case"),
        (["x"], "named-wit-type-node"),
        ([node("list-type", i + 1) for i in range(100)] + [node("prim-u8-type")], "deeper"),
    ],
)
def test_bad_types_are_refused(nodes: list[Value], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        wit_type_from_value({"nodes": nodes})
    assert info.value.field is not None and info.value.field.startswith("wit-type")


@pytest.mark.parametrize(
    ("nodes", "ty", "message"),
    [
        ([Case("prim-string", "a")], U32, r"\$: expected u32 \(prim-u32\), got prim-string"),
        ([Case("prim-u8", 300)], U8, "out of range"),
        ([Case("list-value", [0])], ListT(U8), "used twice"),
        ([Case("list-value", [4])], ListT(U8), "out of range"),
        ([Case("option-value", Some(1)), Case("prim-u32", -1)], OptionT(U32), r"\$\.some"),
        ([Case("record-value", [])], RecordT((("a", U32),)), "has 1 fields, got 0"),
        ([Case("handle", ({"value": "u"}, 1))], ResourceT("r"), "resources"),
    ],
)
def test_bad_values_are_refused(nodes: list[Value], ty: WitType, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        value_from_wit_value({"nodes": nodes}, ty)


def test_encoding_checks_the_value() -> None:
    with pytest.raises(InvalidInput, match=r"\$\.a: expected u32"):
        wit_value_from_value({"a": "x"}, RecordT((("a", U32),)))
