"""Human-in-the-loop approval: a durable agent that waits for a person's decision.

The seed's workflow on the guest SDK (``agent_host_sdk``). ``start-approval`` creates a
promise, logs its id and waits for it with ``blocking_await_promise_json``: until
someone completes it, agent-host durably suspends the agent (no instance, memory or
thread held). Completing the promise (``agent-host promise complete ...``, the REST
complete API, or this agent's own ``/approve`` endpoint) resumes it by replay.

The payload is JSON: ``"approved"`` / ``"rejected"``, or a :class:`Decision` object
``{"decision": "approved" | "rejected", "by": "...", "comment": "..."}``. Anything else
gives an explanatory outcome (the SDK's ``PromiseDecodeError``), not a trap.

Over HTTP (``@agent`` / ``@post`` / ``@get``): mounted at ``/workflows/{name}``,
``POST .../request`` opens a request (a promise) without blocking, ``POST .../approve``
and ``POST .../reject`` (JSON body ``{"by": ..., "comment": ...}``) complete it from
inside the agent and return the outcome, ``GET .../status`` and ``GET .../pending`` tell
where the workflow stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import wit_world
from agent_host_sdk import (
    PromiseDecodeError,
    PromiseId,
    agent,
    blocking_await_promise_json,
    complete_promise_json,
    create_promise,
    get,
    post,
    promise_secret,
    self_agent_id,
)

Verdict = Literal["approved", "rejected"]


@dataclass(frozen=True)
class Decision:
    """What a person decides: the promise's payload."""

    decision: Verdict
    by: str | None = None
    comment: str | None = None

    def describe(self) -> str:
        return self.decision + (f" by {self.by}" if self.by else "")


# Module state lives in the agent's memory; after a suspension or a restart the host
# rebuilds it by replaying the agent's invocations.
_pending: PromiseId | None = None
_outcome: str | None = None


def _name() -> str:
    me = self_agent_id()
    return me.name if me else "(unnamed agent)"


def _open_request() -> PromiseId:
    global _pending, _outcome
    _pending, _outcome = create_promise(), None
    return _pending


def _await_decision(promise: PromiseId) -> str:
    """Wait for the decision (the agent may be suspended here), then settle."""
    global _pending, _outcome
    try:
        decided = blocking_await_promise_json(promise, Decision | Verdict)
    except PromiseDecodeError as exc:
        _outcome = f"Workflow {_name()}: invalid decision payload: {exc.reason}"
    else:
        decision = decided if isinstance(decided, Decision) else Decision(decided)
        _outcome = f"Workflow {_name()} {decision.describe()}"
        if decision.comment:
            print(f"Workflow {_name()}: comment: {decision.comment}", flush=True)
    _pending = None
    return _outcome


def _decide(decision: Verdict, by: str | None, comment: str | None) -> str | None:
    """Complete the open request's promise from inside the agent, then take its outcome.
    If someone decided first, theirs wins (complete_promise_json returns False)."""
    if _pending is None:
        return None
    complete_promise_json(_pending, Decision(decision, by or None, comment or None))
    return _await_decision(_pending)


@agent(mount="/workflows/{name}", agent_type="workflow")
class WitWorld(wit_world.WitWorld):
    def start_approval(self) -> str:
        promise = _open_request()
        print(
            f"Workflow {_name()}: waiting for a decision on promise {promise.oplog_idx}"
            f" (component {promise.agent_id.component_id})",
            flush=True,
        )
        return _await_decision(promise)

    @post("/request")
    def request(self) -> int:
        return (_pending or _open_request()).oplog_idx

    @post("/approve")
    def approve(self, by: str | None, comment: str | None) -> str | None:
        return _decide("approved", by, comment)

    @post("/reject")
    def reject(self, by: str | None, comment: str | None) -> str | None:
        return _decide("rejected", by, comment)

    @get("/pending")
    def pending_promise(self) -> int | None:
        return None if _pending is None else _pending.oplog_idx

    @get("/status")
    def status(self) -> str:
        if _pending is not None:
            idx = _pending.oplog_idx
            return f"Workflow {_name()}: waiting for a decision on promise {idx}"
        return _outcome or f"Workflow {_name()}: not started"

    def request_secret(self) -> str | None:
        return None if _pending is None else promise_secret(_pending)
