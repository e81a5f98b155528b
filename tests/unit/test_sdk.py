"""The code-first guest SDK's pure parts (guest_examples/sdk/agent_sdk), on the host's
Python (no component needed): promise ids, the typed JSON codec the promise helpers use,
the errors of calls made outside a component, and the event loop's deadlock guard. The
agent decorators and value schemas are in test_agent_sdk.py; guest behaviour is in
tests/host/test_sdk_async.py and tests/e2e/test_examples.py."""

from __future__ import annotations

import asyncio
import enum
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "guest_examples" / "sdk"))

import agent_sdk as sdk  # noqa: E402
from agent_sdk import jsoncodec  # noqa: E402
from agent_sdk.loop import run  # noqa: E402

from host.ids import PromiseId as HostPromiseId  # noqa: E402

CID = uuid.UUID("7e84a1d0-5b6c-4d2e-8f90-0123456789ab")


# -- promise ids ------------------------------------------------------------------------------
def test_promise_id_string_form_parses_back_and_matches_the_host() -> None:
    promise = sdk.PromiseId(sdk.AgentId(CID, 'WorkflowAgent("alice")'), 15)
    text = str(promise)
    assert text == f'{CID}/WorkflowAgent("alice")/15'
    assert sdk.PromiseId.parse(text) == promise
    assert str(HostPromiseId.parse(text)) == text  # the host reads the SDK's form
    assert promise.agent_id.agent_id == 'WorkflowAgent("alice")'  # Golem's field name
    assert str(promise.agent_id) == f'{CID}/WorkflowAgent("alice")'
    # An agent id may hold "/": the uuid comes first and the index last.
    slashed = sdk.PromiseId.parse(f'{CID}/FileAgent("a/b")/3')
    assert slashed.agent_id.agent_id == 'FileAgent("a/b")' and slashed.oplog_idx == 3


@pytest.mark.parametrize(
    "text",
    ["", "alice/15", f"{CID}/alice", f"{CID}/alice/x", f"{CID}/alice/-1", "not-a-uuid/alice/1"],
)
def test_bad_promise_ids_are_a_value_error_saying_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid promise id .*expected <component-uuid>/"):
        sdk.PromiseId.parse(text)


def test_promise_id_to_and_from_neutral_records() -> None:
    # The shape the generated binding records have (golem:core/types promise-id).
    promise = sdk.PromiseId(sdk.AgentId(CID, 'WorkflowAgent("bob")'), 7)
    record = promise.to_neutral()
    halves = record["agent_id"]["component_id"]["uuid"]
    assert halves == {"high_bits": CID.int >> 64, "low_bits": CID.int & ((1 << 64) - 1)}
    assert record["agent_id"]["agent_id"] == 'WorkflowAgent("bob")'
    assert record["oplog_idx"] == 7
    assert sdk.PromiseId.from_neutral(record) == promise


# -- typed JSON -------------------------------------------------------------------------------
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Item:
    name: str
    price: float
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Order:
    id: int
    items: list[Item]
    colour: Colour | None = None
    note: str | None = None
    status: Literal["open", "paid"] = "open"


def test_a_dataclass_round_trips_through_json() -> None:
    order = Order(3, [Item("pen", 1.5, ["a"]), Item("ink", 2)], Colour.BLUE, None, "paid")
    data = jsoncodec.encode(order)
    assert data == (
        b'{"id":3,"items":[{"name":"pen","price":1.5,"tags":["a"]},'
        b'{"name":"ink","price":2,"tags":[]}],"colour":"blue","note":null,"status":"paid"}'
    )
    assert jsoncodec.decode(data, Order) == order
    # Unknown keys are ignored (serde's default); defaults fill what is missing.
    assert jsoncodec.decode(b'{"id": 1, "items": [], "extra": true}', Order) == Order(1, [])


@pytest.mark.parametrize(
    ("payload", "tp", "message"),
    [
        (b"nope", Order, "not JSON"),
        (b"\xff", str, "not UTF-8"),
        (b'"x"', Order, "expected an object (Order), got a string"),
        (b'{"items": []}', Order, "missing field 'id' of Order"),
        (b'{"id": true, "items": []}', Order, "at $.id: expected an integer, got a boolean"),
        (
            b'{"id": 1, "items": [{"name": "a", "price": "1"}]}',
            Order,
            'at $.items[0].price: expected a number, got a string "1"',
        ),
        (b'{"id": 1, "items": [], "colour": "green"}', Order, "at $.colour: expected"),
        (b'{"id": 1, "items": [], "status": "gone"}', Order, 'expected one of "open", "paid"'),
        (b"[1, 2.5]", list[int], "at $[1]: expected an integer"),
        (b"[1]", tuple[int, int], "expected an array of 2 items, got 1"),
        (b'{"a": "x"}', dict[str, int], "at $.a: expected an integer"),
        (b"1", str | None, "expected str | None, got a number 1"),
    ],
)
def test_payloads_that_do_not_decode_say_where_and_why(
    payload: bytes, tp: Any, message: str
) -> None:
    with pytest.raises(jsoncodec.JsonDecodeError) as caught:
        jsoncodec.decode(payload, tp)
    assert message in str(caught.value)


def test_plain_types_and_any() -> None:
    assert jsoncodec.decode(b'"approved"', Literal["approved", "rejected"]) == "approved"
    assert jsoncodec.decode(b"3", float) == 3.0 and isinstance(jsoncodec.decode(b"3", float), float)
    assert jsoncodec.decode(b"[1, [2]]") == [1, [2]]
    assert jsoncodec.decode(b'{"decision": "approved"}', Item | dict[str, str]) == {
        "decision": "approved"
    }
    assert jsoncodec.decode(b"null", None) is None
    assert jsoncodec.encode(("a", 1)) == b'["a",1]'
    with pytest.raises(TypeError, match="cannot encode a object"):
        jsoncodec.encode(object())


def test_promise_decode_error_names_the_promise_the_type_and_the_payload() -> None:
    promise = sdk.PromiseId(sdk.AgentId(CID, 'WorkflowAgent("alice")'), 15)
    error = sdk.PromiseDecodeError(promise, b'{"decision": 5}', "Decision", "at $.decision: x")
    text = str(error)
    assert f'{CID}/WorkflowAgent("alice")/15' in text and "Decision" in text
    assert "at $.decision" in text and error.reason == "at $.decision: x"
    assert isinstance(error, ValueError)


# -- outside a component ----------------------------------------------------------------------
def test_calls_outside_a_component_say_which_import_is_missing() -> None:
    with pytest.raises(sdk.MissingImport, match="golem:api/host@1.5.0"):
        sdk.create_promise()
    promise = sdk.PromiseId(sdk.AgentId(CID, 'WorkflowAgent("alice")'), 15)
    with pytest.raises(TypeError, match="complete_promise_json encodes"):
        sdk.complete_promise(promise, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="PromiseId.parse"):
        sdk.promise_secret(f"{promise}")  # type: ignore[arg-type]
    with pytest.raises(sdk.MissingImport, match="agent-host:promises/secrets@0.1.0"):
        sdk.promise_secret(promise)


def test_promise_secret_is_only_for_the_agents_own_promises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOLEM_COMPONENT_ID", str(CID))
    monkeypatch.setenv("GOLEM_AGENT_ID", 'WorkflowAgent("alice")')
    other = sdk.PromiseId(sdk.AgentId(CID, 'WorkflowAgent("bob")'), 3)
    with pytest.raises(ValueError, match="not one of this agent's"):
        sdk.promise_secret(other)


def test_run_refuses_to_wait_on_nothing() -> None:
    async def forever() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(RuntimeError, match="deadlock"):
        run(forever())

    async def plain() -> int:
        return 42

    assert run(plain()) == 42
