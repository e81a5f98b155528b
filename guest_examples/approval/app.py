"""Human-in-the-loop approval: a durable agent that waits for a person's decision.

`start-approval` creates a Golem promise, logs its id and blocks on it
(`get-promise` -> `subscribe` -> `pollable.block` -> `get`). While nobody has
completed the promise the host durably suspends the agent: no instance, no memory,
no thread is held. Completing the promise (`agent-host promise complete ...`)
resumes it; the host replays the invocation from the oplog (`create-promise`
returns the recorded id, nothing is created twice) and the wait now finds the payload.

The payload is JSON: either `"approved"` / `"rejected"`, or an object
`{"decision": "approved" | "rejected", "by": "...", "comment": "..."}`. Anything
else yields an explanatory result instead of a trap.

This uses the raw componentize-py bindings of `golem:api/host@1.3.0`; the agent's
name is the `agent-id` of the promise id (or `GOLEM_AGENT_ID` before that is known).
"""

import json
import os
import uuid
from dataclasses import dataclass

import wit_world
from wit_world.imports import host

DECISIONS = ("approved", "rejected")

# Module state lives in the agent's memory; after a suspension or a restart the host
# rebuilds it by replaying the agent's invocations.
_pending: host.PromiseId | None = None
_name: str | None = None
_outcome: str | None = None


class InvalidDecision(ValueError):
    """The promise payload is not a decision."""


@dataclass(frozen=True)
class Decision:
    decision: str
    by: str | None = None
    comment: str | None = None

    @classmethod
    def from_payload(cls, payload: bytes) -> "Decision":
        try:
            value = json.loads(payload)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
            raise InvalidDecision(f"{_shorten(payload)} is not JSON ({e})") from None
        if isinstance(value, str):
            value = {"decision": value}
        if not isinstance(value, dict):
            raise InvalidDecision(f"expected a string or an object, got {_shorten(payload)}")
        decision = value.get("decision")
        if decision not in DECISIONS:
            raise InvalidDecision(f"decision must be 'approved' or 'rejected', got {decision!r}")
        by, comment = value.get("by"), value.get("comment")
        for field, text in (("by", by), ("comment", comment)):
            if text is not None and not isinstance(text, str):
                raise InvalidDecision(f"{field!r} must be a string, got {text!r}")
        return cls(decision, by or None, comment or None)

    def describe(self) -> str:
        return self.decision + (f" by {self.by}" if self.by else "")


def _shorten(payload: bytes, limit: int = 60) -> str:
    text = repr(payload)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _agent_name() -> str:
    return _name or os.environ.get("GOLEM_AGENT_ID") or "(unnamed agent)"


def _await_promise(promise_id: host.PromiseId) -> bytes:
    """Blocks until the promise is completed (the host may suspend the agent here)."""
    with host.get_promise(promise_id) as result:
        while True:
            with result.subscribe() as ready:
                ready.block()
            if (payload := result.get()) is not None:
                return payload


class WitWorld(wit_world.WitWorld):
    def start_approval(self) -> str:
        global _pending, _name, _outcome
        promise_id = host.create_promise()
        _pending, _name, _outcome = promise_id, promise_id.agent_id.agent_id, None
        component = promise_id.agent_id.component_id.uuid
        component_id = uuid.UUID(int=(component.high_bits << 64) | component.low_bits)
        print(
            f"Workflow {_name}: waiting for a decision on promise {promise_id.oplog_idx}"
            f" (component {component_id})",
            flush=True,
        )
        payload = _await_promise(promise_id)
        _pending = None
        try:
            decision = Decision.from_payload(payload)
        except InvalidDecision as e:
            _outcome = f"Workflow {_name}: invalid decision payload: {e}"
        else:
            _outcome = f"Workflow {_name} {decision.describe()}"
            if decision.comment:
                print(f"Workflow {_name}: comment: {decision.comment}", flush=True)
        return _outcome

    def pending_promise(self) -> int | None:
        return None if _pending is None else _pending.oplog_idx

    def status(self) -> str:
        if _pending is not None:
            idx = _pending.oplog_idx
            return f"Workflow {_agent_name()}: waiting for a decision on promise {idx}"
        return _outcome or f"Workflow {_agent_name()}: not started"
