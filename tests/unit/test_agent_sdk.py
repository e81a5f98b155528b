"""The code-first guest SDK (guest_examples/sdk/agent_sdk) on the host's Python, no wasm:
type hints to wit-type nodes, values to and from wit-value nodes, agent definitions
(names, schemas, mounts, endpoints, descriptions) and their refusals, the guest protocol
on neutral data, the conversion to componentize-py's generated binding classes, and how
scripts/build_examples.py builds an agent folder. The built component is
tests/host/test_sdk_agents.py's."""

from __future__ import annotations

import enum
import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "guest_examples" / "sdk"))

from agent_sdk import (  # noqa: E402
    AgentDefinitionError,
    Principal,
    PromiseId,
    agent,
    definition_of,
    endpoint,
)
from agent_sdk import _convert as conv  # noqa: E402
from agent_sdk.guest import AgentFailure, Runtime, principal_of  # noqa: E402
from agent_sdk.wit import UnsupportedType, ValueMismatch, shape_of  # noqa: E402


@dataclass
class Item:
    name: str
    qty: int
    tags: list[str]
    note: str | None = None


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclass
class Circle:
    radius: float


@dataclass
class Square:
    side: float


def _types(hint: Any) -> list[tuple[str | None, Any]]:
    return [(n["name"], n["type"]) for n in shape_of(hint).wit_type()]


# -- type hints -> wit-type ----------------------------------------------------------------
def test_primitives_map_as_golem_rust_does() -> None:
    assert _types(str) == [(None, ("prim-string-type", None))]
    assert _types(int) == [(None, ("prim-s64-type", None))]
    assert _types(float) == [(None, ("prim-f64-type", None))]
    assert _types(bool) == [(None, ("prim-bool-type", None))]
    assert _types(bytes) == [(None, ("list-type", 1)), (None, ("prim-u8-type", None))]


def test_containers_are_nodes_with_the_root_first() -> None:
    assert _types(list[int]) == [(None, ("list-type", 1)), (None, ("prim-s64-type", None))]
    assert _types(Optional[str]) == _types(str | None)  # noqa: UP045
    assert _types(str | None) == [(None, ("option-type", 1)), (None, ("prim-string-type", None))]
    assert _types(tuple[int, str]) == [
        (None, ("tuple-type", [1, 2])),
        (None, ("prim-s64-type", None)),
        (None, ("prim-string-type", None)),
    ]
    assert _types(dict[str, int]) == [
        (None, ("list-type", 1)),
        (None, ("tuple-type", [2, 3])),
        (None, ("prim-string-type", None)),
        (None, ("prim-s64-type", None)),
    ]


def test_dataclasses_enums_literals_and_unions_are_named_types() -> None:
    nodes = _types(Item)
    assert nodes[0] == (
        "Item",
        ("record-type", [("name", 1), ("qty", 2), ("tags", 3), ("note", 5)]),
    )
    assert nodes[3] == (None, ("list-type", 4))
    assert _types(Color) == [("Color", ("enum-type", ["red", "green"]))]
    assert _types(Literal["approved", "rejected"]) == [
        (None, ("enum-type", ["approved", "rejected"]))
    ]
    variant = _types(Circle | Square)
    assert variant[0] == ("CircleSquare", ("variant-type", [("Circle", 1), ("Square", 3)]))
    assert variant[1] == ("Circle", ("record-type", [("radius", 2)]))


@pytest.mark.parametrize(
    ("hint", "named"),
    [
        (set[int], "set[int]"),
        (Any, "Any"),
        (Literal[1, 2], "Literal[1, 2]"),
        (int | str, "int | str"),
        (complex, "complex"),
    ],
)
def test_unsupported_hints_are_refused_naming_them(hint: Any, named: str) -> None:
    with pytest.raises(UnsupportedType, match=named.replace("[", r"\[").replace("|", r"\|")):
        shape_of(hint)


# -- values <-> wit-value -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hint", "value"),
    [
        (str, "héllo"),
        (int, -(1 << 63)),
        (float, 2.5),
        (bool, True),
        (bytes, b"\x00\xff"),
        (list[int], [1, 2, 3]),
        (tuple[int, str], (1, "a")),
        (tuple[int, ...], (1, 2)),
        (str | None, None),
        (str | None, "x"),
        (dict[str, int], {"a": 1, "b": 2}),
        (Item, Item("bolt", 3, ["m4"], None)),
        (Color, Color.GREEN),
        (Literal["approved", "rejected"], "rejected"),
        (Circle | Square, Square(2.0)),
        (list[Item | None], [None, Item("nut", 1, [], "x")]),
    ],
)
def test_values_round_trip(hint: Any, value: Any) -> None:
    shape = shape_of(hint)
    assert shape.decode(shape.encode(value)) == value


def test_encoding_writes_golem_value_nodes() -> None:
    assert shape_of(Item).encode(Item("a", 1, ["t"])) == [
        ("record-value", [1, 2, 3, 5]),
        ("prim-string", "a"),
        ("prim-s64", 1),
        ("list-value", [4]),
        ("prim-string", "t"),
        ("option-value", None),
    ]
    assert shape_of(Literal["a", "b"]).encode("b") == [("enum-value", 1)]


def test_values_that_do_not_fit_say_where() -> None:
    with pytest.raises(ValueMismatch, match=r"at \.qty: expected an integer \(s64\), got str"):
        shape_of(Item).encode(Item("a", "1", []))  # type: ignore[arg-type]
    with pytest.raises(ValueMismatch, match=r"at \.tags\[0\]: expected a string"):
        shape_of(Item).decode(
            [
                ("record-value", [1, 2, 3, 5]),
                ("prim-string", "a"),
                ("prim-s64", 1),
                ("list-value", [4]),
                ("prim-bool", True),
                ("option-value", None),
            ]
        )
    with pytest.raises(ValueMismatch, match="out of the s64 range"):
        shape_of(int).encode(1 << 63)
    with pytest.raises(ValueMismatch, match="case index 5"):
        shape_of(Color).decode([("enum-value", 5)])
    with pytest.raises(ValueMismatch, match="node index 9 is out of range"):
        shape_of(list[int]).decode([("list-value", [9])])
    with pytest.raises(ValueMismatch, match="expected a bool, got int 1"):
        shape_of(bool).encode(1)


# -- agent definitions ------------------------------------------------------------------------
@agent(mount="/shops/{shop}", mode="ephemeral", cors=["*"])
class ShopAgent:
    """Sells items."""

    def __init__(self, shop: str) -> None:
        """A shop by its name."""
        self.shop = shop
        self.items: dict[str, Item] = {}

    @endpoint(put="/items/{item_name}?verbose={verbose}", headers={"X-Req": "request_id"})
    def put_item(self, item_name: str, verbose: bool, request_id: str, item: Item) -> str:
        """Store an item."""
        self.items[item_name] = item
        return f"{self.shop}:{item_name}:{verbose}:{request_id}"

    def colors(self, who: Principal) -> list[Color]:
        return [Color.RED] if who.kind == "anonymous" else []

    async def count(self) -> int:
        return len(self.items)

    def fail(self) -> None:
        raise RuntimeError("out of stock")

    def bad(self) -> int:
        return "many"  # type: ignore[return-value]

    def _private(self) -> None: ...


def _cm(shape_hint: Any, value: Any) -> tuple[str, Any]:
    return ("component-model", {"nodes": shape_of(shape_hint).encode(value)})


def test_the_definition_names_types_methods_and_schemas_as_written() -> None:
    d = definition_of(ShopAgent).definition()
    assert d["type_name"] == "ShopAgent"
    assert d["description"] == "Sells items."
    assert d["source_language"] == "python"
    assert d["mode"] == "ephemeral"
    assert d["constructor"]["description"] == "A shop by its name."
    assert d["constructor"]["input_schema"] == (
        "tuple",
        [("shop", ("component-model", {"nodes": shape_of(str).wit_type()}))],
    )
    assert [m["name"] for m in d["methods"]] == ["put_item", "colors", "count", "fail", "bad"]
    put = d["methods"][0]
    assert [n for n, _ in put["input_schema"][1]] == ["item_name", "verbose", "request_id", "item"]
    assert put["output_schema"][1][0][0] == "return_value"
    assert d["methods"][1]["input_schema"] == ("tuple", [])  # the principal is injected
    assert d["methods"][3]["output_schema"] == ("tuple", [])  # -> None: no output
    assert d["http_mount"] == {
        "path_prefix": [("literal", "shops"), ("path-variable", {"variable_name": "shop"})],
        "auth_details": {"required": False},
        "phantom_agent": False,
        "cors_options": {"allowed_patterns": ["*"]},
        "webhook_suffix": [],
    }
    assert put["http_endpoint"] == [
        {
            "http_method": ("put", None),
            "path_suffix": [
                ("literal", "items"),
                ("path-variable", {"variable_name": "item_name"}),
            ],
            "header_vars": [{"header_name": "X-Req", "variable_name": "request_id"}],
            "query_vars": [{"query_param_name": "verbose", "variable_name": "verbose"}],
            "auth_details": None,
            "cors_options": {"allowed_patterns": []},
        }
    ]


def _refused(match: str, make: Any) -> None:
    with pytest.raises(AgentDefinitionError, match=match):
        make()


def test_mistakes_are_refused_when_the_module_loads() -> None:
    def seeds_mount() -> None:
        @agent(mount="/workflows")
        class SeedAgent:
            def __init__(self, name: str) -> None: ...

    _refused(
        r"does not bind constructor parameter\(s\) 'name'.*mount='/workflows/\{name\}'", seeds_mount
    )

    def unknown_mount_var() -> None:
        @agent(mount="/w/{id}")
        class A1:
            def __init__(self) -> None: ...

    _refused(r"names \{id\}, which is not a constructor parameter", unknown_mount_var)

    def endpoint_var() -> None:
        @agent(mount="/w")
        class A2:
            @endpoint(get="/x/{nope}")
            def f(self) -> None: ...

    _refused(r"A2.f: the path variable \{nope\} is not a parameter", endpoint_var)

    def no_mount() -> None:
        @agent
        class A3:
            @endpoint(post="/x")
            def f(self) -> None: ...

    _refused(r"A3.f has an @endpoint but A3 has no mount", no_mount)

    def bad_hint() -> None:
        @agent
        class A4:
            def f(self, x: set[int]) -> None: ...

    _refused(r"A4.f: parameter 'x': the type set\[int\] has no WIT form", bad_hint)

    def no_hint() -> None:
        @agent
        class A5:
            def f(self, x) -> None: ...

    _refused(r"A5.f: parameter 'x' has no type hint", no_hint)

    def record_from_path() -> None:
        @agent(mount="/w")
        class A6:
            @endpoint(get="/{item}")
            def f(self, item: Item) -> None: ...

    _refused(r"parameter 'item' comes from the path, so it must be a str", record_from_path)
    _refused("exactly one of get=", lambda: endpoint(get="/a", post="/b"))
    _refused("must be name=", lambda: endpoint(get="/a?x=1"))
    _refused("must be a whole variable", lambda: endpoint(get="/a{b}"))


# -- the guest protocol on neutral data ------------------------------------------------------
def _runtime() -> Runtime:
    rt = Runtime([definition_of(ShopAgent)])
    rt.initialize("ShopAgent", ("tuple", [_cm(str, "acme")]), Principal())
    return rt


def test_initialize_then_invoke() -> None:
    rt = _runtime()
    args = [_cm(str, "bolt"), _cm(bool, True), _cm(str, "r1"), _cm(Item, Item("bolt", 2, []))]
    out = rt.invoke("put_item", ("tuple", args), Principal())
    assert out == ("tuple", [_cm(str, "acme:bolt:True:r1")])
    assert rt.invoke("colors", ("tuple", []), Principal()) == (
        "tuple",
        [_cm(list[Color], [Color.RED])],
    )
    assert rt.invoke("colors", ("tuple", []), Principal("agent", "x")) == (
        "tuple",
        [_cm(list[Color], [])],
    )
    # an async method runs on the SDK's event loop
    assert rt.invoke("count", ("tuple", []), Principal()) == ("tuple", [_cm(int, 1)])


def _failure(call: Any) -> AgentFailure:
    with pytest.raises(AgentFailure) as info:
        call()
    return info.value


def test_failures_are_agent_errors() -> None:
    rt = _runtime()
    anon = Principal()
    bad = _failure(lambda: rt.invoke("put_item", ("tuple", [_cm(int, 1)] * 4), anon))
    assert (bad.case, bad.message) == (
        "invalid-input",
        "parameter 'item_name': expected a string, got a prim-s64 node",
    )
    few = _failure(lambda: rt.invoke("put_item", ("tuple", []), anon))
    assert few.case == "invalid-input" and "takes 4 parameter(s)" in few.message
    assert _failure(lambda: rt.invoke("nope", ("tuple", []), anon)).case == "invalid-method"
    err = _failure(lambda: rt.invoke("fail", ("tuple", []), anon))
    assert (err.case, err.message) == ("custom-error", "RuntimeError: out of stock")
    assert err.neutral()[1]["value"] == {"nodes": [("prim-string", "RuntimeError: out of stock")]}
    assert "returned a bad value" in _failure(lambda: rt.invoke("bad", ("tuple", []), anon)).message
    again = _failure(lambda: rt.initialize("ShopAgent", ("tuple", [_cm(str, "x")]), anon))
    assert again.case == "invalid-type"
    fresh = Runtime([definition_of(ShopAgent)])
    assert _failure(lambda: fresh.initialize("Other", ("tuple", []), anon)).case == "invalid-type"
    assert _failure(lambda: fresh.invoke("colors", ("tuple", []), anon)).case == "invalid-type"


def test_principals() -> None:
    agent_id = {"component_id": {"uuid": {"high_bits": 1, "low_bits": 2}}, "agent_id": "A(1)"}
    assert principal_of(("anonymous", None)) == Principal()
    assert principal_of(("agent", {"agent_id": agent_id})) == Principal("agent", "A(1)")


def test_promise_ids_keep_golem_1_5_agent_ids() -> None:
    text = '7e84a1d0-5b6c-4d2e-8f90-0123456789ab/WorkflowAgent("a/b")/7'
    pid = PromiseId.parse(text)
    assert (pid.agent_id.agent_id, pid.oplog_idx, str(pid)) == ('WorkflowAgent("a/b")', 7, text)
    assert PromiseId.from_neutral(pid.to_neutral()) == pid
    with pytest.raises(ValueError, match="expected <component-uuid>/<agent-id>/<oplog-idx>"):
        PromiseId.parse("nope/7")


# -- without bindings ------------------------------------------------------------------------
def test_agent_puts_the_guest_export_in_its_module_and_calls_need_bindings() -> None:
    import agent_sdk

    assert globals()["Guest"] is agent_sdk.Guest  # what componentize-py looks for
    with pytest.raises(agent_sdk.MissingImport, match=r"golem:api/host@1\.5\.0"):
        agent_sdk.create_promise()


def test_rpc_arguments_go_through_the_callee_schema() -> None:
    from agent_sdk.client import encode_args

    put = definition_of(ShopAgent).methods["put_item"]
    item = Item("bolt", 2, [])
    data = encode_args(put, ("bolt", True), {"request_id": "r", "item": item})
    assert data == (
        "tuple",
        [_cm(str, "bolt"), _cm(bool, True), _cm(str, "r"), _cm(Item, item)],
    )
    with pytest.raises(TypeError, match="missing argument 'item'"):
        encode_args(put, ("bolt", True, "r"), {})
    with pytest.raises(ValueError, match=r"argument 'verbose': expected a bool"):
        encode_args(put, ("bolt", "yes", "r", item), {})
    ctor = definition_of(ShopAgent).constructor
    assert encode_args(ctor, ("acme",), {}) == ("tuple", [_cm(str, "acme")])


# -- the generated bindings --------------------------------------------------------------------
@pytest.fixture(scope="module")
def bindings(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """componentize-py's bindings for the SDK's world, imported on the host's Python."""
    tool = Path(sys.executable).parent / "componentize-py"
    if not tool.is_file():
        pytest.skip("componentize-py is not installed")
    from host.witpkg import WitIndex, lay_out

    root = tmp_path_factory.mktemp("bindings")
    sdk_wit = REPO / "wit" / "agent-host-sdk-0.2.0"
    wit = lay_out(sdk_wit, WitIndex(REPO / "wit").resolve(sdk_wit, "sdk"), root / "wit")
    subprocess.run(
        [str(tool), "-d", str(wit), "-w", "agent", "bindings", str(root / "out")], check=True
    )
    sys.path.insert(0, str(root / "out"))
    saved = {k: v for k, v in sys.modules.items() if k.startswith("wit_world")}
    try:
        from wit_world.imports import common  # type: ignore[import-not-found]
        from wit_world.imports import golem_core_types as types

        yield types, common
    finally:
        sys.path.remove(str(root / "out"))
        for k in [k for k in sys.modules if k.startswith(("wit_world", "componentize_py"))]:
            del sys.modules[k]
        sys.modules.update(saved)
        shutil.rmtree(root, ignore_errors=True)


def test_definitions_convert_to_binding_objects_and_back(bindings: Any) -> None:
    types, common = bindings
    neutral = definition_of(ShopAgent).definition()
    obj = conv.to_binding(neutral, common.AgentType)
    assert isinstance(obj, common.AgentType)
    assert obj.mode == common.AgentMode.EPHEMERAL
    assert isinstance(obj.http_mount.path_prefix[1], common.PathSegment_PathVariable)
    assert isinstance(obj.methods[0].http_endpoint[0].http_method, common.HttpMethod_Put)
    node = obj.constructor.input_schema.value[0][1].value.nodes[0]
    assert isinstance(node.type, types.WitTypeNode_PrimStringType)
    assert conv.from_binding(obj, common.AgentType) == neutral


def test_values_convert_to_binding_objects_and_back(bindings: Any) -> None:
    types, common = bindings
    data = ("tuple", [_cm(Item, Item("a", 1, ["t"])), _cm(float, 1.5), _cm(bytes, b"\x01")])
    obj = conv.to_binding(data, types.DataValue)
    assert isinstance(obj, types.DataValue_Tuple)
    assert isinstance(obj.value[1].value.nodes[0], types.WitNode_PrimFloat64)
    assert conv.from_binding(obj, types.DataValue) == data
    error = AgentFailure("invalid-input", "x").neutral()
    assert isinstance(conv.to_binding(error, common.AgentError), common.AgentError_InvalidInput)
    result = ("result-value", ("err", 3))
    back = conv.to_binding(result, types.WitNode)
    assert type(back.value).__name__ == "Err" and back.value.value == 3
    assert conv.from_binding(back, types.WitNode) == result


# -- the build script -----------------------------------------------------------------------


def _script() -> ModuleType:
    """scripts/build_examples.py, imported as a module."""
    spec = importlib.util.spec_from_file_location(
        "build_examples", REPO / "scripts" / "build_examples.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_examples", module)
    spec.loader.exec_module(sys.modules["build_examples"])
    return sys.modules["build_examples"]


def test_an_agent_folder_builds_on_the_sdk_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script()
    folder = tmp_path / "myagent"
    folder.mkdir()
    (folder / "app.py").write_text("from agent_sdk import agent\n")
    [example] = script.discover([str(folder)])
    assert example.uses_agent_sdk()
    assert example.wit == REPO / "wit" / "agent-host-sdk-0.2.0"
    assert script.world_name(example) == "agent"
    monkeypatch.setattr(script, "BUILD_DIR", tmp_path / "build")
    deps = script.resolve_deps(example, script.index_top_level_wit())
    assert "golem:agent@1.5.0" in [p.id for p in deps]
    wit, src = script.prepare_build_dir(example, deps)
    assert (src / "agent_sdk" / "guest.py").is_file()
    assert (src / "agent_sdk" / "loop.py").is_file() and not (src / "agent_host_sdk").exists()
    assert (wit / "sdk.wit").is_file() and (wit / "deps" / "golem-agent-1.5.0").is_dir()
    assert "approval" in [e.name for e in script.discover([])]
