"""Agent types: guest records <-> dataclasses, the stored JSON, describe and mount checks."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings

from host.agents.model import (
    UNIT,
    AgentConstructor,
    AgentMethod,
    AgentType,
    ComponentModel,
    DataSchema,
    HttpEndpoint,
    HttpMount,
    PathSegment,
    Snapshotting,
    UnstructuredText,
    agent_type_from_value,
    agent_type_to_value,
    agent_types_from_json,
    agent_types_to_json,
    describe,
    mount_problems,
)
from host.errors import InvalidComponent, InvalidInput
from host.values import STRING, U32, Case, OptionT
from tests.agent_strategies import agent_types


def lit(s: str) -> PathSegment:
    return PathSegment("literal", s)


def var(s: str) -> PathSegment:
    return PathSegment("path-variable", s)


def workflow(prefix: tuple[PathSegment, ...]) -> AgentType:
    """The seed's Rust example: mount "/workflows", new(name), #[endpoint(post = "/approve")]."""
    return AgentType(
        type_name="WorkflowAgent",
        description="",
        source_language="rust",
        constructor=AgentConstructor(
            None, "", None, DataSchema("tuple", (("name", ComponentModel(STRING)),))
        ),
        methods=(
            AgentMethod(
                "start_approval",
                "",
                (),
                None,
                UNIT,
                DataSchema("tuple", (("return", ComponentModel(STRING)),)),
            ),
            AgentMethod(
                "approve",
                "",
                (HttpEndpoint("POST", (lit("approve"),)),),
                None,
                DataSchema(
                    "tuple",
                    (("id", ComponentModel(STRING)), ("note", ComponentModel(OptionT(STRING)))),
                ),
                UNIT,
            ),
        ),  # fmt: skip
        http_mount=HttpMount(prefix),
    )


@settings(max_examples=150)
@given(agent_types)
def test_value_round_trip_1_5(t: AgentType) -> None:
    assert agent_type_from_value(agent_type_to_value(t, "1.5"), "1.5") == t


@settings(max_examples=80)
@given(agent_types)
def test_value_round_trip_1_4_drops_what_1_4_has_no_place_for(t: AgentType) -> None:
    back = agent_type_from_value(agent_type_to_value(t, "1.4"), "1.4")
    strip = [dataclasses.replace(m, http_endpoints=()) for m in t.methods]
    deps = tuple(
        dataclasses.replace(
            d, methods=tuple(dataclasses.replace(m, http_endpoints=()) for m in d.methods)
        )
        for d in t.dependencies
    )
    expected = dataclasses.replace(
        t, source_language="", http_mount=None, snapshotting=Snapshotting(), config=(),
        methods=tuple(strip), dependencies=deps,
    )  # fmt: skip
    assert back == expected
    assert "http-mount" not in agent_type_to_value(t, "1.4")  # type: ignore[operator]


@settings(max_examples=150)
@given(agent_types, agent_types)
def test_json_round_trip_is_exact(a: AgentType, b: AgentType) -> None:
    text = agent_types_to_json([a, b])
    assert agent_types_from_json(text) == [a, b]
    assert agent_types_to_json(agent_types_from_json(text)) == text


def test_describe_the_seed_workflow() -> None:
    t = workflow((lit("workflows"), var("name")))
    assert describe(t) == [
        "WorkflowAgent(name: string)  durable",
        "  start_approval() -> string",
        "  approve(id: string, note: option<string>)",
        "  mount /workflows/{name}",
        "  POST /workflows/{name}/approve -> approve",
    ]
    assert mount_problems(t) == []


def test_seed_mount_without_the_variable_says_how_to_fix_it() -> None:
    t = workflow((lit("workflows"),))
    [problem] = mount_problems(t)
    assert "constructor parameter 'name'" in problem
    assert "write the mount as /workflows/{name}" in problem
    assert describe(t)[-1] == f"  problem: {problem}"


def test_mount_variable_that_is_no_parameter() -> None:
    t = workflow((lit("workflows"), var("name"), var("extra")))
    assert any("{extra}" in p and "not a constructor parameter" in p for p in mount_problems(t))


def test_endpoints_without_a_mount_are_a_problem() -> None:
    t = dataclasses.replace(workflow(()), http_mount=None)
    assert mount_problems(t) == [
        "methods approve declare HTTP endpoints but agent type WorkflowAgent has no HTTP mount"
    ]


def test_method_lookup() -> None:
    t = workflow(())
    assert t.method("approve").name == "approve"
    with pytest.raises(InvalidInput, match="no method 'nope' .*start_approval, approve"):
        t.method("nope")


def test_unstructured_elements_describe() -> None:
    t = dataclasses.replace(
        workflow(()),
        constructor=AgentConstructor(
            None, "", None,
            DataSchema("multimodal", (("t", UnstructuredText(("en",))),
                                      ("n", ComponentModel(U32)))),
        ),
    )  # fmt: skip
    assert describe(t)[0] == "WorkflowAgent(multimodal<t: text[en], n: u32>)  durable"


def test_guest_garbage_is_an_invalid_component() -> None:
    good = agent_type_to_value(workflow(()), "1.5")
    assert isinstance(good, dict)
    with pytest.raises(InvalidComponent, match="expected a record"):
        agent_type_from_value("nonsense", "1.5")
    with pytest.raises(InvalidComponent, match="WorkflowAgent.*mode"):
        agent_type_from_value({**good, "mode": "sometimes"}, "1.5")
    ctor = dict(good["constructor"])  # type: ignore[arg-type]
    ctor["input-schema"] = Case("tuple", [("x", Case("component-model", {"nodes": []}))])
    with pytest.raises(InvalidComponent, match="at least one node"):
        agent_type_from_value({**good, "constructor": ctor}, "1.5")
    with pytest.raises(InvalidComponent, match="http-mount"):
        agent_type_from_value({k: v for k, v in good.items() if k != "http-mount"}, "1.5")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ('{"version": 2, "agentTypes": []}', "unknown version 2"),
        ('{"version": 1, "agentTypes": [{"typeName": 5}]}', r"\$\.agentTypes\[0\]"),
    ],
)
def test_bad_stored_json(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        agent_types_from_json(text)
