"""The embedded default store: one SQLite database file. Its use cases are written once for
both SQL stores (:mod:`host.store.sql_store`, :mod:`host.store.sql_fork`,
:mod:`host.store.sql_oplog`, in SQLite's spelling, asking :mod:`host.store.sql_dialect`'s
hooks for the differences); the file
itself is :mod:`host.store.sqlite_db`, leases are :mod:`host.store.sqlite_leases`,
components, limits and the invocation queue :mod:`host.store.sqlite_catalog`.

Every public method runs as one ``BEGIN IMMEDIATE`` transaction on a
per-thread connection, so two host processes sharing the file serialize their
writes instead of failing half way. Each transaction is labelled with the method
that runs it (``self._tx("suspend")``) and ends in :meth:`SqliteStore._commit`,
the one place a subclass can hook a commit (:mod:`host.store.crashpoint` does).
"""

from __future__ import annotations

from host.store.base import Store
from host.store.sql_fork import SqlFork
from host.store.sql_oplog import SqlOplog
from host.store.sql_store import SqlStore
from host.store.sqlite_catalog import SqliteCatalog
from host.store.sqlite_db import RESTORE_ADVICE, SqliteDatabase, store_error
from host.store.sqlite_leases import Clock, lease_owner
from host.store.wakeup import SqliteWakeups


class SqliteStore(SqliteWakeups, SqliteCatalog, SqlStore, SqlFork, SqlOplog, Store):
    """The :class:`~host.store.base.Store` on one SQLite file (with the local wake-up
    channel of host/store/wakeup.py between the processes sharing it)."""


__all__ = ["Clock", "SqliteDatabase", "SqliteStore", "lease_owner", "store_error", "RESTORE_ADVICE"]
