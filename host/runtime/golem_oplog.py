"""``golem:api/oplog@1.5.0``: an agent reads an oplog (its own or another's) as Golem's
public oplog entries.

``get-oplog(agent-id, start)`` pages the oplog from ``start`` as Golem's executor does:
each ``get-next`` reads the next 100 indexes (``start .. start + 99``, then on), maps them
(host/oplog_public.py) and answers ``some(page)``; once a read finds nothing new it
answers ``none``. ``search-oplog(agent-id, text)`` scans from the first entry in the
same 100-entry chunks, keeping the entries that match the query (host/oplog_search.py),
until 100 matched or the log's end; ``some(matches)`` (possibly empty) while the scan
moved, then ``none``. An unknown agent has an empty oplog: ``none`` at once, as in
Golem, whose oplog read finds nothing.

Durable: ``get-next`` is a READ whose page is recorded with where the cursor went
(``next``, the component revision), and on replay answered from the record while the
cursor follows it (:attr:`host.replay.HostFunc.resume`), so a replay sees the pages the
first run saw and a live call after it continues where they ended. The constructors
only build the cursor (PURE): they run again on replay.

``enrich-oplog-entries`` turns raw ``oplog-entry`` values, which only Golem's oplog
processor plugins receive, into public ones; agent-host has no plugins and gives no
raw entries, so it answers ``err`` saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from host import oplog, oplog_public, oplog_search
from host.errors import NotFound
from host.ids import AgentId
from host.oplog import Entry
from host.runtime.golem_workers import id_from
from host.runtime.session import HostFunc, Kind, Session
from host.values import Case, Some, from_json, to_json
from host.values.types import FuncSig, OptionT, WitType

PAGE_SIZE = 100  # Golem's page (its executor's GetOplogEntry / SearchOplogEntry)


class OplogCursor:
    """A get-oplog or search-oplog resource: whose oplog, the next index to read, the
    component revision in force there (None until first computed), for a search the
    query, and for the calling agent's own oplog the last index it shows (``end``)."""

    def __init__(
        self, agent: AgentId, start: int, query: oplog_search.Node | None, end: int | None
    ) -> None:
        self.agent = agent
        self.next = start
        self.revision: int | None = None
        self.query = query
        # An agent reading its own oplog sees it as it was when it made the cursor: each
        # get-next is recorded, and a cursor that saw its own records would never end.
        self.end = end


def _cursor(session: Session, agent: dict[str, Any], start: int, query: Any) -> OplogCursor:
    target = id_from(agent)
    # The replay cursor: the entries before this call, the same live and on replay.
    end = session.cursor if target == session.agent else None
    return OplogCursor(target, start, query, end)


def _context(session: Session, agent: AgentId) -> oplog_public.Context:
    versions = session.store.list_component_versions(str(agent.component_id))
    return oplog_public.Context(agent, {c.hash: (c.version, c.size) for c in versions})


def _read(session: Session, cursor: OplogCursor, lo: int, hi: int) -> list[tuple[int, Entry]]:
    """Entries ``lo .. hi`` of the cursor's oplog (up to its ``end``); the calling agent's
    own include what it recorded and has not committed yet."""
    agent = cursor.agent
    lo = max(lo, 1)
    if cursor.end is not None:
        hi = min(hi, cursor.end)
    if hi < lo:
        return []
    try:
        stored = session.store.read_oplog(agent, lo, hi - lo + 1)
    except NotFound:
        return []
    found = list(enumerate(stored, lo))
    if agent == session.agent:
        first, pending = session.pending()
        have = lo + len(stored)
        for index, entry in enumerate(pending, first):
            if have <= index <= hi:
                found.append((index, entry))
    return found


def _revision_at(session: Session, cursor: OplogCursor, ctx: oplog_public.Context) -> int:
    """The component revision in force at the cursor (Golem's find_component_revision_at:
    the last create or successful update before it)."""
    if cursor.revision is None:
        kinds = ("agent-created", "successful-update")
        found = session.store.read_oplog_kinds(cursor.agent, kinds)
        if cursor.agent == session.agent:
            first, pending = session.pending()
            found += [
                (i, e)
                for i, e in enumerate(pending, first)
                if isinstance(e, oplog.AgentCreated | oplog.SuccessfulUpdate)
            ]
        revision = 0
        for index, entry in found:
            if index < cursor.next:
                revision = oplog_public.revision_after(entry, ctx, revision)
        cursor.revision = revision
    return cursor.revision


def _chunk(
    session: Session, cursor: OplogCursor, ctx: oplog_public.Context, start: int, revision: int
) -> tuple[list[tuple[int, Entry, Any]], int, int]:
    """One read of up to PAGE_SIZE indexes from ``start``: (index, entry, public entry)
    of each, the next index and the revision after them."""
    out = []
    nxt = start
    for index, entry in _read(session, cursor, start, start + PAGE_SIZE - 1):
        revision = oplog_public.revision_after(entry, ctx, revision)
        out.append((index, entry, oplog_public.to_public(index, entry, ctx, revision)))
        nxt = index + 1
    return out, nxt, revision


def _get_next_live(session: Session, cursor: OplogCursor) -> Some | None:
    ctx = _context(session, cursor.agent)
    revision = _revision_at(session, cursor, ctx)
    found, nxt, revision = _chunk(session, cursor, ctx, cursor.next, revision)
    if nxt == cursor.next:
        return None
    cursor.next, cursor.revision = nxt, revision
    return Some([public for _, _, public in found])


def _search_next_live(session: Session, cursor: OplogCursor) -> Some | None:
    assert cursor.query is not None
    ctx = _context(session, cursor.agent)
    revision = _revision_at(session, cursor, ctx)
    start = current = cursor.next
    matched: list[Any] = []
    while True:
        found, nxt, revision = _chunk(session, cursor, ctx, current, revision)
        matched += [(i, p) for i, e, p in found if oplog_search.matches(e, cursor.query)]
        if nxt == current or len(matched) >= PAGE_SIZE:
            current = nxt
            break
        current = nxt
    if current == start:
        return None
    cursor.next, cursor.revision = current, revision
    return Some(matched)


def _payload_type(sig: FuncSig) -> WitType:
    assert isinstance(sig.result, OptionT), f"get-next answers an option, not {sig.result}"
    return sig.result


def _get_next(live: Callable[[Session, OplogCursor], Some | None]) -> Callable[[FuncSig], HostFunc]:
    def make(sig: FuncSig) -> HostFunc:
        ty = _payload_type(sig)

        def journal(value: Any, args: Sequence[Any]) -> Any:
            cursor = args[0]
            assert isinstance(cursor, OplogCursor)
            page = to_json(value, ty, compact_bytes=True)
            return {
                "page": page,
                "next": cursor.next,
                "revision": cursor.revision,
                "end": cursor.end,
            }

        def resume(session: Session, response: Any, args: Sequence[Any]) -> Any:
            cursor = args[0]
            assert isinstance(cursor, OplogCursor)
            cursor.next, cursor.revision = response["next"], response["revision"]
            cursor.end = response["end"]
            return from_json(response["page"], ty, compact_bytes=True)

        return HostFunc(live, Kind.READ, journal=journal, resume=resume)

    return make


def _get_oplog(sig: FuncSig) -> HostFunc:
    def new(session: Session, agent: dict[str, Any], start: int) -> OplogCursor:
        return _cursor(session, agent, start, None)

    return HostFunc(new)


def _search_oplog(sig: FuncSig) -> HostFunc:
    def new(session: Session, agent: dict[str, Any], text: str) -> OplogCursor:
        from host.runtime.golem import GuestError  # golem.py imports the workers module

        try:
            query = oplog_search.parse(text)
        except oplog_search.QueryError as exc:
            # Golem fails the get-next (its query parse error); the constructor is where
            # the text arrives, and failing here fails the same invocation.
            raise GuestError(str(exc)) from None
        return _cursor(session, agent, 1, query)

    return HostFunc(new)


def _enrich(sig: FuncSig) -> HostFunc:
    def refuse(session: Session, *args: Any) -> Case:
        return Case(
            "err",
            "enrich-oplog-entries: agent-host has no oplog processor plugins and hands out "
            "no raw oplog entries; read public entries with get-oplog or search-oplog",
        )

    return HostFunc(refuse)


FUNCS: dict[str, Callable[[FuncSig], HostFunc]] = {
    "[constructor]get-oplog": _get_oplog,
    "[method]get-oplog.get-next": _get_next(_get_next_live),
    "[constructor]search-oplog": _search_oplog,
    "[method]search-oplog.get-next": _get_next(_search_next_live),
    "enrich-oplog-entries": _enrich,
}


def provided(func: str, sig: FuncSig) -> HostFunc | None:
    """The implementation of golem:api/oplog@1.5.0's ``func``, None if it has none."""
    factory = FUNCS.get(func)
    return factory(sig) if factory is not None else None


__all__ = ["FUNCS", "PAGE_SIZE", "OplogCursor", "provided"]
