"""The guest SDK's pure parts, on the host's Python (no component needed): promise ids,
the typed JSON codec, the endpoint decorators, and how scripts/build_examples.py
includes the SDK in a build. Guest behaviour is in test_sdk_async.py and
test_examples.py."""

from __future__ import annotations

import enum
import importlib.util
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "guest_examples" / "sdk"))

import agent_host_sdk as sdk  # noqa: E402
from agent_host_sdk import jsoncodec  # noqa: E402
from agent_host_sdk.endpoints import AgentDefinitionError, MethodEndpoint  # noqa: E402

from host.ids import PromiseId as HostPromiseId  # noqa: E402

CID = uuid.UUID("7e84a1d0-5b6c-4d2e-8f90-0123456789ab")


# -- promise ids ------------------------------------------------------------------------------
def test_promise_id_string_form_parses_back_and_matches_the_host() -> None:
    promise = sdk.PromiseId(sdk.AgentId(CID, "alice"), 15)
    text = str(promise)
    assert text == f"{CID}/alice/15"
    assert sdk.PromiseId.parse(text) == promise
    assert str(HostPromiseId.parse(text)) == text  # the host reads the SDK's form
    assert promise.agent_id.agent_id == "alice"  # Golem's field name also works
    assert str(promise.agent_id) == f"{CID}/alice"
    assert sdk.AgentId.parse(f"{CID}/alice") == promise.agent_id


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice/15",
        f"{CID}/alice",
        f"{CID}/alice/x",
        f"{CID}/alice/-1",
        f"{CID}/alice/0",
        "not-a-uuid/alice/1",
        f"{CID}/bad name/1",
        f"{CID}/a/b/1",
    ],
)
def test_bad_promise_ids_are_a_value_error_saying_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        sdk.PromiseId.parse(text)


def test_promise_id_to_and_from_wit_records() -> None:
    # Stand-ins for the generated binding records (dataclasses naming each other).
    @dataclass
    class Uuid:
        high_bits: int
        low_bits: int

    @dataclass
    class ComponentId:
        uuid: Uuid

    @dataclass
    class AgentId:
        component_id: ComponentId
        agent_id: str

    @dataclass
    class PromiseId:
        agent_id: AgentId
        oplog_idx: int

    # Generated bindings evaluate their annotations; these local classes need help.
    Uuid.__annotations__ = {"high_bits": int, "low_bits": int}
    ComponentId.__annotations__ = {"uuid": Uuid}
    AgentId.__annotations__ = {"component_id": ComponentId, "agent_id": str}
    PromiseId.__annotations__ = {"agent_id": AgentId, "oplog_idx": int}
    promise = sdk.PromiseId(sdk.AgentId(CID, "bob"), 7)
    record = promise.to_wit(PromiseId)
    assert record.agent_id.component_id.uuid.high_bits == CID.int >> 64
    assert record.agent_id.component_id.uuid.low_bits == CID.int & ((1 << 64) - 1)
    assert record.agent_id.agent_id == "bob" and record.oplog_idx == 7
    assert sdk.PromiseId.from_wit(record) == promise


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
    promise = sdk.PromiseId(sdk.AgentId(CID, "alice"), 15)
    error = sdk.PromiseDecodeError(promise, b'{"decision": 5}', "Decision", "at $.decision: x")
    text = str(error)
    assert f"{CID}/alice/15" in text and "Decision" in text and "at $.decision" in text
    assert isinstance(error, ValueError)


# -- endpoint decorators ----------------------------------------------------------------------
def test_decorators_produce_the_endpoint_definition() -> None:
    @sdk.agent(mount="/shops/{shop}/{region}")
    class WitWorld:
        @sdk.put("/items/{item-id}")
        def put_item(self, item_id: int, name: str) -> str:
            return name

        @sdk.get("/items/{item-id}", query=["verbose"], headers={"X-Request-Id": "request_id"})
        def get_item(self, item_id: int, verbose: bool, request_id: str) -> str | None:
            return None

        @sdk.post(function="ping-it")
        def ping(self) -> None:
            pass

        def not_served(self) -> None:
            pass

    definition = sdk.definition_of(WitWorld)
    assert definition.agent_type == "shops"
    assert definition.mount == "/shops/{shop}/{region}"
    assert definition.methods == (
        MethodEndpoint("ping-it", "post", "", (), ()),
        MethodEndpoint(
            "get-item",
            "get",
            "/items/{item-id}",
            (("verbose", "verbose"),),
            (("X-Request-Id", "request-id"),),
        ),
        MethodEndpoint("put-item", "put", "/items/{item-id}", (), ()),
    )


def test_decorated_definition_keeps_order_and_names() -> None:
    @sdk.agent(mount="/workflows/{name}", agent_type="workflow")
    class WitWorld:
        @sdk.post("/approve")
        def approve(self, by: str | None) -> str | None:
            return by

        @sdk.get("/pending")
        def pending_promise(self) -> int | None:
            return None

        @sdk.delete("/items/{item-id}", headers=["x-token"])
        def drop_item(self, item_id: int, x_token: str) -> None:
            pass

    methods = sdk.definition_of(WitWorld).methods
    assert [(m.method, m.path, m.function) for m in methods] == [
        ("post", "/approve", "approve"),
        ("delete", "/items/{item-id}", "drop-item"),
        ("get", "/pending", "pending-promise"),
    ]
    assert methods[1].headers == (("x-token", "x-token"),)

    class Ep:  # a stand-in for wit_world.exports.endpoints
        class HttpMethod(enum.Enum):
            GET, POST, PUT, PATCH, DELETE = range(5)

        @dataclass
        class MethodEndpoint:
            function: str
            method: Any
            path: str
            query: list[tuple[str, str]]
            headers: list[tuple[str, str]]

        @dataclass
        class AgentDefinition:
            agent_type: str
            mount: str
            methods: list[Any]

    record = sdk.definition_of(WitWorld).to_wit(Ep)
    assert record.agent_type == "workflow" and record.mount == "/workflows/{name}"
    assert record.methods[0] == Ep.MethodEndpoint("approve", Ep.HttpMethod.POST, "/approve", [], [])


def _declare(mount: str, **routes: Any) -> None:
    attrs: dict[str, Any] = {}
    for name, (decorator, params) in routes.items():
        exec(f"def {name}(self, {', '.join(params)}): pass", attrs)
        attrs[name] = decorator(attrs[name])
    attrs.pop("__builtins__", None)
    sdk.agent(mount=mount)(type("WitWorld", (), attrs))


@pytest.mark.parametrize(
    ("mount", "routes", "message"),
    [
        ("workflows/{name}", {}, "must start with '/'"),
        ("/workflows", {}, "has no {var}"),
        ("/w/{Name}", {}, "is not a WIT name"),
        ("/w/{name}", {"f": (sdk.get("/x/{id}"), ["other"])}, "path variable {id} is not a"),
        ("/w/{name}", {"f": (sdk.get("/x/{name}"), ["name"])}, "already a mount variable"),
        ("/w/{name}", {"f": (sdk.get("/x", query=["q"]), [])}, "query 'q' binds to 'q'"),
        (
            "/w/{name}",
            {"f": (sdk.get("/x/{a}"), ["a"]), "g": (sdk.get("/x/{b}"), ["b"])},
            "the same route",
        ),
        ("/w/{name}", {"f": (sdk.get("x"), [])}, "must start with '/'"),
    ],
)
def test_definition_mistakes_fail_at_import_time(
    mount: str, routes: dict[str, Any], message: str
) -> None:
    with pytest.raises(AgentDefinitionError, match=message.replace("{", r"\{").replace("(", r"\(")):
        _declare(mount, **routes)


def test_unknown_http_method_and_undecorated_class() -> None:
    with pytest.raises(AgentDefinitionError, match="unknown HTTP method"):
        sdk.route("fetch", "/x")
    with pytest.raises(AgentDefinitionError, match="not decorated"):
        sdk.definition_of(type("Plain", (), {}))


def test_calls_outside_a_component_say_which_import_is_missing() -> None:
    with pytest.raises(sdk.MissingImport, match="golem:api/host@1.3.0"):
        sdk.create_promise()
    with pytest.raises(TypeError, match="PromiseId.parse"):
        sdk.complete_promise("x/y/1", b"")  # type: ignore[arg-type]


def test_run_refuses_to_wait_on_nothing() -> None:
    async def forever() -> None:
        import asyncio

        await asyncio.get_running_loop().create_future()

    with pytest.raises(RuntimeError, match="deadlock"):
        sdk.run(forever())

    async def plain() -> int:
        return 42

    assert sdk.run(plain()) == 42


# -- the build script includes the SDK --------------------------------------------------------
def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_examples", REPO / "scripts" / "build_examples.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_examples", module)
    spec.loader.exec_module(sys.modules["build_examples"])
    return sys.modules["build_examples"]


def test_examples_that_import_the_sdk_get_it_and_its_files_count_in_the_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script()
    sdk_copy = tmp_path / "sdk" / "agent_host_sdk"
    sdk_copy.mkdir(parents=True)
    for f in script.sdk_files():
        (sdk_copy / f.name).write_bytes(f.read_bytes())
    monkeypatch.setattr(script, "SDK_PACKAGE", sdk_copy)

    example = tmp_path / "ex"
    (example / "wit").mkdir(parents=True)
    (example / "wit" / "world.wit").write_text("package a:b; world ex { export f: func(); }")
    (example / "app.py").write_text("import wit_world\nfrom agent_host_sdk import run\n")
    ex = script.Example("ex", example)
    plain = script.Example("plain", tmp_path / "plain")
    (tmp_path / "plain" / "wit").mkdir(parents=True)
    (tmp_path / "plain" / "wit" / "world.wit").write_text("package a:c; world p {}")
    (tmp_path / "plain" / "app.py").write_text("import wit_world  # no agent_host_sdk here\n")
    assert ex.uses_sdk() and not plain.uses_sdk()

    before = script.inputs_hash(ex, [], "v")
    plain_before = script.inputs_hash(plain, [], "v")
    (sdk_copy / "loop.py").write_text((sdk_copy / "loop.py").read_text() + "\n# changed\n")
    assert script.inputs_hash(ex, [], "v") != before
    assert script.inputs_hash(plain, [], "v") == plain_before

    monkeypatch.setattr(script, "BUILD_DIR", tmp_path / "build")
    _, src = script.prepare_build_dir(ex, [])
    assert (src / "agent_host_sdk" / "__init__.py").is_file()
    assert (src / "agent_host_sdk" / "py.typed").is_file()
    assert "# changed" in (src / "agent_host_sdk" / "loop.py").read_text()
