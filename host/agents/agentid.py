"""Agent ids: ``CounterAgent("c1")``, 1.4's ``counter-agent("c1")``, phantom ``[uuid]``.

Minimal version written on branch ``agentproto`` while ``agentcore`` writes the full one;
the interface is the agreed one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from host.agents.datavalue import data_value_from_wave, data_value_to_wave
from host.agents.model import AgentType
from host.errors import InvalidInput
from host.values.types import Value

_ID_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\((.*)\)(?:\[([0-9a-fA-F-]{36})\])?$", re.DOTALL)


@dataclass(frozen=True)
class ParsedAgentId:
    type_name: str
    params_text: str
    phantom: uuid.UUID | None


def parse_agent_id(text: str) -> ParsedAgentId:
    m = _ID_RE.match(text.strip())
    if m is None:
        raise InvalidInput(
            f"invalid agent id {text[:64]!r}: expected TYPE(PARAMS) with an optional [uuid] "
            'suffix, e.g. CounterAgent("c1")',
            field="agent",
        )
    phantom = uuid.UUID(m.group(3)) if m.group(3) else None
    return ParsedAgentId(m.group(1), m.group(2), phantom)


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).replace("_", "-").lower()


def id_type_name(t: AgentType) -> str:
    """The type name as agent ids write it: as reported (1.5), kebab-case (1.4)."""
    return _kebab(t.type_name) if t.generation == "1.4" else t.type_name


def find_type(name: str, types: list[AgentType]) -> AgentType:
    for t in types:
        if name in (t.type_name, id_type_name(t)):
            return t
    known = ", ".join(id_type_name(t) for t in types) or "none"
    raise InvalidInput(f"no agent type {name!r}; the component has: {known}", field="agent")


def resolve_agent_id(parsed: ParsedAgentId, types: list[AgentType]) -> tuple[AgentType, Value]:
    t = find_type(parsed.type_name, types)
    return t, data_value_from_wave(t.constructor, parsed.params_text, "agent")


def make_agent_id(t: AgentType, value: Value, phantom: uuid.UUID | None = None) -> str:
    text = f"{id_type_name(t)}({data_value_to_wave(t.constructor, value)})"
    return text + (f"[{phantom}]" if phantom is not None else "")


def canonical_agent_id(text: str, types: list[AgentType]) -> str:
    parsed = parse_agent_id(text)
    t, value = resolve_agent_id(parsed, types)
    return make_agent_id(t, value, parsed.phantom)
