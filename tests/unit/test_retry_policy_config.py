"""The agent-config tier of named retry policies (host/retry_policy_config.py): config
values that decode, by structure as Golem's FromValue does, as a named-retry-policy or a
list of them."""

from __future__ import annotations

import json
from typing import Any

from host import retry_policy as rp
from host.agents.agenttypes import UNIT, ConfigDeclaration
from host.agents.model import AgentConstructor, AgentType
from host.retry_policy_config import NAMED_RETRY_POLICY, config_policies, fits
from host.values import Case, to_json
from host.values.types import ListT, Prim, RecordT, TupleT, VariantT, WitType


def _type(spec: Any, suffix: str) -> WitType:
    """The declared type of ``spec`` with every record field and variant case renamed:
    the structure decides, not the names."""
    if isinstance(spec, str):
        return Prim(spec)  # type: ignore[arg-type]
    kind, body = spec
    if kind == "list":
        return ListT(_type(body, suffix))
    if kind == "tuple":
        return TupleT(tuple(_type(s, suffix) for s in body))
    if kind == "record":
        return RecordT(tuple((n + suffix, _type(s, suffix)) for n, s in body))
    return VariantT(tuple((n + suffix, None if s is None else _type(s, suffix)) for n, s in body))


def _value(name: str, priority: int, policy: list[Case], suffix: str) -> dict[str, Any]:
    s = suffix
    return {
        "name" + s: name,
        "priority" + s: priority,
        "predicate" + s: {"nodes" + s: [Case("pred-true" + s)]},
        "policy" + s: {"nodes" + s: policy},
    }


def _agent(*declared: tuple[str, WitType]) -> AgentType:
    config = tuple(ConfigDeclaration("local", (k,), t) for k, t in declared)
    ctor = AgentConstructor(None, "", None, UNIT)
    return AgentType("Worker", "", "python", ctor, (), config=config)


def _stored(key: str, value: Any, ty: WitType) -> tuple[tuple[str, ...], str]:
    return ((key,), json.dumps(to_json(value, ty)))


def test_a_value_of_the_policys_shape_is_a_policy_whatever_its_names() -> None:
    ty = _type(NAMED_RETRY_POLICY, "-x")
    count_box = Case("count-box-x", {"max-retries-x": 2, "inner-x": 1})
    value = _value("mine", 40, [count_box, Case("immediate-x")], "-x")
    (policy,) = config_policies(_agent(("retry", ty)), [_stored("retry", value, ty)])
    assert policy == rp.NamedPolicy("mine", 40, ("pred-true",), ("count-box", 2, ("immediate",)))


def test_a_list_of_policies_and_other_values() -> None:
    ty = ListT(_type(NAMED_RETRY_POLICY, ""))
    values = [_value("a", 1, [Case("never")], ""), _value("b", 2, [Case("immediate")], "")]
    greeting = Prim("string")
    found = config_policies(
        _agent(("all", ty), ("greeting", greeting)),
        [_stored("all", values, ty), _stored("greeting", "hi", greeting)],
    )
    assert [(p.name, p.policy) for p in found] == [("a", ("never",)), ("b", ("immediate",))]


def test_another_shape_or_a_malformed_policy_is_not_a_policy() -> None:
    wrong = _type(NAMED_RETRY_POLICY, "")
    assert isinstance(wrong, RecordT)
    fields = list(wrong.fields)
    fields[1] = ("priority", Prim("u64"))  # Golem's priority is a u32
    other = RecordT(tuple(fields))
    assert fits(wrong, NAMED_RETRY_POLICY) and not fits(other, NAMED_RETRY_POLICY)
    bad_index = _value("bad", 1, [Case("count-box", {"max-retries": 1, "inner": 7})], "")
    found = config_policies(
        _agent(("other", other), ("bad", wrong)),
        [
            _stored("other", _value("o", 1, [Case("never")], ""), other),
            _stored("bad", bad_index, wrong),
        ],
    )
    assert found == []
