"""What the console shows, computed from service values: payloads as JSON, text or hex,
oplog entries for a person, the choices a promise offers, schemas as WIT types.

Nothing here reads the store; the routes pass in what the service returned.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

from host import oplog
from host.agents.agenttypes import (
    ComponentModel,
    DataSchema,
    UnstructuredBinary,
    render_path,
)
from host.agents.model import AgentType
from host.service import iso
from host.values.types import describe

HEX_LIMIT = 4096  # bytes of a binary payload shown as hex
TEXT_LIMIT = 20_000  # characters of a payload shown


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Payload:
    kind: str  # "json", "text", "hex" or "none"
    text: str


def payload(data: bytes | None) -> Payload:
    """Bytes for a person: pretty JSON if they are JSON, else text if they are UTF-8
    without control characters, else hex."""
    if data is None:
        return Payload("none", "")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    # Control characters (other than tabs and line breaks) say the bytes are binary.
    if text is None or _CONTROL.search(text):
        shown = data[:HEX_LIMIT].hex(" ")
        more = f" ... ({len(data)} bytes)" if len(data) > HEX_LIMIT else ""
        return Payload("hex", shown + more)
    try:
        return Payload("json", _clip(json.dumps(json.loads(text), indent=2, ensure_ascii=False)))
    except ValueError:
        return Payload("text", _clip(text))


def json_text(value: Any) -> Payload:
    """A JSON value (a result, a host call's request), pretty."""
    return Payload("json", _clip(json.dumps(value, indent=2, ensure_ascii=False, default=str)))


SHORT = 100  # characters of a value shown in an entry's one line


def _short(text: str) -> str:
    return text if len(text) <= SHORT else text[: SHORT - 3] + "..."


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + f"\n... ({len(text)} chars)"


# -- oplog entries -----------------------------------------------------------------------------
LABELS = {
    "agent-created": "Agent created",
    "invocation-started": "Invocation started",
    "host-call": "Host call",
    "promise-created": "Promise created",
    "suspended": "Suspended",
    "invocation-finished": "Invocation finished",
    "invocation-failed": "Invocation failed",
    "retried": "Retried",
    "jump": "Jump",
    "snapshot": "Snapshot",
}


@dataclass(frozen=True)
class EntryView:
    index: int
    kind: str
    label: str
    time: str | None
    summary: str
    payloads: tuple[tuple[str, Payload], ...] = field(default=())


def entry_view(index: int, entry: oplog.Entry) -> EntryView:
    """One oplog entry for a person: a label, one line, and its payloads in full."""
    kind = oplog.kind(entry)
    label = LABELS.get(kind, kind.replace("-", " ").capitalize())
    payloads: list[tuple[str, Payload]] = []
    if isinstance(entry, oplog.HostCall):
        summary = entry.function
        shown = oplog.to_dict(entry)  # bytes as base64, as the REST API shows them
        payloads = [
            ("request", json_text(shown["request"])),
            ("response", json_text(shown["response"])),
        ]
    elif isinstance(entry, oplog.InvocationStarted):
        summary = f"{entry.function}({', '.join(entry.params)})"
        if entry.idempotency_key:
            summary += f" [idempotency key {entry.idempotency_key}]"
    elif isinstance(entry, oplog.InvocationFinished):
        result = entry.result or "()"
        summary = f"-> {_short(result)} (invocation {entry.invocation_id})"
        if len(result) > SHORT:
            payloads = [("result (WAVE)", Payload("text", result))]
    elif isinstance(entry, oplog.InvocationFailed):
        summary = f"{_short(entry.error)} (invocation {entry.invocation_id})"
        payloads = [("error", Payload("text", entry.error))]
    elif isinstance(entry, oplog.Snapshot):
        summary = entry.mime_type
        try:
            payloads = [("payload", payload(base64.b64decode(entry.payload)))]
        except ValueError:
            payloads = [("payload", Payload("text", entry.payload))]
    elif isinstance(entry, oplog.PromiseCreated):
        summary = f"promise {index} (by {entry.function})"
    else:
        summary = oplog.describe(entry)
    return EntryView(index, kind, label, iso(entry.timestamp), summary, tuple(payloads))


# -- choices -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    label: str
    value: str  # the JSON text the promise is completed with


# A line of its own: "Choices:" then the choices on the same line (never the next line's).
_DECLARED = re.compile(r"^[ \t]*choices:[ \t]*(\S.*)$", re.IGNORECASE | re.MULTILINE)


def declared_choices(text: str) -> tuple[Choice, ...]:
    """The choices a ``Choices: ...`` line lists: JSON values separated by commas
    (``"approved", {"level": 2}``), or words, each sent as a JSON string unless it is
    a JSON value (``approved, rejected, 3``). None for a line without one."""
    try:
        values = json.loads(f"[{text}]")
    except ValueError:
        values = None
    out: list[Choice] = []
    if values is not None:
        for value in values:
            shown = value if isinstance(value, str) else json.dumps(value)
            out.append(Choice(shown.capitalize(), json.dumps(value)))
        return tuple(out)
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        try:
            value = json.dumps(json.loads(word))
        except ValueError:
            value = json.dumps(word)
        out.append(Choice(word.strip('"').capitalize(), value))
    return tuple(out)


def choices(agent_type: AgentType | None, method: str | None) -> tuple[Choice, ...]:
    """The buttons a promise of this agent's ``method`` offers, if the agent says what
    it awaits: a ``Choices: approved, rejected`` line in the method's description (see
    :func:`declared_choices`), or, by convention, an agent type with ``approve`` and
    ``reject`` methods awaits ``"approved"`` or ``"rejected"``. None known: the console
    offers a JSON or text editor instead."""
    if agent_type is None:
        return ()
    found = next((m for m in agent_type.methods if m.name == method), None)
    declared = _DECLARED.search(found.description) if found is not None else None
    if declared is not None:
        return declared_choices(declared.group(1).strip())
    names = {m.name for m in agent_type.methods}
    if {"approve", "reject"} <= names:
        return (Choice("Approve", '"approved"'), Choice("Reject", '"rejected"'))
    return ()


# -- schemas -----------------------------------------------------------------------------------
def schema_params(schema: DataSchema) -> list[tuple[str, str]]:
    """A method's or constructor's parameters as (name, type) for a person."""
    out = []
    for name, element in schema.elements:
        if isinstance(element, ComponentModel):
            out.append((name, describe(element.wit_type)))
        elif isinstance(element, UnstructuredBinary):
            out.append((name, "binary"))
        else:
            out.append((name, "text"))
    return out


def schema_text(schema: DataSchema) -> str:
    params = schema_params(schema)
    if not params:
        return "()"
    return ", ".join(f"{n}: {t}" for n, t in params)


def routes(agent_type: AgentType) -> list[tuple[str, str, str]]:
    """The HTTP routes an agent type declares: (method, path, agent method)."""
    mount = agent_type.http_mount
    if mount is None:
        return []
    prefix = render_path(mount.path_prefix)
    out = []
    for m in agent_type.methods:
        for e in m.http_endpoints:
            suffix = render_path(e.path_suffix) if e.path_suffix else ""
            out.append((e.method.upper(), prefix.rstrip("/") + suffix, m.name))
    return out
