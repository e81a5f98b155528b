"""Golem agent ids: ``TYPE(PARAMS)`` with an optional phantom suffix ``[<uuid>]``.

- Golem 1.5: ``WorkflowAgent("alice")``: the type name as reported, the constructor's
  values in the canonical structural format (:mod:`host.agents.structural`). Golem's outer
  grammar is the regex ``^([^(]+)\\((.*)\\)(?:\\[([^\\]]+)\\])?$`` on the trimmed text; the type
  is found by exact name; whitespace outside string literals is dropped.
- Golem 1.4: ``workflow-agent("alice")``: the kebab-case type name, values in WAVE
  without whitespace (here: our WAVE writer with whitespace outside strings removed).

:func:`resolve_agent_id` accepts either form of the type name against the given types and
parses the parameters with the 1.5 structural format; only when the name was given in its
kebab-case (1.4) form does it fall back to WAVE.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from host.agents.agenttypes import AgentType, ComponentModel
from host.agents.datavalue import data_value_from_wave
from host.agents.structural import format_structural, normalize_structural, parse_structural
from host.agents.wittype import value_from_wit_value
from host.errors import InvalidInput
from host.values.types import Case, Value
from host.values.wave_print import format_value

_AGENT_ID_RE = re.compile(r"^([^(]+)\((.*)\)(?:\[([^\]]+)\])?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ParsedAgentId:
    type_name: str
    params_text: str
    phantom: uuid.UUID | None = None


def parse_agent_id(text: str) -> ParsedAgentId:
    """Split an agent id into type name, parameter text and phantom id (syntax only)."""
    m = _AGENT_ID_RE.match(text.strip())
    if m is None:
        raise InvalidInput(
            f"invalid agent id {text[:64]!r}: expected TYPE(PARAMS) or TYPE(PARAMS)[uuid], "
            'e.g. WorkflowAgent("alice")',
            field="agent_id",
        )
    name = m.group(1).strip()
    if not name:
        raise InvalidInput("invalid agent id: the agent type name is empty", field="agent_id")
    phantom = None
    if m.group(3) is not None:
        try:
            phantom = uuid.UUID(m.group(3).strip())
        except ValueError:
            raise InvalidInput(
                f"invalid agent id {text[:64]!r}: the phantom id {m.group(3)[:40]!r} is not a UUID",
                field="agent_id",
            ) from None
    return ParsedAgentId(name, m.group(2), phantom)


def kebab(name: str) -> str:
    """Golem's (heck's) kebab case: ``WorkflowAgent`` -> ``workflow-agent``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z])([A-Z][a-z])", r"\1 \2", spaced)
    return "-".join(w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w)


def find_type(name: str, types: Sequence[AgentType]) -> AgentType:
    for t in types:
        if t.type_name == name:
            return t
    for t in types:
        if kebab(t.type_name) == name:
            return t
    known = ", ".join(t.type_name for t in types) or "none"
    raise InvalidInput(f"no agent type {name!r} (agent types: {known})", field="agent_type")


def resolve_agent_id(parsed: ParsedAgentId, types: Sequence[AgentType]) -> tuple[AgentType, Value]:
    """The agent type named by ``parsed`` and its constructor parameters as a data-value."""
    t = find_type(parsed.type_name, types)
    schema = t.constructor.input_schema
    try:
        return t, parse_structural(schema, parsed.params_text, "agent id parameters")
    except InvalidInput as first:
        if parsed.type_name == t.type_name:  # a 1.5 id: Golem's structural format only
            raise
        try:  # the kebab-case name of a 1.4 id: its parameters are WAVE
            return t, data_value_from_wave(schema, parsed.params_text, "agent id parameters")
        except InvalidInput:
            raise first from None


def make_agent_id(
    agent_type: AgentType,
    data_value: Value,
    phantom: uuid.UUID | None = None,
    generation: Literal["1.5", "1.4"] = "1.5",
) -> str:
    """The canonical agent id text of ``agent_type`` with these constructor values."""
    schema = agent_type.constructor.input_schema
    if generation == "1.5":
        name, params = agent_type.type_name, format_structural(schema, data_value)
    else:
        name, params = kebab(agent_type.type_name), _compact_wave(agent_type, data_value)
    suffix = "" if phantom is None else f"[{phantom}]"
    return f"{name}({params}){suffix}"


def _compact_wave(agent_type: AgentType, value: Value) -> str:
    schema = agent_type.constructor.input_schema
    assert isinstance(value, Case) and isinstance(value.value, list)
    parts = []
    for (_, el), ev in zip(schema.elements, value.value, strict=True):
        if not isinstance(el, ComponentModel) or not isinstance(ev, Case):
            raise InvalidInput("1.4 agent ids with unstructured parameters are not supported")
        v = value_from_wit_value(ev.value, el.wit_type)
        parts.append(normalize_structural(format_value(v, el.wit_type)))
    return ",".join(parts)


def canonical_agent_id(text: str, types: Sequence[AgentType]) -> str:
    """Parse ``text`` against ``types`` and write it back canonically (1.5 form)."""
    parsed = parse_agent_id(text)
    t, value = resolve_agent_id(parsed, types)
    return make_agent_id(t, value, parsed.phantom)
