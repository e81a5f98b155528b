"""Agent and promise identifiers, as plain Python values (no bindings needed).

A promise id is ``{agent id, oplog-idx}``: the agent that created the promise and the
index of the oplog entry that recorded the creation. Its string form is
``<component-uuid>/<agent-name>/<oplog-idx>``, the same as the host's (``agent-host
promise list``, the REST API's ``/v1/promises``), and :meth:`PromiseId.parse` reads it
back, so an id can travel as text: in a JSON body, a URL, another agent's parameters.
"""

from __future__ import annotations

import re
import typing
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["AgentId", "PromiseId"]

# The host's rule for agent names (host/ids.py): they travel in URLs and file names.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True, order=True)
class AgentId:
    """One durable agent: its component's id and its name.

    Golem's record is ``agent-id {component-id, agent-id: string}``; the name is
    ``name`` here (``agent_id`` is also accepted as an alias for reading it)."""

    component_id: uuid.UUID
    name: str

    def __str__(self) -> str:
        return f"{self.component_id}/{self.name}"

    @property
    def agent_id(self) -> str:
        """Golem's field name for the agent's name."""
        return self.name

    @staticmethod
    def parse(text: str) -> AgentId:
        """Parse ``<component-uuid>/<agent-name>``; ValueError if it is not one."""
        parts = text.split("/")
        if len(parts) != 2:
            raise ValueError(f"invalid agent id {text!r}: expected <component-uuid>/<agent-name>")
        return AgentId(_parse_uuid(parts[0], text), _check_name(parts[1], text))

    # -- the WIT record (golem:rpc/types@0.2.2 agent-id) -------------------------------
    def to_wit(self, agent_id_cls: Any) -> Any:
        """The binding's ``AgentId`` record, built with the binding's own classes."""
        component_cls = _field_type(agent_id_cls, "component_id")
        uuid_cls = _field_type(component_cls, "uuid")
        value = self.component_id.int
        return agent_id_cls(component_cls(uuid_cls(value >> 64, value & _MASK64)), self.name)

    @staticmethod
    def from_wit(record: Any) -> AgentId:
        halves = record.component_id.uuid
        return AgentId(uuid.UUID(int=(halves.high_bits << 64) | halves.low_bits), record.agent_id)


@dataclass(frozen=True, order=True)
class PromiseId:
    """A promise: the agent that owns it and the oplog index of its creation."""

    agent_id: AgentId
    oplog_idx: int

    def __str__(self) -> str:
        return f"{self.agent_id}/{self.oplog_idx}"

    @staticmethod
    def parse(text: str) -> PromiseId:
        """Parse ``<component-uuid>/<agent-name>/<oplog-idx>``; ValueError if it is not
        one (the message says what was expected)."""
        if not isinstance(text, str):
            raise ValueError(f"invalid promise id {text!r}: expected a string")
        parts = text.split("/")
        if len(parts) != 3 or not parts[2].isdigit() or not parts[2].isascii():
            raise ValueError(
                f"invalid promise id {text!r}: expected <component-uuid>/<agent-name>/<oplog-idx>"
            )
        agent = AgentId(_parse_uuid(parts[0], text), _check_name(parts[1], text))
        idx = int(parts[2])
        if idx < 1:
            raise ValueError(f"invalid promise id {text!r}: oplog indexes start at 1")
        return PromiseId(agent, idx)

    def to_wit(self, promise_id_cls: Any) -> Any:
        """The binding's ``PromiseId`` record (``golem:api/host@1.3.0``)."""
        agent_cls = _field_type(promise_id_cls, "agent_id")
        return promise_id_cls(self.agent_id.to_wit(agent_cls), self.oplog_idx)

    @staticmethod
    def from_wit(record: Any) -> PromiseId:
        return PromiseId(AgentId.from_wit(record.agent_id), int(record.oplog_idx))


def _field_type(cls: Any, name: str) -> Any:
    """The class of a field of a generated binding record (they are dataclasses whose
    annotations name the other records), so the SDK builds records without importing
    the interface modules by name (their names depend on the world)."""
    return typing.get_type_hints(cls)[name]


def _parse_uuid(text: str, whole: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValueError(f"invalid id {whole!r}: {text!r} is not a component UUID") from None


def _check_name(name: str, whole: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid id {whole!r}: {name!r} is not a valid agent name")
    return name
