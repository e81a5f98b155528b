"""The seed's approval workflow as a code-first Python agent (``agent_sdk``).

It reads like the seed's Rust: one agent type, a constructor taking the workflow's
name, ``start_approval`` creating a promise and awaiting a :class:`Decision`, and two
HTTP endpoints that complete it. No WIT: the SDK describes the type to the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agent_sdk import (
    PromiseDecodeError,
    PromiseId,
    agent,
    await_promise_json,
    complete_promise_json,
    create_promise,
    endpoint,
    promise_secret,
)

Verdict = Literal["approved", "rejected"]


@dataclass(frozen=True)
class Decision:
    """What a person decides; the promise's payload is its JSON
    (``{"decision": "approved", "by": "bob"}``) or just ``"approved"``."""

    decision: Verdict
    by: str | None = None


@agent(mount="/workflows/{name}")
class WorkflowAgent:
    """A workflow that waits for a person to approve or reject it."""

    def __init__(self, name: str) -> None:
        """One workflow, named by the caller."""
        self.name = name
        self.pending: PromiseId | None = None
        self.outcome: str | None = None

    async def start_approval(self) -> str:
        """Open a request for a decision and wait for it (the agent is durably
        suspended meanwhile); returns the outcome."""
        self.request()
        assert self.pending is not None
        print(f"Workflow {self.name}: waiting for promise {self.pending}", flush=True)
        try:
            decided = await await_promise_json(self.pending, Decision | Verdict)
        except PromiseDecodeError as exc:
            self.outcome = f"Workflow {self.name}: invalid decision: {exc.reason}"
        else:
            decision = decided if isinstance(decided, Decision) else Decision(decided)
            by = f" by {decision.by}" if decision.by else ""
            self.outcome = f"Workflow {self.name} {decision.decision}{by}"
        self.pending = None
        return self.outcome

    @endpoint(post="/request")
    def request(self) -> str:
        """Open a request for a decision without waiting: the promise's id, which
        whoever decides completes (or POST .../approve, .../reject)."""
        if self.pending is None:
            self.pending, self.outcome = create_promise(), None
        return str(self.pending)

    @endpoint(post="/approve")
    def approve(self, by: str | None) -> bool:
        """Approve the open request; false if none is open."""
        return self._decide("approved", by)

    @endpoint(post="/reject")
    def reject(self, by: str | None) -> bool:
        """Reject the open request; false if none is open."""
        return self._decide("rejected", by)

    @endpoint(get="/status")
    def status(self) -> str:
        """Where the workflow stands."""
        if self.pending is not None:
            return f"Workflow {self.name}: waiting on promise {self.pending.oplog_idx}"
        return self.outcome or f"Workflow {self.name}: not started"

    def pending_promise(self) -> int | None:
        """The oplog index of the promise being waited on, if any."""
        return None if self.pending is None else self.pending.oplog_idx

    def request_secret(self) -> str | None:
        """The secret of the open request's promise (agent-host's per-promise secrets):
        with it, whoever decides may complete the promise over HTTP when the server runs
        with ``--require-promise-secret`` or a token. Not an HTTP endpoint: hand it out
        through a channel you trust."""
        return None if self.pending is None else promise_secret(self.pending)

    def _decide(self, decision: Verdict, by: str | None) -> bool:
        if self.pending is None:
            return False
        return complete_promise_json(self.pending, Decision(decision, by))
