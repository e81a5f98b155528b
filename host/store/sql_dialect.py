"""What the two SQL stores differ in, named once: the use cases both run
(host/store/sql_store.py, sql_fork.py, sql_oplog.py, sql_catalog.py) are written once in
SQLite's spelling with ``?`` marks and ask their store for the few things that differ.

The hooks, provided by :class:`~host.store.sqlite_db.SqliteDatabase` and
:class:`~host.store.postgres_db.PostgresDatabase`:

* ``_PH`` and ``_sql(text)``: the parameter mark (``?`` or psycopg's ``%s``), the text of
  a statement with its ``?`` marks in the store's own (host/store/schedules.py's rule).
* ``_TRUE``/``_FALSE``: boolean literals. SQLite keeps ``1``/``0`` (its partial indexes
  are written ``completed = 0``, and its planner matches them only so spelled).
* ``_json(value)`` / ``_unjson(raw)``: a JSON column's parameter and its value read back
  (TEXT on SQLite, JSONB on PostgreSQL).
* ``_NO_LIMIT``: the LIMIT parameter that means none (``-1`` or ``NULL``).
* ``_RESUME_INDEX``: the index hint for the resume read (SQLite's planner does not pick
  the partial index on its own; PostgreSQL's does).
* ``_UNIQUE_VIOLATION``: the driver's error for a duplicate key.
* ``_lock_agents(db, *agents)``: take the agents' locks for the transaction (PostgreSQL's
  advisory locks, in sorted order; nothing on SQLite, whose one writer serializes).
* ``_notify(db, agent, work)``: tell other processes at commit (PostgreSQL's NOTIFY;
  nothing on SQLite, whose wake-ups go over host/store/wakeup.py).
* ``_any(column, values)``: ``column`` is one of ``values``, as SQL and its parameters.

The store plumbing the shared code also uses (``_tx``, ``_read``, ``_fence``,
``_append``, ``_require_agent``) is declared here for the type checker only.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from host.errors import PromiseNotFound, StoreError
from host.ids import AgentId, PromiseId
from host.oplog import Entry
from host.store.base import AgentStatus, InvocationState

_Enum = TypeVar("_Enum", AgentStatus, InvocationState)


def _decode(kind: type[_Enum], value: object, what: str) -> _Enum:
    """A stored status or state as its enum member; StoreError for one this host does not know."""
    try:
        return kind(str(value))
    except ValueError:
        raise StoreError(
            f"the store gives {what} the {kind.__name__} {value!r}, which this agent-host does "
            f"not know (expected one of: {', '.join(kind)}); the database is damaged or was "
            "written by a newer agent-host"
        ) from None


def _key(agent: AgentId) -> tuple[str, str]:
    return str(agent.component_id), agent.name


def _promise_key(promise: PromiseId) -> tuple[str, str, int]:
    # SQLite integers are signed 64-bit: a larger oplog index (a u64 on the wire) names no
    # promise, rather than overflowing the query.
    if not 0 <= promise.oplog_idx < 2**63:
        raise PromiseNotFound(str(promise))
    return (*_key(promise.agent), promise.oplog_idx)


class SqlDialect:
    """The hooks and plumbing the shared SQL use cases need (module docstring); nothing
    here exists at run time, so the store's own definitions are the ones found."""

    _PH: str
    _TRUE: str
    _FALSE: str
    _NO_LIMIT: int | None
    _RESUME_INDEX: str
    _UNIQUE_VIOLATION: type[Exception]
    _INV_COLS: str

    if TYPE_CHECKING:  # provided by the store classes (typed loosely: two drivers)

        def _sql(self, text: str) -> str:
            raise NotImplementedError

        def _json(self, value: object) -> object:
            raise NotImplementedError

        def _unjson(self, raw: object) -> Any:
            raise NotImplementedError

        def _any(self, column: str, values: Sequence[object]) -> tuple[str, list[object]]:
            raise NotImplementedError

        def _lock_agents(self, db: Any, *agents: AgentId) -> None:
            raise NotImplementedError

        def _notify(self, db: Any, agent: AgentId, work: bool) -> None:
            raise NotImplementedError

        def _tx(self, method: str) -> AbstractContextManager[Any]:
            raise NotImplementedError

        def _read(self) -> AbstractContextManager[Any]:
            raise NotImplementedError

        def _fence(self, db: Any, agent: AgentId) -> None:
            raise NotImplementedError

        def _append(self, db: Any, agent: AgentId, first: int, entries: Sequence[Entry]) -> None:
            raise NotImplementedError

        def _require_agent(self, db: Any, agent: AgentId) -> AgentStatus:
            raise NotImplementedError


__all__ = ["SqlDialect", "_decode", "_key", "_promise_key"]
