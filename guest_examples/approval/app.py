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

Over HTTP the agent declares its own endpoints (`agent-host:http/endpoints`):
mounted at `/workflows/{name}`, `POST .../request` opens a request for a decision
(a promise) without blocking, and `POST .../approve` / `POST .../reject` (JSON body
`{"by": ..., "comment": ...}`) complete that promise from inside the agent and
return the outcome; `GET .../status` tells where the workflow stands.

This uses the raw componentize-py bindings of `golem:api/host@1.3.0`; the agent's
name is the `agent-id` of the promise id (or `GOLEM_AGENT_ID` before that is known).
"""

import json
import os
import uuid
from dataclasses import dataclass

import wit_world
from wit_world import exports
from wit_world.exports import endpoints as ep
from wit_world.imports import host, secrets

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


def _open_request() -> host.PromiseId:
    global _pending, _name, _outcome
    promise_id = host.create_promise()
    _pending, _name, _outcome = promise_id, promise_id.agent_id.agent_id, None
    return promise_id


def _settle(payload: bytes) -> str:
    global _pending, _outcome
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


def _decide(decision: str, by: str | None, comment: str | None) -> str | None:
    """Complete the open request's promise from inside the agent, then take its outcome."""
    if _pending is None:
        return None
    payload = json.dumps({"decision": decision, "by": by, "comment": comment}).encode()
    host.complete_promise(_pending, payload)  # false if someone decided first: theirs wins
    return _settle(_await_promise(_pending))


class Endpoints(exports.Endpoints):
    def definition(self) -> ep.AgentDefinition:
        def method(function: str, verb: ep.HttpMethod, path: str) -> ep.MethodEndpoint:
            return ep.MethodEndpoint(function, verb, path, [], [])

        return ep.AgentDefinition(
            agent_type="workflow",
            mount="/workflows/{name}",
            methods=[
                method("request", ep.HttpMethod.POST, "/request"),
                method("approve", ep.HttpMethod.POST, "/approve"),
                method("reject", ep.HttpMethod.POST, "/reject"),
                method("status", ep.HttpMethod.GET, "/status"),
                method("pending-promise", ep.HttpMethod.GET, "/pending"),
            ],
        )


class WitWorld(wit_world.WitWorld):
    def request(self) -> int:
        if _pending is not None:
            return _pending.oplog_idx
        return _open_request().oplog_idx

    def request_secret(self) -> str | None:
        return None if _pending is None else secrets.promise_secret(_pending.oplog_idx)

    def approve(self, by: str | None, comment: str | None) -> str | None:
        return _decide("approved", by, comment)

    def reject(self, by: str | None, comment: str | None) -> str | None:
        return _decide("rejected", by, comment)

    def start_approval(self) -> str:
        promise_id = _open_request()
        component = promise_id.agent_id.component_id.uuid
        component_id = uuid.UUID(int=(component.high_bits << 64) | component.low_bits)
        print(
            f"Workflow {_name}: waiting for a decision on promise {promise_id.oplog_idx}"
            f" (component {component_id})",
            flush=True,
        )
        return _settle(_await_promise(promise_id))

    def pending_promise(self) -> int | None:
        return None if _pending is None else _pending.oplog_idx

    def status(self) -> str:
        if _pending is not None:
            idx = _pending.oplog_idx
            return f"Workflow {_agent_name()}: waiting for a decision on promise {idx}"
        return _outcome or f"Workflow {_agent_name()}: not started"
