"""Migration 11 (SQLite) / 5 (PostgreSQL): component versions counted from 0, as Golem
counts them (its ``ComponentRevision::INITIAL`` is 0), where stores before counted from 1.

Every number the host itself keeps for a version moves down by one, in the transaction
that records the migration:

- the ``components`` table's ``version`` (first negated, then moved: an ``UPDATE`` checks
  the ``(id, version)`` key row by row, and ``version - 1`` in place could meet the row
  below it);
- the oplog's update entries (``pending-update``, ``successful-update``,
  ``failed-update``: their ``target_version``), decoded and written back by
  :mod:`host.oplog_codec`; a row that does not decode is left as it is (``agent-host
  check`` names it), as migration 9 / 3 leaves one;
- update requests waiting in an agent's invocation queue (the reserved function
  ``<update>``, whose first parameter is the target version; host/runtime/update_queue.py).

What an agent observed stays as it was recorded: the ``GOLEM_COMPONENT_VERSION`` /
``GOLEM_COMPONENT_REVISION`` in its ``AgentCreated`` environment and metadata a guest read
(host-call results) are inputs its replay must see again unchanged, so an agent created
before the migration still reads the old number there.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from host import oplog
from host.errors import StoreError
from host.oplog_codec import decode_row, encode_row

UPDATE_KINDS = ("pending-update", "successful-update", "failed-update")
UPDATE_FUNCTION = "<update>"  # host/runtime/update_queue.py (the store does not import it)
PAGE = 2000

_UpdateEntry = oplog.PendingUpdate | oplog.SuccessfulUpdate | oplog.FailedUpdate


def _renumbered_entry(head: str, blob: bytes | None) -> tuple[str, bytes | None] | None:
    """The row of an update entry with its target version one lower; None for a row
    that does not decode or holds another kind of entry."""
    try:
        entry = decode_row(head, blob)
    except StoreError:
        return None
    if not isinstance(entry, _UpdateEntry):
        return None
    return encode_row(dataclasses.replace(entry, target_version=entry.target_version - 1))


def _renumbered_params(params: Any) -> list[Any] | None:
    """A queued update request's parameters (target version, file, mode) with the target
    one lower; None for parameters not of that shape."""
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return None
    if not isinstance(params, list) or not params:
        return None
    try:
        version = int(params[0])
    except (TypeError, ValueError):
        return None
    return [str(version - 1), *params[1:]]


def _step(db: Any, mark: str, as_json: Any) -> None:
    """The migration over ``db`` (a sqlite3 connection or a psycopg cursor: both answer
    ``execute(...).fetchall()``), ``mark`` its placeholder, ``as_json`` how it takes a
    JSON parameter value."""
    db.execute("UPDATE components SET version = -version")
    db.execute("UPDATE components SET version = -version - 1")
    kinds = ", ".join(f"'{k}'" for k in UPDATE_KINDS)
    after: tuple[str, str, int] = ("", "", 0)
    while True:
        # kind IS NULL: a row migration 9 / 3 left in the text form (it did not decode).
        rows = db.execute(
            "SELECT component_id, name, idx, entry, data FROM oplog "
            f"WHERE (kind IN ({kinds}) OR kind IS NULL) "
            f"AND (component_id, name, idx) > ({mark}, {mark}, {mark}) "
            f"ORDER BY component_id, name, idx LIMIT {mark}",
            (*after, PAGE),
        ).fetchall()
        if not rows:
            break
        for cid, name, idx, head, blob in rows:
            row = _renumbered_entry(str(head), None if blob is None else bytes(blob))
            if row is not None:
                db.execute(
                    f"UPDATE oplog SET entry = {mark}, data = {mark} "
                    f"WHERE component_id = {mark} AND name = {mark} AND idx = {mark}",
                    (row[0], row[1], cid, name, idx),
                )
        after = (str(rows[-1][0]), str(rows[-1][1]), int(rows[-1][2]))
    queued = db.execute(
        f"SELECT invocation_id, params FROM invocations WHERE function = {mark}",
        (UPDATE_FUNCTION,),
    ).fetchall()
    for invocation_id, params in queued:
        moved = _renumbered_params(params)
        if moved is not None:
            db.execute(
                f"UPDATE invocations SET params = {mark} WHERE invocation_id = {mark}",
                (as_json(moved), invocation_id),
            )


def sqlite_step(db: Any) -> None:
    """Renumber the versions of a SQLite store (``db``: its sqlite3 connection)."""
    _step(db, "?", json.dumps)


def postgres_step(db: Any) -> None:
    """Renumber the versions of a PostgreSQL store (``db``: a psycopg cursor)."""
    from psycopg.types.json import Jsonb

    _step(db, "%s", Jsonb)
