"""Migration 12 (SQLite) / 6 (PostgreSQL): the agents row keeps the component version the
agent runs (``component_version``, host/agent_versions.py), where readers before mapped
its file to the first version holding those bytes (wrong when two versions hold the
same bytes).

Each existing agent's number is derived from its oplog, after migration 11 / 5
renumbered the versions from 0: the version it was created on (its creation entry's
file and the number its environment holds), or the target of its last successful
update a revert did not delete. A row whose entries do not decode keeps 0 (``agent-host
check`` names such rows)."""

from __future__ import annotations

from typing import Any

from host import agent_versions
from host.errors import StoreError
from host.oplog import AgentCreated, Entry
from host.oplog_codec import decode_row

ADD_COLUMN = "ALTER TABLE agents ADD COLUMN component_version INTEGER NOT NULL DEFAULT 0"
_KINDS = ("agent-created", "successful-update", "jump")


def _decoded(rows: list[Any]) -> list[tuple[int, Entry]] | None:
    out: list[tuple[int, Entry]] = []
    for idx, head, blob in rows:
        try:
            out.append((int(idx), decode_row(str(head), None if blob is None else bytes(blob))))
        except StoreError:
            return None
    return out


def _step(db: Any, mark: str) -> None:
    versions: dict[str, list[tuple[int, str]]] = {}
    for cid, version, hash in db.execute("SELECT id, version, hash FROM components").fetchall():
        versions.setdefault(str(cid), []).append((int(version), str(hash)))
    kinds = ", ".join(f"'{k}'" for k in _KINDS)
    agents = db.execute("SELECT component_id, name FROM agents").fetchall()
    for cid, name in agents:
        rows = db.execute(
            "SELECT idx, entry, data FROM oplog "
            f"WHERE component_id = {mark} AND name = {mark} AND kind IN ({kinds}) ORDER BY idx",
            (cid, name),
        ).fetchall()
        entries = _decoded(rows)
        if not entries or not isinstance(entries[0][1], AgentCreated):
            continue
        created = agent_versions.creation_version(entries[0][1], versions.get(str(cid), []))
        version = agent_versions.version_at(entries, created)
        db.execute(
            f"UPDATE agents SET component_version = {mark} "
            f"WHERE component_id = {mark} AND name = {mark}",
            (version, cid, name),
        )


def sqlite_step(db: Any) -> None:
    """Fill the column in a SQLite store (``db``: its sqlite3 connection)."""
    _step(db, "?")


def postgres_step(db: Any) -> None:
    """Fill the column in a PostgreSQL store (``db``: a psycopg cursor)."""
    _step(db, "%s")
