"""Golem's agent guest protocol (``golem:agent/guest``, 1.5.0 and 1.4's unversioned one).

An agent component exports ``discover-agent-types``, ``initialize`` and ``invoke``. At
registration the registry calls ``discover-agent-types`` once on a scratch instance (no
agent, no oplog: Golem likewise instantiates it with its non-WASI imports stubbed) and
the agent types are stored with the component file. An agent's invocations are then
ordinary invocations of the exported ``initialize`` / ``invoke`` with WAVE parameters, so
the queue, oplog, replay and suspension are the executor's as for any component.
"""

from __future__ import annotations

from typing import Any

from host.agents.model import AgentType, agent_type_from_value, mount_problems
from host.errors import InvalidComponent
from host.values import Case

GUEST_1_5 = "golem:agent/guest@1.5.0"
GUEST_1_4 = "golem:agent/guest"
GENERATIONS = {GUEST_1_5: "1.5", GUEST_1_4: "1.4"}
ANONYMOUS = Case("anonymous")


def export_name(generation: str, function: str) -> str:
    """The qualified export name of the guest interface's ``function``."""
    iface = GUEST_1_5 if generation == "1.5" else GUEST_1_4
    return f"{iface}.{{{function}}}"


def is_initialize(export: str) -> bool:
    """Whether ``export`` is a guest protocol's ``initialize``."""
    return export in (export_name("1.5", "initialize"), export_name("1.4", "initialize"))


def guest_generation(export_names: set[str]) -> str | None:
    """Which guest protocol a component exports ("1.5", "1.4"), if any."""
    for _iface, generation in GENERATIONS.items():
        if export_name(generation, "invoke") in export_names:
            return generation
    return None


def agent_types_from_discovery(result: object, generation: str, shown: str) -> list[AgentType]:
    """The agent types of a ``discover-agent-types`` answer; InvalidComponent for an
    agent-error or a type the host refuses (a mount that does not bind the constructor)."""
    if not isinstance(result, Case):
        raise InvalidComponent(f"{shown}: discover-agent-types answered no result")
    if result.name == "err":
        raise InvalidComponent(
            f"{shown}: discover-agent-types failed with an agent error: "
            f"{agent_error_text(result.value)}"
        )
    found: Any = result.value or []
    types = [agent_type_from_value(v, generation) for v in found]
    problems = [p for t in types for p in mount_problems(t)]
    if problems:
        raise InvalidComponent(f"{shown}: " + "; ".join(problems))
    names = [t.type_name for t in types]
    if len(set(names)) != len(names):
        raise InvalidComponent(f"{shown}: agent type names repeat: {', '.join(names)}")
    return types


def agent_error_text(error: object) -> str:
    """An ``agent-error`` value as a message: its case and text (a custom error's value
    as WAVE when it is a string, else its case name)."""
    if not isinstance(error, Case):
        return str(error)
    payload: Any = error.value
    if error.name == "custom-error" and isinstance(payload, dict):
        from host.agents.wittype import value_from_wit_value, wit_type_from_value

        try:
            ty = wit_type_from_value(payload["typ"])
            value = value_from_wit_value(payload["value"], ty)
        except Exception:  # noqa: BLE001 - a guest's malformed error is still an error
            return "custom-error"
        from host.values import format_value

        return value if isinstance(value, str) else format_value(value, ty)
    return f"{error.name}: {payload}" if payload is not None else error.name


CALLER_ERRORS = frozenset({"invalid-input", "invalid-method", "invalid-type", "invalid-agent-id"})
