"""Golem 1.4's agent-to-agent calls: golem:rpc/types@0.2.2 ``wasm-rpc`` naming an agent
method as ``<type>.{<method>}`` (golem-rust 1.4's generated clients: the kebab-case type
and method names, e.g. ``counter-agent.{increment}``) with one wit-value per parameter.

On an agent component the host turns such a call into the callee's guest ``invoke(method,
data-value[, principal])`` (1.5 or 1.4 callee alike) and the answer back into what Golem
1.4 returns: the method's outputs as one tuple wit-value (an empty record for none), an
agent error as ``remote-internal-error``.
"""

from __future__ import annotations

import re
from typing import Any

from host.agents.agentid import kebab, parse_agent_id
from host.agents.agenttypes import AgentMethod, AgentType, ComponentModel
from host.agents.wittype import value_from_wit_value, wit_value_from_value
from host.errors import HostError, InvalidInput
from host.runtime.agent_rpc import RpcFailure
from host.values import Case
from host.values.types import RecordT, TupleT, Value, WitType

_METHOD_RE = re.compile(r"^([^.{}]+)\.\{([^{}]+)\}$")


def parse_method_name(function: str) -> tuple[str, str] | None:
    """(type, method) of ``<type>.{<method>}``, or None for an export name."""
    m = _METHOD_RE.match(function)
    return None if m is None else (m.group(1), m.group(2))


def _named(name: str, wanted: str) -> bool:
    return wanted in (name, kebab(name))


def find_method(agent_type: AgentType, type_name: str, method_name: str) -> AgentMethod:
    """The callee type's method a ``<type>.{<method>}`` call names; RpcFailure if none."""
    if not _named(agent_type.type_name, type_name):
        raise RpcFailure(
            "not-found",
            f"the callee is a {agent_type.type_name}, not a {type_name} (its methods are "
            f"{kebab(agent_type.type_name)}.{{...}})",
        )
    for method in agent_type.methods:
        if _named(method.name, method_name):
            return method
    known = ", ".join(m.name for m in agent_type.methods) or "none"
    raise RpcFailure(
        "not-found", f"agent type {agent_type.type_name} has no method {method_name!r} ({known})"
    )


def _types(schema: Any, what: str) -> list[WitType]:
    out = []
    for name, element in schema.elements:
        if not isinstance(element, ComponentModel):
            raise RpcFailure(
                "protocol-error", f"{what} {name!r} is unstructured: not callable here"
            )
        out.append(element.wit_type)
    return out


def method_input(method: AgentMethod, params: list[Value]) -> Value:
    """The data-value of a call's wit-value parameters, each checked against the method's
    input schema."""
    types = _types(method.input_schema, "parameter")
    if len(params) != len(types):
        raise RpcFailure(
            "protocol-error",
            f"{method.name} takes {len(types)} parameter(s), the call gave {len(params)}",
        )
    for n, (param, ty) in enumerate(zip(params, types, strict=True)):
        try:
            value_from_wit_value(param, ty, f"{method.name} parameter {n}")
        except InvalidInput as exc:
            raise RpcFailure("protocol-error", str(exc)) from None
    return Case("tuple", [Case("component-model", p) for p in params])


def outcome(agent_type: AgentType | None, method_name: str, result: Case) -> Case:
    """``result<wit-value, rpc-error>`` of an ``invoke`` that answered ``result``."""
    if result.name != "ok":
        detail = f"the agent method failed: {result.value!r}"
        return Case("err", Case("remote-internal-error", detail))
    if agent_type is None:
        return Case("err", Case("protocol-error", "the callee is no longer an agent"))
    method = next((m for m in agent_type.methods if m.name == method_name), None)
    if method is None:
        return Case("err", Case("protocol-error", f"the callee has no method {method_name}"))
    types = _types(method.output_schema, "output")
    if not types:
        return Case("ok", wit_value_from_value({}, RecordT(())))
    data = result.value
    assert isinstance(data, Case) and isinstance(data.value, list)
    values = []
    for element, ty in zip(data.value, types, strict=True):
        assert isinstance(element, Case)
        values.append(value_from_wit_value(element.value, ty))
    return Case("ok", wit_value_from_value(tuple(values), TupleT(tuple(types))))


def callee_type(types: list[AgentType] | None, agent_name: str) -> AgentType | None:
    if not types:
        return None
    try:
        wanted = parse_agent_id(agent_name).type_name
    except HostError:
        return None
    return next((t for t in types if _named(t.type_name, wanted)), None)


__all__ = ["callee_type", "find_method", "method_input", "outcome", "parse_method_name"]
