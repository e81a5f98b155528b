"""Agent config (Golem 1.5): values of the keys an agent type declares, given when an
agent is created and stored in its creation entry (``AgentCreated.config``).

A type declares each key as ``{source, path, value-type}`` (common.wit
``agent-config-declaration``). Values arrive as JSON (REST ``create-agent``'s
``config``: ``[{"path": [...], "value": ...}]``), WAVE (``agent create --config
a.b=VALUE``) or typed wit-values (``wasm-rpc``'s ``agent-config``); each is checked
against the declared type (InvalidInput naming the key when it does not fit or is not
declared) and stored as canonical JSON text. ``secret`` keys are treated like ``local``
ones: agent-host has no environment secrets, so their values too come from creation.

Reading (``get-config-value``) follows Golem's executor: an undeclared key traps unless
the expected type is an option (then none); a declared key's expected type must equal
the declared one; a missing value is none for an option type, else it traps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from host.agents.agenttypes import AgentType, ConfigDeclaration
from host.agents.wittype import value_from_wit_value, wit_type_from_value
from host.errors import HostError, InvalidInput
from host.oplog import AgentConfig
from host.values import from_json, parse_value, to_json
from host.values.types import OptionT, Value, ValuesError, WitType

# What AgentCreated.config holds: (path, canonical JSON text of the value).
Stored = AgentConfig


class ConfigMissing(HostError):
    """A guest read a config key that is undeclared or has no value (its call fails)."""


def key_text(path: Sequence[str]) -> str:
    return ".".join(path)


def _declaration(agent_type: AgentType, path: tuple[str, ...], field: str) -> ConfigDeclaration:
    for declared in agent_type.config:
        if declared.path == path:
            return declared
    known = ", ".join(key_text(d.path) for d in agent_type.config) or "none"
    raise InvalidInput(
        f"agent type {agent_type.type_name} declares no config key {key_text(path)!r} "
        f"(its keys: {known})",
        field=field,
    )


def _stored(entries: list[tuple[tuple[str, ...], Value, WitType]]) -> Stored:
    seen: dict[tuple[str, ...], str] = {}
    for path, value, ty in entries:
        seen[path] = json.dumps(to_json(value, ty), separators=(",", ":"), sort_keys=True)
    return tuple(sorted(seen.items()))


def from_json_entries(agent_type: AgentType, entries: Sequence[Any], where: str) -> Stored:
    """REST ``[{"path": [...], "value": JSON}]``, checked against the declarations."""
    out = []
    for n, entry in enumerate(entries):
        field = f"{where}[{n}]"
        if not isinstance(entry, dict) or set(entry) != {"path", "value"}:
            raise InvalidInput(f'{field}: expected {{"path": [...], "value": ...}}', field=field)
        path = entry["path"]
        if not isinstance(path, list) or not path or not all(isinstance(p, str) for p in path):
            raise InvalidInput(f"{field}.path: expected a list of strings", field=f"{field}.path")
        declared = _declaration(agent_type, tuple(path), f"{field}.path")
        try:
            value = from_json(entry["value"], declared.value_type, f"{field}.value")
        except ValuesError as exc:
            raise InvalidInput(f"config {key_text(path)}: {exc}", field=f"{field}.value") from None
        out.append((tuple(path), value, declared.value_type))
    return _stored(out)


def from_wave_pairs(agent_type: AgentType, pairs: Sequence[str], where: str = "config") -> Stored:
    """CLI ``KEY=WAVE`` pairs (a dotted KEY is a path)."""
    out = []
    for text in pairs:
        key, sep, wave = text.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{where}: expected KEY=VALUE, got {text!r}", field=where)
        path = tuple(key.split("."))
        declared = _declaration(agent_type, path, where)
        try:
            value = parse_value(wave, declared.value_type)
        except ValuesError as exc:
            raise InvalidInput(f"config {key}: {exc}", field=where) from None
        out.append((path, value, declared.value_type))
    return _stored(out)


def from_typed(agent_type: AgentType, entries: Sequence[Any]) -> Stored:
    """``list<typed-agent-config-value>`` (wasm-rpc's constructor): each value's own type
    must be the declared one."""
    out = []
    for entry in entries:
        path = tuple(entry["path"])
        declared = _declaration(agent_type, path, "agent-config")
        given = wit_type_from_value(entry["value"]["typ"], f"agent-config {key_text(path)}")
        if given != declared.value_type:
            raise InvalidInput(
                f"config {key_text(path)}: the value's type is not the declared one",
                field="agent-config",
            )
        value = value_from_wit_value(entry["value"]["value"], given, key_text(path))
        out.append((path, value, given))
    return _stored(out)


def read(
    agent_type: AgentType | None, stored: Stored, path: tuple[str, ...], expected: WitType
) -> Value:
    """The value ``get-config-value(path, expected)`` answers; ConfigMissing if none."""
    key = key_text(path)
    declared = None
    if agent_type is not None:
        declared = next((d for d in agent_type.config if d.path == path), None)
    if declared is None:
        if isinstance(expected, OptionT):
            return None
        raise ConfigMissing(f"get-config-value: no config declared for key {key}")
    if expected != declared.value_type:
        raise ConfigMissing(
            f"get-config-value: the declared and expected types of config key {key} differ"
        )
    text = dict(stored).get(path)
    if text is None:
        if isinstance(expected, OptionT):
            return None
        raise ConfigMissing(f"get-config-value: config key {key} has no value")
    return from_json(json.loads(text), expected)


def as_strings(agent_type: AgentType | None, stored: Stored) -> list[tuple[str, str]]:
    """wasi:config/store's view: dotted key, and a string value as itself, any other
    value as its JSON text."""
    out = []
    for path, text in stored:
        value = json.loads(text)
        out.append((key_text(path), value if isinstance(value, str) else text))
    return out


__all__ = [
    "ConfigMissing",
    "Stored",
    "as_strings",
    "from_json_entries",
    "from_typed",
    "from_wave_pairs",
    "key_text",
    "read",
]
