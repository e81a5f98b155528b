"""The PostgreSQL store (psycopg 3): the same use cases as the SQLite store, written once
for both (:mod:`host.store.sql_store`, :mod:`host.store.sql_fork`,
:mod:`host.store.sql_oplog`, with this store's answers to :mod:`host.store.sql_dialect`'s
hooks), for hosts on several machines sharing one database. Connections, isolation (READ
COMMITTED plus a per-agent advisory lock in every writing transaction), error mapping and
LISTEN/NOTIFY are :mod:`host.store.postgres_db`; leases, judged on the database's clock,
are :mod:`host.store.postgres_leases`.

Components and compiled code are not in the database: they stay in the host's data
directory on its local filesystem (``--data-dir``, ``$AGENT_HOST_DATA_DIR``), one per
machine; each host registers the component files it runs.
"""

from __future__ import annotations

from host.store.base import Store
from host.store.postgres_catalog import PostgresCatalog
from host.store.sql_fork import SqlFork
from host.store.sql_oplog import SqlOplog
from host.store.sql_store import SqlStore


class PostgresStore(PostgresCatalog, SqlStore, SqlFork, SqlOplog, Store):
    """The :class:`~host.store.base.Store` on a PostgreSQL database."""


__all__ = ["PostgresStore"]
