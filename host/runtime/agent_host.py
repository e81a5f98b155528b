"""``golem:agent/host`` (1.5.0, and Golem 1.4's unversioned one): the agent functions.

* ``get-all-agent-types`` / ``get-agent-type``: the agent types stored with every
  registered component (its latest version), each with the component implementing it;
* ``make-agent-id`` / ``parse-agent-id``: :mod:`host.agents.agentid`, the same parser
  and printer the host uses for agent names (ids are made in the 1.5 form);
* ``get-config-value``: the agent's config values given at creation
  (:mod:`host.agents.agentconfig`, which says what a missing or undeclared key gives);
* the ``wasm-rpc`` resource: :mod:`host.runtime.agent_rpc`, its scheduled invocations
  :mod:`host.runtime.agent_schedule`.

The type and id functions answer from the registry's state, so they are READ: recorded,
and replay answers from the oplog even if components were added since.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from host.agents import agentconfig
from host.agents.agentid import find_type, make_agent_id, parse_agent_id, resolve_agent_id
from host.agents.agenttypes import AgentType
from host.agents.model import Generation, agent_type_to_value
from host.agents.wittype import wit_type_from_value, wit_value_from_value
from host.errors import InvalidInput
from host.runtime import agent_rpc, agent_schedule
from host.runtime.golem_workers import component_to
from host.runtime.session import HostFunc, Kind, Session
from host.values import Case, Some
from host.values.types import FuncSig, Value

R = Kind.READ


def _registered(session: Session) -> list[tuple[str, AgentType]]:
    calls = session.agent_calls
    return [] if calls is None else calls.registered_agent_types()


def _registered_value(
    component_id: str, agent_type: AgentType, generation: Generation = "1.5"
) -> dict[str, Value]:
    return {
        "agent-type": agent_type_to_value(agent_type, generation),
        "implemented-by": component_to(component_id),
    }


def _all_types(generation: Generation) -> HostFunc:
    def live(session: Session) -> list[Value]:
        return [_registered_value(c, t, generation) for c, t in _registered(session)]

    return HostFunc(live, R)


def _find(session: Session, name: str) -> tuple[str, AgentType] | None:
    found = _registered(session)
    try:
        agent_type = find_type(name, [t for _, t in found])
    except InvalidInput:
        return None
    return next((c, t) for c, t in found if t is agent_type)


def _get_type(generation: Generation) -> HostFunc:
    def live(session: Session, name: str) -> Some | None:
        found = _find(session, name)
        return None if found is None else Some(_registered_value(*found, generation))

    return HostFunc(live, R)


def _uuid_from(value: Value) -> uuid.UUID | None:
    if value is None:
        return None
    inner: Any = value.value if isinstance(value, Some) else value
    return uuid.UUID(int=(inner["high-bits"] << 64) | inner["low-bits"])


def _uuid_to(value: uuid.UUID | None) -> Some | None:
    if value is None:
        return None
    return Some({"high-bits": value.int >> 64, "low-bits": value.int & 0xFFFF_FFFF_FFFF_FFFF})


def _make_id(session: Session, name: str, input: Value, phantom: Value) -> Case:
    found = _find(session, name)
    if found is None:
        return Case("err", Case("invalid-type", f"no agent type {name!r} is registered"))
    try:
        return Case("ok", make_agent_id(found[1], input, _uuid_from(phantom)))
    except (InvalidInput, AssertionError, ValueError, KeyError, TypeError) as exc:
        return Case("err", Case("invalid-input", f"{name}: {exc}"))


def _parse_id(session: Session, text: str) -> Case:
    try:
        parsed = parse_agent_id(text)
        agent_type, value = resolve_agent_id(parsed, [t for _, t in _registered(session)])
    except InvalidInput as exc:
        return Case("err", Case("invalid-agent-id", str(exc)))
    return Case("ok", (agent_type.type_name, value, _uuid_to(parsed.phantom)))


def _get_config_value(session: Session, key: list[str], expected: Value) -> Value:
    from host.runtime.golem import GuestError

    calls = session.agent_calls
    agent_type, stored = (None, ()) if calls is None else calls.agent_config(session.agent)
    try:
        ty = wit_type_from_value(expected, "get-config-value expected-type")
        value = agentconfig.read(agent_type, stored, tuple(key), ty)
    except (agentconfig.ConfigMissing, InvalidInput) as exc:
        raise GuestError(str(exc)) from None
    return wit_value_from_value(value, ty)


BY_GENERATION: dict[str, Callable[[Generation], HostFunc]] = {
    "get-all-agent-types": _all_types,
    "get-agent-type": _get_type,
}
FUNCS: dict[str, Callable[[FuncSig], HostFunc]] = {
    "make-agent-id": lambda sig: HostFunc(_make_id, R),
    "parse-agent-id": lambda sig: HostFunc(_parse_id, R),
    "get-config-value": lambda sig: HostFunc(_get_config_value, R),
    **agent_rpc.FUNCS,
    **agent_schedule.FUNCS,
}


def provided(func: str, sig: FuncSig, generation: Generation) -> HostFunc | None:
    """The implementation of golem:agent/host's ``func`` (of Golem ``generation``'s
    shape); None if not served here."""
    if func in BY_GENERATION:
        return BY_GENERATION[func](generation)
    factory = FUNCS.get(func)
    return None if factory is None else factory(sig)


__all__ = ["FUNCS", "provided"]
