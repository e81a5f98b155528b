"""In-function retries of a transient outgoing wasi:http failure (Golem 1.5's inline retry,
durable_host/http/inline_retry.rs and durability.rs, InFunctionRetryState).

When the exchange of :mod:`host.runtime.wasi_http` fails with an error-code Golem
classifies as transient (classify_http_error_code), the host sends the request again
inside the same ``future-incoming-response.get`` instead of handing the error to the
guest, when:

* the agent runs live, its persistence level is not persist-nothing, and no atomic
  region is open (inside one Golem never retries in the call: see the trap fallback);
* the method is idempotent (GET, HEAD, PUT, DELETE, OPTIONS) or idempotence mode is on;
* a named retry policy matches the HTTP retry context (RetryContext::http_with_response:
  ``verb`` the method, ``noun-uri`` the URL decomposed, ``error-type`` ``transient``, no
  ``status-code``) and, stepped with zero elapsed from the state the last retry of this
  call recorded (or its initial state), says retry;
* the delay is at most the session's max in-function retry delay (Golem's
  max_in_function_retry_delay, :data:`MAX_DELAY_NS` = 20 s unless the host sets another)
  and the sleep ends before the invocation's deadline.

**Trap fallback** (Golem's AsyncRetryDecision::FallBackToTrap, then try_trigger_retry):
a step whose delay exceeds the max in-function delay, and a transient failure inside an
atomic region, are not handed to the guest: the policies are asked once more, as
Golem's try_trigger_retry asks them (the highest-priority match stepped from the current
state; over the HTTP context for a delay, over ``error-type`` alone in a region, as
Golem's get() passes them there; no match or an evaluation error: the legacy rule, which
retries a transient error by the retry-policy record's count), and if they say retry the
call raises :class:`FallBackToTrap`: the invocation traps with a ``transient-error``, the
worker-level retry (host/runtime/run_failures.py, named_retry) takes over and the region
or invocation re-executes live. If they give up, the guest gets the error. A policy that
gives up in the call (its budget spent) gives the error to the guest, as Golem's
Exhausted does.

The sleep between retries wakes at once for an interrupt or a host shutdown
(:func:`host.runtime.interrupts.sleep_unless_stopped`, the check the epoch callback makes).

Each retry records and commits an :class:`~host.oplog.InFunctionRetry` entry (the
policy's new state goes with it, so a crash mid-retries steps on from it), sleeps, and
sends again on a fresh connection with the same Idempotency-Key. A completed response
(a 5xx too) is never retried here. Replay passes over the entries: the call's own
entry answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from host import retry_policy as rp
from host.oplog import BeginAtomicRegion, EndAtomicRegion, HostCall, InFunctionRetry
from host.runtime import golem_retry, interrupts
from host.runtime.failures import retry_delay_ns
from host.runtime.session import Session
from host.values import Case

log = logging.getLogger(__name__)

MAX_DELAY_NS = 20 * 10**9  # Golem's default max_in_function_retry_delay
_SLICE_S = 0.05  # the sleep checks the invocation's deadline this often

# The error-codes Golem's classify_http_error_code calls transient.
TRANSIENT = frozenset(
    {
        "DNS-timeout",
        "DNS-error",
        "destination-not-found",
        "destination-unavailable",
        "destination-IP-prohibited",
        "destination-IP-unroutable",
        "connection-refused",
        "connection-terminated",
        "connection-timeout",
        "connection-read-timeout",
        "connection-write-timeout",
        "connection-limit-reached",
        "HTTP-protocol-error",
        "loop-detected",
        "configuration-error",
        "HTTP-response-timeout",
        "HTTP-response-incomplete",
        "internal-error",
    }
)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def transient(code: Case) -> bool:
    return code.name in TRANSIENT


def in_atomic_region(session: Session) -> bool:
    """Whether a region begun by mark-begin-operation is still open (not deleted)."""
    open_: set[int] = set()
    for i, entry in enumerate(session.entries, start=1):
        if session.is_deleted(i):
            continue
        if isinstance(entry, BeginAtomicRegion):
            open_.add(i)
        elif isinstance(entry, EndAtomicRegion):
            open_.discard(entry.begin_index)
    return bool(open_)


def eligible(session: Session, method: str) -> bool:
    """Golem's is_http_inline_retry_eligible, for a request whose body is complete (an
    open atomic region is decided apart: :func:`with_retries`)."""
    if session.replaying or session.persist_nothing:
        return False
    return method in IDEMPOTENT_METHODS or session.idempotent


class FallBackToTrap(Exception):  # noqa: N818 (Golem's name)
    """A transient failure handed to the worker-level retry: the invocation traps with
    Golem's ``transient-error`` (run_failures decides its retry, named_retry.trap_type)."""

    trap_type = "transient-error"

    def __init__(self, function: str, error: str, detail: str) -> None:
        super().__init__(f"transient error in {function}: {error} ({detail})")


def _enriched(session: Session, props: dict[str, rp.Value]) -> dict[str, rp.Value]:
    """Golem's enrich_retry_properties: ``agent-type`` and ``is-idempotent``."""
    from host.runtime.named_retry import agent_type

    out = dict(props)
    found = agent_type(session.agent.name)
    if found is not None:
        out["agent-type"] = found
    out["is-idempotent"] = session.idempotent
    return out


def trap_wanted(session: Session, props: dict[str, rp.Value], state: Any) -> bool:
    """Golem's try_trigger_retry: whether the policies retry the failure as a trap."""
    try:
        stepped = rp.step_resolved(golem_retry.policies(session), props, state)
    except rp.EvaluationError as exc:
        log.warning("agent %s: trap fallback policy failed: %s", session.agent, exc)
        stepped = None
    if stepped is not None:
        return stepped[2] is not None
    # The legacy rule for a transient error (Golem's get_recovery_decision_on_trap).
    legacy = session.state.get(golem_retry.LEGACY, session.default_retry_policy)
    attempt = session.store.get_agent(session.agent).retry_count + 1
    return retry_delay_ns(legacy, attempt) is not None


def _failure_state(session: Session) -> Any:
    """The retry state the previous failed attempt of the invocation recorded."""
    from host.runtime.named_retry import previous_failures

    failures = previous_failures(session.entries, session.invocation_id or "")
    return failures[-1].retry_state if failures else None


def _fall_back(
    session: Session, function: str, entry: HostCall, props: dict[str, rp.Value], state: Any
) -> None:
    """Raise FallBackToTrap if the policies retry the failure; return if they give up."""
    if not trap_wanted(session, props, state):
        return
    response = entry.response if isinstance(entry.response, dict) else {}
    error = response.get("error")
    name = next(iter(error)) if isinstance(error, dict) and error else str(error)
    log.info("agent %s: %s failed transiently; falling back to a trap", session.agent, function)
    raise FallBackToTrap(function, name, str(response.get("detail", "")))


def properties(method: str, url: str) -> dict[str, rp.Value]:
    props = rp.context(method, url)
    props["error-type"] = "transient"
    return props


def earlier_retries(session: Session, function: str) -> list[InFunctionRetry]:
    """The retries of this call already in the oplog: the run of InFunctionRetry entries
    at its end (a crash after some committed: recovery steps on from the last)."""
    found: list[InFunctionRetry] = []
    for entry in reversed(session.entries):
        if not isinstance(entry, InFunctionRetry) or entry.function != function:
            break
        found.append(entry)
    found.reverse()
    return found


@dataclass(frozen=True)
class Step:
    policy: str
    state: Any
    delay_ns: int


def decide(session: Session, props: dict[str, rp.Value], state: Any) -> Step | None:
    """The named policies' verdict for one more attempt (None: give up)."""
    try:
        stepped = rp.step_resolved(golem_retry.policies(session), props, state)
    except rp.EvaluationError as exc:
        log.warning("agent %s: in-function retry policy failed: %s", session.agent, exc)
        return None
    if stepped is None:
        return None
    named, new, delay = stepped
    return None if delay is None else Step(named.name, new, delay)


def _sleep(session: Session, delay_ns: int) -> None:
    end = time.monotonic_ns() + delay_ns
    while (left := end - time.monotonic_ns()) > 0:
        session.check_deadline()
        interrupts.sleep_unless_stopped(session.watch, min(_SLICE_S, left / 1e9))


def _fits_deadline(session: Session, delay_ns: int) -> bool:
    return session.deadline_ns is None or time.monotonic_ns() + delay_ns < session.deadline_ns


def _failed_transiently(outcome: Case) -> bool:
    return outcome.name == "err" and isinstance(outcome.value, Case) and transient(outcome.value)


def with_retries(
    session: Session,
    method: str,
    url: str,
    function: str,
    attempt: Callable[[], tuple[HostCall, Case]],
) -> tuple[HostCall, Case]:
    """Run ``attempt`` (one exchange: its entry and the guest's outcome), again after each
    transient failure the policies retry; the last attempt's entry and outcome."""
    entry, outcome = attempt()
    if not _failed_transiently(outcome) or not eligible(session, method):
        return entry, outcome  # (the common case decided without reading the oplog)
    if in_atomic_region(session):
        # Golem: no in-function retry in a region; get() asks try_trigger_retry with the
        # error type alone, and the worker-level retry re-executes the region live.
        _fall_back(session, function, entry, {"error-type": "transient"}, _failure_state(session))
        return entry, outcome
    props = properties(method, url)
    earlier = earlier_retries(session, function)
    state = earlier[-1].retry_state if earlier else None
    while _failed_transiently(outcome):
        step = decide(session, props, state)
        if step is None:
            break  # Golem's Exhausted: the error goes to the guest
        if step.delay_ns > session.max_in_function_retry_delay_ns:
            _fall_back(session, function, entry, _enriched(session, props), state)
            break
        if not _fits_deadline(session, step.delay_ns):
            break
        response = entry.response if isinstance(entry.response, dict) else {}
        session.record(
            InFunctionRetry(
                function,
                response.get("error"),
                str(response.get("detail", "")),
                step.policy,
                step.state,
                step.delay_ns,
            )
        )
        session.flush()  # committed before the request leaves again
        log.info(
            "agent %s: %s %s: %s; retrying in the call in %d ms (policy %s)",
            session.agent,
            method,
            url,
            response.get("detail"),
            step.delay_ns // 1_000_000,
            step.policy,
        )
        _sleep(session, step.delay_ns)
        state = step.state
        entry, outcome = attempt()
    return entry, outcome


__all__ = [
    "MAX_DELAY_NS",
    "TRANSIENT",
    "FallBackToTrap",
    "eligible",
    "transient",
    "trap_wanted",
    "with_retries",
]
