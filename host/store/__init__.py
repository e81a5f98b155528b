"""Persistence: the abstract store and its embedded SQLite implementation."""

from host.store.base import (
    FAILED,
    IDLE,
    RUNNING,
    SUSPENDED,
    AgentRecord,
    ComponentRecord,
    InvocationRecord,
    PromiseRecord,
    Store,
)
from host.store.sqlite import SqliteStore, lease_owner

__all__ = [
    "FAILED",
    "IDLE",
    "RUNNING",
    "SUSPENDED",
    "AgentRecord",
    "ComponentRecord",
    "InvocationRecord",
    "PromiseRecord",
    "SqliteStore",
    "Store",
    "lease_owner",
]
