"""Persistence: the abstract store, its embedded SQLite implementation, and
:func:`open_store`, which opens the store a data directory or store URL names."""

from host.store.base import (
    FAILED,
    IDLE,
    RUNNING,
    SUSPENDED,
    AgentRecord,
    AgentStatus,
    ComponentRecord,
    InvocationRecord,
    InvocationState,
    PromiseRecord,
    Store,
)
from host.store.sqlite import SqliteStore, lease_owner
from host.store.url import DB_FILENAME, STORE_URL_ENV, StoreLocation, open_store, resolve

__all__ = [
    "DB_FILENAME",
    "STORE_URL_ENV",
    "FAILED",
    "IDLE",
    "RUNNING",
    "SUSPENDED",
    "AgentRecord",
    "AgentStatus",
    "ComponentRecord",
    "InvocationRecord",
    "InvocationState",
    "PromiseRecord",
    "SqliteStore",
    "Store",
    "StoreLocation",
    "lease_owner",
    "open_store",
    "resolve",
]
