"""What stopped a guest, classified: infrastructure errors (not the guest's fault),
limits (not retried), traps (retried by the agent's policy), and the messages for each.

Pure functions over exceptions and policy records: no wasmtime, no store."""

from __future__ import annotations

import random
import sqlite3

from host.errors import StoreError
from host.limits import Limits
from host.runtime.session import deadline_message
from host.values import Some

# What the store raises when it, not the guest, failed: a full disk, SQLITE_BUSY past
# busy_timeout, an I/O error (sqlite3.OperationalError; StoreError once the store maps
# them). Infrastructure errors are not guest failures (issue "Nothing lost, nobody let
# in, part 2", F10).
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (StoreError, sqlite3.OperationalError)


def is_infrastructure_error(exc: BaseException) -> bool:
    return isinstance(exc, INFRASTRUCTURE_ERRORS)


# Golem's default retry policy: what get-retry-policy answers until the guest sets one,
# and what the executor applies.
DEFAULT_RETRY_POLICY: dict[str, object] = {
    "max-attempts": 3,
    "min-delay": 100_000_000,
    "max-delay": 1_000_000_000,
    "multiplier": 3.0,
    "max-jitter-factor": Some(0.15),
}


def retry_delay_ns(policy: object, attempt: int, rng: random.Random | None = None) -> int | None:
    """The delay before automatic retry number ``attempt`` (1-based) under ``policy`` (a
    golem:api/host retry-policy record as the guest set it; None: Golem's default), or
    None once the policy's max-attempts are used up. Golem's formula:
    min(max-delay, min-delay * multiplier^(attempt-1)) * (1 + jitter in [0, max-jitter])."""
    fields = dict(DEFAULT_RETRY_POLICY)
    if isinstance(policy, dict):
        fields.update(policy)
    if attempt > int(str(fields["max-attempts"])):
        return None
    base = min(
        float(str(fields["max-delay"])),
        float(str(fields["min-delay"])) * float(str(fields["multiplier"])) ** (attempt - 1),
    )
    jitter = fields.get("max-jitter-factor")
    factor = float(str(jitter.value)) if isinstance(jitter, Some) else 0.0
    if isinstance(jitter, int | float):
        factor = float(jitter)
    return int(base * (1 + (rng or random).uniform(0, max(0.0, factor))))


def is_limit(exc: BaseException) -> bool:
    """Whether a trap is one of the host's limits (deadline, fuel): those are not retried,
    another attempt would meet the same limit."""
    text = str(exc)
    return "interrupt" in text or "all fuel consumed" in text


def trap_message(exc: BaseException, limits: Limits) -> str:
    text = str(exc)
    if "interrupt" in text:
        return deadline_message(limits)
    if "all fuel consumed" in text:
        return f"the invocation ran out of fuel: its limit is {limits.fuel} (limit fuel)"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    head = lines[0] if lines else type(exc).__name__
    return f"the guest trapped: {head}" + (f" ({lines[-1].strip()})" if len(lines) > 1 else "")
