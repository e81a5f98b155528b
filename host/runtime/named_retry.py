"""A trap's retry decided by the agent's named retry policies (golem:api/retry@1.5.0), as
Golem 1.5's executor decides it (durable_host/mod.rs, on_invocation_failure):

* only a trap Golem classifies as ``deterministic-trap`` (unreachable, out-of-bounds
  memory, division by zero, ...), ``unknown`` or ``transient-error`` (a host call's
  transient failure falling back to a trap: host/runtime/http_retry.py) goes through the
  named policies; the others (a stack overflow, the host's limits) keep the legacy rule;
* the properties are RetryContext::trap(trap-type, function): ``verb`` ``trap``,
  ``noun-uri`` ``wasm://<function>`` (decomposed), ``trap-type``, plus the executor's
  ``agent-type`` (for an agent id ``type(...)``) and ``is-idempotent``;
* the highest-priority matching policy is stepped from the state the previous failed
  attempt of the invocation recorded (InvocationFailed.retry_state) or its initial state;
  its verdict is the decision, and the new state goes with the failure;
* no policy matches, or evaluating fails: the legacy rule, Golem's
  get_recovery_decision_on_trap, which never retries a deterministic trap outside an
  atomic region and retries an unknown or transient one by the retry-policy record's
  count.

* the policy is stepped with ``elapsed`` zero, as Golem's executor steps it
  (durability.rs, evaluate_named_policy_step passes Duration::ZERO): a ``time-box``
  gives up at a trap only when its limit is zero, however long the invocation has been
  failing; its inner policy decides otherwise.

Pure: no wasmtime (the trap arrives as its message text).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from host import retry_policy as rp
from host.oplog import Entry, InvocationFailed, Retried
from host.runtime.failures import retry_delay_ns

# wasmtime's messages for the traps Golem maps to AgentError::DeterministicTrap.
_DETERMINISTIC = re.compile(
    r"unreachable|out of bounds|indirect call|signature mismatch|integer overflow|"
    r"divide by zero|division by zero|invalid conversion|misaligned|null reference|"
    r"non-shared memory",
    re.IGNORECASE,
)
_AGENT_TYPE = re.compile(r"([a-z][a-z0-9-]*)\(", re.IGNORECASE)


def trap_type(message: str) -> str:
    """Golem's name of a trap's error type, from wasmtime's message."""
    if "call stack exhausted" in message or "stack overflow" in message:
        return "stack-overflow"
    return "deterministic-trap" if _DETERMINISTIC.search(message) else "unknown"


@dataclass(frozen=True)
class Decision:
    delay_ns: int | None  # None: give up
    state: Any = None  # the named policy's state to record with the failure
    policy: str | None = None  # the named policy that decided (None: the legacy rule)


def agent_type(agent_name: str) -> str | None:
    """The agent type of an agent id ``type(...)`` (Golem's ``agent-type`` property)."""
    found = _AGENT_TYPE.match(agent_name)
    return found.group(1) if found else None


def trap_properties(
    kind: str, function: str, agent_name: str, idempotent: bool
) -> dict[str, rp.Value]:
    props = rp.trap_context(kind, function)
    found = agent_type(agent_name)
    if found is not None:
        props["agent-type"] = found
    props["is-idempotent"] = idempotent
    return props


def previous_failures(entries: Sequence[Entry], invocation_id: str) -> list[InvocationFailed]:
    """The failed attempts of the invocation that were retried automatically (each followed
    by its Retried marker), oldest first, since the last one that was not: a failure that
    gave up and was retried by hand starts the count afresh, as the retry count does."""
    found: list[InvocationFailed] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, InvocationFailed) or entry.invocation_id != invocation_id:
            continue
        after = entries[i + 1] if i + 1 < len(entries) else None
        if isinstance(after, Retried):
            found.append(entry)
        else:
            found = []
    return found


def decide(
    policies: Sequence[rp.NamedPolicy],
    props: dict[str, rp.Value],
    failures: Sequence[InvocationFailed],
    legacy_policy: object,
    attempt: int,
    rng: random.Random | None = None,
) -> Decision:
    """The decision for attempt ``attempt`` (1-based) of a trapped invocation whose earlier
    failed attempts are ``failures``."""
    kind = props.get("trap-type")
    if kind in ("deterministic-trap", "unknown", "transient-error"):
        try:
            state = failures[-1].retry_state if failures else None
            stepped = rp.step_resolved(policies, props, state, rng)  # elapsed zero, as Golem
            if stepped is not None:
                named, new, delay = stepped
                return Decision(delay, new, named.name)
        except rp.EvaluationError:
            pass  # Golem: "falling back to legacy retry config"
    if kind not in ("unknown", "transient-error"):
        return Decision(None)
    return Decision(retry_delay_ns(legacy_policy, attempt, rng))


__all__ = ["Decision", "agent_type", "decide", "previous_failures", "trap_properties", "trap_type"]
