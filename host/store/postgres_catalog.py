"""Registering a component on the PostgreSQL store (the rest of the catalog, written once
for both stores, is host/store/sql_catalog.py): an advisory lock on the name keeps two
registrations of it from both taking the same next version."""

from __future__ import annotations

import time
import uuid

from host.store.base import (
    FIRST_VERSION,
    ComponentRecord,
)
from host.store.postgres_leases import PostgresLeases
from host.store.sql_catalog import SqlCatalog


class PostgresCatalog(PostgresLeases, SqlCatalog):
    """The catalog of host/store/sql_catalog.py, with PostgreSQL's registration."""

    # -- components ---------------------------------------------------------------
    def add_component(self, name: str, hash: str, size: int) -> ComponentRecord:
        with self._tx("add_component") as db:
            # One registration per name at a time (the next version number, a new id).
            db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 1))", (name,))
            row = db.execute(
                "SELECT id, version FROM components WHERE name = %s ORDER BY version DESC LIMIT 1",
                (name,),
            ).fetchone()
            if row is not None:
                cid, version = row[0], row[1] + 1
                same = db.execute(
                    "SELECT version FROM components WHERE id = %s AND version = %s AND hash = %s",
                    (cid, row[1], hash),
                ).fetchone()
                if same:  # the same bytes again: nothing new to register
                    return self._component(db, cid)
            else:
                cid, version = str(uuid.uuid4()), FIRST_VERSION
            db.execute(
                "INSERT INTO components (id, name, version, hash, size, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (cid, name, version, hash, size, time.time_ns()),
            )
            return self._component(db, cid)
