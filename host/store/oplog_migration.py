"""Migration 9 (SQLite) / 3 (PostgreSQL): oplog entries from their text form to rows of
a JSON head plus a BLOB (:mod:`host.oplog_codec`), with the entry's type in a ``kind``
column (indexed for the types a resume reads before the latest snapshot).

Each entry is read as the store held it (a JSON object whose bytes are base64
``{"$bytes": "..."}``) and written back as its row, in the transaction that records the
migration, a page of rows at a time. A row that does not decode is left as it is: it
reads as before (``agent-host check`` names it), and the migration does not fail the
whole store over one damaged entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from host.errors import StoreError
from host.oplog_codec import RESUME_KINDS, decode_row, encode_row, kind_of

PAGE = 2000

# Rows of the kinds a resume reads before the latest snapshot (host/oplog_codec.py).
# (The same literal list in the index and in the queries, so that both stores use it.)
RESUME_KINDS_SQL = "(" + ", ".join(f"'{k}'" for k in RESUME_KINDS) + ")"
RESUME_INDEX = (
    f"CREATE INDEX oplog_resume ON oplog (component_id, name, idx) WHERE kind IN {RESUME_KINDS_SQL}"
)

Key = tuple[str, str, int]


def converted(
    rows: Sequence[tuple[Any, Any, Any, Any]],
) -> list[tuple[str, bytes | None, str, Key]]:
    """(new head, blob, kind, key) of each (component_id, name, idx, text) row in the
    text form."""
    out = []
    for cid, name, idx, text in rows:
        if not str(text).startswith("{"):
            continue  # already a row
        try:
            entry = decode_row(str(text))
        except StoreError:
            continue
        head, blob = encode_row(entry)
        out.append((head, blob, kind_of(entry), (str(cid), str(name), int(idx))))
    return out


def sqlite_step(db: Any) -> None:
    """Rewrite every oplog row of a SQLite store (``db``: its sqlite3 connection)."""
    after: Key = ("", "", 0)
    while True:
        rows = db.execute(
            "SELECT component_id, name, idx, entry FROM oplog "
            "WHERE (component_id, name, idx) > (?, ?, ?) "
            "ORDER BY component_id, name, idx LIMIT ?",
            (*after, PAGE),
        ).fetchall()
        if not rows:
            return
        db.executemany(
            "UPDATE oplog SET entry = ?, data = ?, kind = ? "
            "WHERE component_id = ? AND name = ? AND idx = ?",
            [(head, blob, kind, *key) for head, blob, kind, key in converted(rows)],
        )
        after = (str(rows[-1][0]), str(rows[-1][1]), int(rows[-1][2]))


def postgres_step(db: Any) -> None:
    """Rewrite every oplog row of a PostgreSQL store (``db``: a psycopg cursor)."""
    after: Key = ("", "", 0)
    while True:
        db.execute(
            "SELECT component_id, name, idx, entry FROM oplog "
            "WHERE (component_id, name, idx) > (%s, %s, %s) "
            "ORDER BY component_id, name, idx LIMIT %s",
            (*after, PAGE),
        )
        rows = db.fetchall()
        if not rows:
            return
        updates = converted(rows)
        if updates:
            db.executemany(
                "UPDATE oplog SET entry = %s, data = %s, kind = %s "
                "WHERE component_id = %s AND name = %s AND idx = %s",
                [(head, blob, kind, *key) for head, blob, kind, key in updates],
            )
        after = (str(rows[-1][0]), str(rows[-1][1]), int(rows[-1][2]))
