"""host.server.payloads.json_completion: the quick read of a JSON completion (pydantic-core's
parser and ``bytes()``) gives what strict validation of CompleteRequest gives, on random
bodies valid and not; where it cannot be sure it leaves the body to CompleteRequest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from hypothesis import given
from hypothesis import strategies as st

from host.server import payloads
from host.server.payloads import CompleteRequest, JsonCompletion

_element = st.one_of(
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(-3, 300),
    st.booleans(),
    st.floats(0, 255, allow_nan=False),
    st.none(),
    st.text(max_size=2),
)
_data = st.one_of(
    st.lists(st.integers(0, 255), max_size=50),
    st.lists(_element, max_size=8),
    st.text(max_size=3),
    st.integers(),
    st.none(),
)
_idx = st.one_of(st.integers(1, 2**64 - 1), st.integers(-2, 2**64 + 2), st.booleans(), st.floats())
_secret = st.one_of(st.none(), st.text(max_size=8), st.integers(), st.just("true"))
_body = st.fixed_dictionaries(
    {},
    optional={"oplogIdx": _idx, "data": _data, "secret": _secret, "extra": st.integers()},
)


def _strict(body: bytes) -> JsonCompletion | None:
    """What CompleteRequest alone makes of the body (None: refused)."""
    try:
        model = CompleteRequest.model_validate_json(body)
    except ValueError:
        return None
    return JsonCompletion(model.oplogIdx, bytes(model.data), model.secret)


def _read(body: bytes) -> JsonCompletion | None:
    try:
        return payloads.json_completion(body, "application/json")
    except RequestValidationError:
        return None


@given(_body)
def test_quick_and_strict_agree(fields: dict[str, Any]) -> None:
    body = json.dumps(fields).encode()
    assert _read(body) == _strict(body)


@given(st.binary(max_size=40))
def test_quick_and_strict_agree_on_any_bytes(body: bytes) -> None:
    assert _read(body) == _strict(body)


def test_a_valid_body_is_read_quickly_and_an_odd_one_strictly() -> None:
    body = json.dumps({"oplogIdx": 3, "data": [0, 255, 7], "secret": "s"}).encode()
    assert payloads._quick(body) == JsonCompletion(3, bytes([0, 255, 7]), "s")
    odd_bodies: list[dict[str, Any]] = [
        {"oplogIdx": 3, "data": [True]},  # a bool is no byte for strict validation
        {"oplogIdx": 3, "data": [256]},
        {"oplogIdx": 3, "data": [1.0]},
        {"oplogIdx": 0, "data": []},
        {"oplogIdx": 3, "data": [], "other": 1},
        {"data": []},
    ]
    for odd in odd_bodies:
        assert payloads._quick(json.dumps(odd).encode()) is None
        with pytest.raises(RequestValidationError):
            payloads.json_completion(json.dumps(odd).encode(), "application/json")
