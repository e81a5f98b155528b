"""How one pass of the executor over an agent ends (host/runtime/executor.py)."""

from __future__ import annotations

import enum


class Step(enum.Enum):
    """How one pass over an agent ended."""

    IDLE = "idle"  # nothing left queued; the instance is kept
    SUSPENDED = "suspended"  # committed a suspension; the instance is dropped
    AGAIN = "again"  # a promise completed just before the suspension: run on now
    STOP = "stop"  # failed, diverged or interrupted: nothing more runs
    RETRY = "retry"  # the store failed under a host call: left running, retried later
    RETRYING = "retrying"  # a trap scheduled an automatic retry; the instance is dropped
