"""Identifiers: components, agents and promises.

A promise id is ``{agent id, oplog-idx}`` where ``oplog-idx`` is the index of
the oplog entry that recorded the promise's creation (spec section 1). Its
string form ``<component-uuid>/<agent-name>/<oplog-idx>`` parses back.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from host.errors import InvalidInput

# Golem's rule for worker names (golem-common validate_worker_name): 1-512 characters,
# no whitespace, no "/", not starting with "-"; so the characters of Golem agent ids
# (quotes, parentheses, brackets, commas) are allowed: `counter-agent("a1")`. Control
# characters are refused as well, since names are printed to terminals and logs.
_MAX_NAME = 512


def check_agent_name(name: str) -> str:
    """Return ``name`` if it is a valid agent name, else raise InvalidInput."""
    if (
        not 1 <= len(name) <= _MAX_NAME
        or name.startswith("-")
        or "/" in name
        or any(c.isspace() or not c.isprintable() for c in name)
    ):
        raise InvalidInput(
            f"invalid agent name {name!r}: use 1-{_MAX_NAME} characters without whitespace, "
            "control characters or '/', not starting with '-'"
        )
    return name


# An agent of a Golem agent component is named by its agent id: TYPE(PARAMS)[uuid]
# (host/agents/agentid.py parses it exactly).
_AGENT_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*\(.*\)(\[[0-9a-fA-F-]{36}\])?$", re.DOTALL)


def check_promise_owner(name: str) -> str:
    """``name`` if it is an agent name or has an agent id's shape, else InvalidInput."""
    if _AGENT_ID_RE.match(name):
        return name
    return check_agent_name(name)


def parse_component_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidInput(f"invalid component id {text!r}: expected a UUID") from None


@dataclass(frozen=True, order=True)
class AgentId:
    """One durable agent: a component and a name."""

    component_id: uuid.UUID
    name: str

    def __str__(self) -> str:
        return f"{self.component_id}/{self.name}"

    @property
    def uuid_halves(self) -> tuple[int, int]:
        """The component UUID as (high-bits, low-bits), as the WIT records carry it."""
        value = self.component_id.int
        return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF

    @staticmethod
    def from_halves(high: int, low: int, name: str) -> AgentId:
        return AgentId(uuid.UUID(int=(high << 64) | low), name)


@dataclass(frozen=True, order=True)
class PromiseId:
    """A promise: its owner agent and the oplog index of its creation entry."""

    agent: AgentId
    oplog_idx: int

    def __str__(self) -> str:
        return f"{self.agent}/{self.oplog_idx}"

    @staticmethod
    def parse(text: str) -> PromiseId:
        """Parse ``<component-uuid>/<agent-name>/<oplog-idx>``."""
        # The agent name may be an agent id, whose string values may hold "/".
        head, _, rest = text.partition("/")
        name, _, idx = rest.rpartition("/")
        parts = [head, name, idx] if name else text.split("/")
        if len(parts) != 3 or not parts[2].isdigit():
            raise InvalidInput(
                f"invalid promise id {text!r}: expected <component-uuid>/<agent-name>/<oplog-idx>"
            )
        agent = AgentId(parse_component_id(parts[0]), check_promise_owner(parts[1]))
        return PromiseId(agent, int(parts[2]))
