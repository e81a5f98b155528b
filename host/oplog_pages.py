"""An agent's oplog in Golem's public form, a page at a time, as Golem's worker service
answers ``GET .../workers/{name}/oplog`` (its executor's ``get_public_oplog_chunk`` and
``search_public_oplog``).

A page starts at an index with the component revision in force there; its end is
where the next page starts (Golem's ``OplogCursor``: next index, that revision), so a
client pages on with the cursor without anyone recomputing the revision. ``next`` is
given whenever the page has entries, as in Golem: the page after the last is empty and
has none.

A search scans from the cursor (or the first entry) in chunks until ``count`` entries
matched (host/oplog_search.py) or the oplog ended; its page's ``next`` continues the scan
right after the last match it returns.

Pure over the store: the REST route and the golem:api/oplog host functions
(host/runtime/golem_oplog.py) share :func:`context` and :func:`revision_before`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from host import oplog_public, oplog_search
from host.ids import AgentId
from host.oplog import Entry
from host.oplog_public_json import entry_json
from host.store.base import Store

CHUNK = 100  # entries read at a time by a search
REVISION_KINDS = ("agent-created", "successful-update")


@dataclass(frozen=True)
class Cursor:
    """Golem's ``OplogCursor``; its query-parameter form is ``<next>-<revision>``."""

    next_index: int
    revision: int

    def json(self) -> dict[str, int]:
        return {"nextOplogIndex": self.next_index, "currentComponentRevision": self.revision}

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor ``text`` gives (ValueError saying what is wrong)."""
        parts = text.split("-")
        if len(parts) != 2:
            raise ValueError(f"an oplog cursor is <next index>-<component revision>, not {text!r}")
        try:
            index, revision = int(parts[0]), int(parts[1])
        except ValueError:
            raise ValueError(f"an oplog cursor's parts are numbers, not {text!r}") from None
        if index < 1 or revision < 0:
            raise ValueError(f"an oplog cursor's index is from 1, its revision from 0: {text!r}")
        return cls(index, revision)


@dataclass(frozen=True)
class Page:
    entries: tuple[tuple[int, dict[str, Any]], ...]  # (oplog index, PublicOplogEntry JSON)
    next: Cursor | None
    first_index_in_chunk: int
    last_index: int

    def json(self) -> dict[str, Any]:
        """Golem's ``GetOplogResponse``."""
        return {
            "entries": [{"oplogIndex": i, "entry": e} for i, e in self.entries],
            "next": None if self.next is None else self.next.json(),
            "firstIndexInChunk": self.first_index_in_chunk,
            "lastIndex": self.last_index,
        }


def context(store: Store, agent: AgentId) -> oplog_public.Context:
    versions = store.list_component_versions(str(agent.component_id))
    return oplog_public.Context(agent, {c.hash: (c.version, c.size) for c in versions})


def revision_before(
    found: Iterable[tuple[int, Entry]], ctx: oplog_public.Context, index: int
) -> int:
    """The component revision in force at ``index`` (Golem's find_component_revision_at:
    the last create or successful update before it), from the agent's entries of
    :data:`REVISION_KINDS`."""
    revision = 0
    for i, entry in found:
        if i < index:
            revision = oplog_public.revision_after(entry, ctx, revision)
    return revision


def _public(
    entries: Iterable[tuple[int, Entry]], ctx: oplog_public.Context, revision: int
) -> Iterable[tuple[int, Entry, dict[str, Any], int]]:
    """(index, entry, its JSON, the revision after it) of each entry."""
    for index, entry in entries:
        revision = oplog_public.revision_after(entry, ctx, revision)
        yield (
            index,
            entry,
            entry_json(oplog_public.to_public(index, entry, ctx, revision)),
            revision,
        )


def _start(
    store: Store, agent: AgentId, ctx: oplog_public.Context, start: int, cursor: Cursor | None
) -> Cursor:
    if cursor is not None:  # the cursor wins over ``from``, as in Golem
        return cursor
    return Cursor(start, revision_before(store.read_oplog_kinds(agent, REVISION_KINDS), ctx, start))


def get_page(store: Store, agent: AgentId, start: int, count: int, cursor: Cursor | None) -> Page:
    """Up to ``count`` entries from ``cursor`` (else from index ``start``); AgentNotFound
    for an unknown agent."""
    last = store.get_agent(agent).oplog_length
    ctx = context(store, agent)
    at = _start(store, agent, ctx, start, cursor)
    stored = store.read_oplog(agent, at.next_index, count) if at.next_index <= last else []
    out = []
    revision = at.revision
    for index, _, public, after in _public(enumerate(stored, at.next_index), ctx, at.revision):
        out.append((index, public))
        revision = after
    nxt = Cursor(out[-1][0] + 1, revision) if out else None
    first = out[0][0] if out else at.next_index
    return Page(tuple(out), nxt, first, last)


def search_page(
    store: Store, agent: AgentId, count: int, query: oplog_search.Node, cursor: Cursor | None
) -> Page:
    """Up to ``count`` entries matching ``query`` from ``cursor`` (else the first entry)."""
    last = store.get_agent(agent).oplog_length
    ctx = context(store, agent)
    at = _start(store, agent, ctx, 1, cursor)
    out: list[tuple[int, dict[str, Any]]] = []
    current, revision = at.next_index, at.revision
    while current <= last and len(out) < count:
        chunk = store.read_oplog(agent, current, CHUNK)
        if not chunk:
            break
        for index, entry, public, after in _public(enumerate(chunk, current), ctx, revision):
            current, revision = index + 1, after
            if oplog_search.matches(entry, query):
                out.append((index, public))
                if len(out) >= count:
                    break
    nxt = Cursor(current, revision) if out else None
    # Golem's worker service: the first match's index, else the initial index.
    first = out[0][0] if out else 1
    return Page(tuple(out), nxt, first, last)


__all__ = ["Cursor", "Page", "context", "get_page", "revision_before", "search_page"]
