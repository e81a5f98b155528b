"""The test helpers drop the PostgreSQL schemas they make (tests/fixtures/postgres.py):
a store written into a fresh schema is gone, tables and all, once its scope drops it, and
only the schemas made since the scope's mark are dropped."""

from __future__ import annotations

import psycopg

from host.store import open_store
from tests.fixtures.postgres import CREATED, _schema_of, drop_schemas_since, fresh_schema


def _schemas(base_url: str) -> set[str]:
    with psycopg.connect(base_url) as conn:
        return {str(r[0]) for r in conn.execute("SELECT nspname FROM pg_namespace")}


def test_drop_schemas_since_drops_the_scopes_schemas_with_their_tables(pg_server: str) -> None:
    outer = fresh_schema(pg_server)
    mark = len(CREATED)
    inner = fresh_schema(pg_server)
    open_store(inner).close()  # the store's tables, by its migrations
    assert {_schema_of(outer), _schema_of(inner)} <= _schemas(pg_server)
    assert drop_schemas_since(mark) == []
    left = _schemas(pg_server)
    assert _schema_of(inner) not in left
    assert _schema_of(outer) in left  # made before the mark: its own scope drops it
    assert drop_schemas_since(mark - 1) == []
    assert _schema_of(outer) not in _schemas(pg_server)
