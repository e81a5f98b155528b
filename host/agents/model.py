"""Agent types as a guest's ``discover-agent-types`` reports them.

Minimal version written on branch ``agentproto`` while ``agentcore`` writes the full one;
the interface is the agreed one. Each :class:`AgentType` keeps the value it was read from
(``raw``), which is what is stored and what ``golem:agent/host`` hands back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from host.agents.wittype import wit_type_from_value
from host.values.types import Case, Some, Value, WitType
from host.values.types import describe as describe_type


@dataclass(frozen=True)
class ElementSchema:
    name: str
    kind: str  # component-model | unstructured-text | unstructured-binary
    wit: WitType | None


@dataclass(frozen=True)
class DataSchema:
    kind: str  # tuple | multimodal
    elements: tuple[ElementSchema, ...]


@dataclass(frozen=True)
class HttpMount:
    segments: tuple[tuple[str, str], ...]  # (literal | system-variable | path-variable..., text)

    @property
    def path(self) -> str:
        parts = []
        for kind, text in self.segments:
            parts.append(text if kind == "literal" else "{" + text + "}")
        return "/" + "/".join(parts)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(t for k, t in self.segments if k.endswith("path-variable"))


@dataclass(frozen=True)
class AgentMethod:
    name: str
    description: str
    input: DataSchema
    output: DataSchema


@dataclass(frozen=True)
class AgentType:
    type_name: str
    description: str
    constructor: DataSchema
    methods: tuple[AgentMethod, ...]
    mode: str  # durable | ephemeral
    mount: HttpMount | None
    generation: str  # "1.5" | "1.4"
    raw: Value = None

    def method(self, name: str) -> AgentMethod | None:
        return next((m for m in self.methods if m.name == name), None)

    @property
    def ephemeral(self) -> bool:
        return self.mode == "ephemeral"


def _schema(v: Any) -> DataSchema:
    assert isinstance(v, Case)
    elements = []
    items: Any = v.value
    for name, elem in items:
        wit = wit_type_from_value(elem.value) if elem.name == "component-model" else None
        elements.append(ElementSchema(name, elem.name, wit))
    return DataSchema(v.name, tuple(elements))


def _mount(v: Any) -> HttpMount | None:
    if v is None:
        return None
    v = v.value if isinstance(v, Some) else v
    segments = []
    for seg in v["path-prefix"]:
        payload = seg.value
        text = payload if isinstance(payload, str) else payload["variable-name"]
        segments.append((seg.name, text))
    return HttpMount(tuple(segments))


def agent_type_from_value(v: Any, generation: str) -> AgentType:
    methods = tuple(
        AgentMethod(
            m["name"], m["description"], _schema(m["input-schema"]), _schema(m["output-schema"])
        )
        for m in v["methods"]
    )
    return AgentType(
        v["type-name"],
        v["description"],
        _schema(v["constructor"]["input-schema"]),
        methods,
        v["mode"],
        _mount(v.get("http-mount")),
        generation,
        v,
    )


def agent_type_to_value(t: AgentType) -> Value:
    return t.raw


# -- storing: a tagged JSON encoding of the raw values --------------------------------------
def _enc(v: Any) -> Any:
    if isinstance(v, Case):
        return {"$case": v.name, "v": _enc(v.value)}
    if isinstance(v, Some):
        return {"$some": _enc(v.value)}
    if isinstance(v, dict):
        return {"$record": {k: _enc(x) for k, x in v.items()}}
    if isinstance(v, tuple):
        return {"$tuple": [_enc(x) for x in v]}
    if isinstance(v, list):
        return [_enc(x) for x in v]
    if isinstance(v, bytes):
        return {"$bytes": v.hex()}
    if isinstance(v, frozenset):
        return {"$flags": sorted(v)}
    return v


def _dec(v: Any) -> Any:
    if isinstance(v, list):
        return [_dec(x) for x in v]
    if isinstance(v, dict):
        if "$case" in v:
            return Case(v["$case"], _dec(v["v"]))
        if "$some" in v:
            return Some(_dec(v["$some"]))
        if "$record" in v:
            return {k: _dec(x) for k, x in v["$record"].items()}
        if "$tuple" in v:
            return tuple(_dec(x) for x in v["$tuple"])
        if "$bytes" in v:
            return bytes.fromhex(v["$bytes"])
        if "$flags" in v:
            return frozenset(v["$flags"])
    return v


def agent_types_to_json(types: list[AgentType]) -> str:
    return json.dumps([{"generation": t.generation, "raw": _enc(t.raw)} for t in types])


def agent_types_from_json(text: str) -> list[AgentType]:
    return [agent_type_from_value(_dec(d["raw"]), d["generation"]) for d in json.loads(text)]


# -- showing --------------------------------------------------------------------------------
def _params(schema: DataSchema) -> str:
    return ", ".join(
        f"{e.name}: {describe_type(e.wit) if e.wit is not None else e.kind}"
        for e in schema.elements
    )


def describe(t: AgentType) -> list[str]:
    lines = [f"{t.type_name}({_params(t.constructor)})  [{t.mode}]"]
    if t.description:
        lines.append(f"  {t.description}")
    if t.mount is not None:
        lines.append(f"  mount {t.mount.path}")
    for m in t.methods:
        out = _params(m.output)
        lines.append(f"  {m.name}({_params(m.input)})" + (f" -> {out}" if out else ""))
    return lines


def mount_problems(t: AgentType) -> list[str]:
    """What is wrong with the type's http mount: each constructor parameter must be one of
    its path variables."""
    if t.mount is None:
        return []
    missing = [e.name for e in t.constructor.elements if e.name not in t.mount.variables]
    if not missing:
        return []
    fixed = t.mount.path + "".join("/{" + n + "}" for n in missing)
    return [
        f"agent type {t.type_name}: its http mount {t.mount.path} does not bind the "
        f"constructor parameter(s) {', '.join(missing)}; every constructor parameter must be "
        f"a variable of the mount: write {fixed}"
    ]
