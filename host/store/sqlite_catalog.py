"""Registering a component on the SQLite store (the rest of the catalog, written once for
both stores, is host/store/sql_catalog.py; host/store/postgres_catalog.py is the
PostgreSQL store's registration). The file's one writer keeps two registrations of a
name from both taking the same next version."""

from __future__ import annotations

import time
import uuid

from host.store.base import (
    FIRST_VERSION,
    ComponentRecord,
)
from host.store.sql_catalog import SqlCatalog
from host.store.sqlite_leases import SqliteLeases


class SqliteCatalog(SqliteLeases, SqlCatalog):
    """The catalog of host/store/sql_catalog.py, with SQLite's registration."""

    # -- components ---------------------------------------------------------------
    def add_component(self, name: str, hash: str, size: int) -> ComponentRecord:
        with self._tx("add_component") as db:
            row = db.execute(
                "SELECT id, MAX(version) FROM components WHERE name = ?", (name,)
            ).fetchone()
            if row[0] is not None:
                cid, version = row[0], row[1] + 1
                same = db.execute(
                    "SELECT version FROM components WHERE id = ? AND version = ? AND hash = ?",
                    (cid, row[1], hash),
                ).fetchone()
                if same:  # the same bytes again: nothing new to register
                    return self._component(db, cid)
            else:
                cid, version = str(uuid.uuid4()), FIRST_VERSION
            db.execute(
                "INSERT INTO components (id, name, version, hash, size, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (cid, name, version, hash, size, time.time_ns()),
            )
            return self._component(db, cid)
