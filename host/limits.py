"""Guest limits: how long, how much fuel, memory and table an invocation may use, how large
one oplog entry may be, how much an invocation may write to stdout and stderr, and how many
promises an agent may keep pending.

Limits are layered: the host's defaults, then the component's, then the agent's; each layer
sets only the limits it names. They are plain data (no wasmtime here).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from host.errors import InvalidInput


@dataclass(frozen=True)
class Limits:
    deadline_s: float = 300.0  # wall-clock seconds one invocation (and its replay) may run
    fuel: int | None = None  # wasm instructions (roughly) per invocation; None: unlimited
    memory_bytes: int = 1 << 30  # linear memory of the whole instance
    table_elements: int | None = None  # elements of all tables; None: unlimited
    max_payload_bytes: int = 16 << 20  # one oplog entry (a promise payload, a host response)
    max_pending_promises: int = 10_000  # promises created and not yet completed
    # Bytes one invocation may write to stdout and stderr together; the write that would
    # go past it fails the invocation (every byte written is recorded in the oplog).
    max_output_bytes: int = 16 << 20
    # Jumps back (golem:api/host set-oplog-index, an atomic region run again) one invocation
    # may make. Counted in the oplog, so a guest that jumps back forever fails here however
    # often the host restarts, where the wall-clock deadline starts anew with every run.
    max_oplog_jumps: int = 100

    def merged(self, overrides: dict[str, Any]) -> Limits:
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS = {f.name: f for f in dataclasses.fields(Limits)}
_POSITIVE_INTS = {
    "fuel",
    "memory_bytes",
    "table_elements",
    "max_payload_bytes",
    "max_pending_promises",
    "max_output_bytes",
    "max_oplog_jumps",
}


def validate(overrides: dict[str, Any]) -> dict[str, Any]:
    """Check a layer of limits (names and values); returns it with numbers normalized."""
    out: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in _FIELDS:
            raise InvalidInput(f"unknown limit {name!r}; limits are: {', '.join(_FIELDS)}")
        if value is None:
            if name in ("fuel", "table_elements"):
                out[name] = None
                continue
            raise InvalidInput(f"limit {name} cannot be unlimited")
        if name == "deadline_s":
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise InvalidInput(f"limit deadline_s must be a positive number, not {value!r}")
            out[name] = float(value)
        elif name in _POSITIVE_INTS:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidInput(f"limit {name} must be a positive integer, not {value!r}")
            out[name] = value
    return out
