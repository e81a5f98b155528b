"""data-values through schemas: plain JSON, Golem's REST shape and WAVE."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from host.agents.datavalue import (
    data_value_from_json,
    data_value_from_wave,
    data_value_to_json,
    data_value_to_rest_json,
    data_value_to_wave,
    result_to_json,
)
from host.agents.model import (
    ComponentModel,
    DataSchema,
    UnstructuredBinary,
    UnstructuredText,
)
from host.agents.wittype import value_from_wit_value
from host.errors import InvalidInput
from host.values import STRING, U32, Case, OptionT, RecordT, Value, WitType
from tests.wit_strategies import same, typed_values

ARGS = DataSchema(
    "tuple", (("name", ComponentModel(STRING)), ("count", ComponentModel(OptionT(U32))))
)
MEDIA = DataSchema(
    "tuple",
    (("text", UnstructuredText(("en", "de"))), ("image", UnstructuredBinary(("image/png",)))),
)


def cm(dv: Value, i: int, ty: WitType) -> Value:
    assert isinstance(dv, Case) and isinstance(dv.value, list)
    el = dv.value[i]
    assert isinstance(el, Case) and el.name == "component-model"
    return value_from_wit_value(el.value, ty)


def test_plain_forms_agree() -> None:
    a = data_value_from_json(ARGS, ["alice", 5])
    assert data_value_from_json(ARGS, {"name": "alice", "count": 5}) == a
    assert data_value_from_wave(ARGS, '"alice", some(5)') == a
    assert data_value_to_json(ARGS, a) == ["alice", 5]
    assert data_value_to_wave(ARGS, a) == '"alice", some(5)'
    # a trailing option may be left out
    assert cm(data_value_from_json(ARGS, ["bob"]), 1, OptionT(U32)) is None


def test_golem_rest_shape() -> None:
    rest = {
        "type": "Tuple",
        "elements": [
            {"type": "ComponentModel", "value": "alice"},
            {"type": "ComponentModel", "value": None},
        ],
    }
    dv = data_value_from_json(ARGS, rest)
    assert data_value_to_rest_json(ARGS, dv) == rest
    assert result_to_json(DataSchema("tuple", (("r", ComponentModel(STRING)),)),
                          Case("tuple", [dv.value[0]])) == "alice"  # type: ignore[union-attr,index]  # fmt: skip


def test_unstructured_elements() -> None:
    dv = data_value_from_json(MEDIA, [{"data": "hi", "languageCode": "en"},
                                      {"data": "AQI=", "mimeType": "image/png"}])  # fmt: skip
    rest = data_value_to_rest_json(MEDIA, dv)
    assert rest == {
        "type": "Tuple",
        "elements": [
            {"type": "UnstructuredText",
             "value": {"type": "Inline", "data": "hi", "textType": {"languageCode": "en"}}},
            {"type": "UnstructuredBinary",
             "value": {"type": "Inline", "data": [1, 2], "binaryType": {"mimeType": "image/png"}}},
        ],
    }  # fmt: skip
    assert data_value_from_json(MEDIA, rest) == dv
    assert data_value_to_json(MEDIA, dv) == [
        {"data": "hi", "languageCode": "en"},
        {"data": "AQI=", "mimeType": "image/png"},
    ]
    url = data_value_from_json(MEDIA, ["plain", {"url": "https://x/i.png"}])
    assert data_value_to_json(MEDIA, url) == ["plain", {"url": "https://x/i.png"}]


def test_multimodal() -> None:
    s = DataSchema("multimodal", (("t", UnstructuredText()), ("n", ComponentModel(U32))))
    dv = data_value_from_json(s, [{"name": "n", "value": 3}, {"name": "t", "value": "x"}])
    assert data_value_to_json(s, dv) == [{"name": "n", "value": 3}, {"name": "t", "value": "x"}]
    rest = data_value_to_rest_json(s, dv)
    assert data_value_from_json(s, rest) == dv
    assert data_value_from_json(s, {"n": 3, "t": "x"}) == dv
    with pytest.raises(InvalidInput, match="multimodal inputs have no WAVE form"):
        data_value_from_wave(s, "3")


@pytest.mark.parametrize(
    ("schema", "obj", "field", "message"),
    [
        (ARGS, [5], "$.methodParameters[0]", "parameter 'name'.*expected string"),
        (ARGS, [], "$.methodParameters", "expected 2 parameters"),
        (ARGS, ["a", 1, 2], "$.methodParameters", "expected 2 parameters"),
        (ARGS, {"nam": "a"}, "$.methodParameters.nam", "unknown parameter 'nam'"),
        (ARGS, {"count": 1}, "$.methodParameters.name", "missing"),
        (ARGS, {"type": "Multimodal", "elements": []}, "$.methodParameters.type", "expected Tuple"),
        (MEDIA, [{"data": "x", "languageCode": "fr"}, {"url": "u"}],
         "$.methodParameters[0]", "language 'fr' is not allowed"),
        (MEDIA, ["x", {"data": "AQI=", "mimeType": "image/gif"}],
         "$.methodParameters[1]", "MIME type 'image/gif'"),
        (MEDIA, ["x", {"data": "!!", "mimeType": "image/png"}],
         "$.methodParameters[1].data", "base64"),
    ],
)  # fmt: skip
def test_errors_name_the_parameter(
    schema: DataSchema, obj: object, field: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        data_value_from_json(schema, obj, "$.methodParameters")
    assert info.value.field == field


def test_record_error_path() -> None:
    s = DataSchema("tuple", (("r", ComponentModel(RecordT((("a", U32),)))),))
    with pytest.raises(InvalidInput) as info:
        data_value_from_json(s, [{"a": "x"}], "$.parameters")
    assert info.value.field == "$.parameters[0].a"


def test_wave_errors() -> None:
    with pytest.raises(InvalidInput, match="expected 2 arguments"):
        data_value_from_wave(ARGS, '"a"')


@settings(max_examples=200)
@given(typed_values)
def test_json_round_trips(case: tuple[WitType, Value]) -> None:
    ty, value = case
    s = DataSchema("tuple", (("x", ComponentModel(ty)),))
    from host.agents.wittype import wit_value_from_value

    dv = Case("tuple", [Case("component-model", wit_value_from_value(value, ty))])
    plain = json.loads(json.dumps(data_value_to_json(s, dv)))
    assert same(cm(data_value_from_json(s, plain), 0, ty), value)
    rest = json.loads(json.dumps(data_value_to_rest_json(s, dv)))
    assert same(cm(data_value_from_json(s, rest), 0, ty), value)
    assert same(cm(data_value_from_wave(s, data_value_to_wave(s, dv)), 0, ty), value)
