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

The agent's own oplog is read live, as Golem's get-next reads it (Golem 1.5's
``HostGetOplog::get_next`` reads the oplog as it is at each call): entries the agent
added after it made the cursor, committed or not yet, are in later pages. Golem records
no oplog read; here each get-next is recorded (below), so an own cursor does not show
the records of the oplog reads made since it was made (``since``), else it would never
end; the indexes of the entries it shows stay their oplog indexes. Reads recorded before
the cursor was made show, as host calls with their page's size.

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
    query, and for the calling agent's own oplog the index it was made at (``since``)."""

    def __init__(
        self, agent: AgentId, start: int, query: oplog_search.Node | None, since: int | None
    ) -> None:
        self.agent = agent
        self.next = start
        self.revision: int | None = None
        self.query = query
        # An agent reading its own oplog sees it live, as Golem's get-next does (entries
        # added after the cursor was made included), but not the records of the oplog
        # reads made since then: Golem records no oplog read, and a cursor that saw its
        # own records would never end.
        self.since = since


def _cursor(session: Session, agent: dict[str, Any], start: int, query: Any) -> OplogCursor:
    target = id_from(agent)
    # The replay cursor: the entries before this call, the same live and on replay.
    since = session.cursor if target == session.agent else None
    return OplogCursor(target, start, query, since)


def _context(session: Session, agent: AgentId) -> oplog_public.Context:
    versions = session.store.list_component_versions(str(agent.component_id))
    return oplog_public.Context(agent, {c.hash: (c.version, c.size) for c in versions})


def hidden(cursor: OplogCursor, index: int, entry: Entry) -> bool:
    """Whether the cursor does not show ``entry``: on the agent's own oplog, the record
    of an oplog read made since the cursor was."""
    return (
        cursor.since is not None
        and index > cursor.since
        and isinstance(entry, oplog.HostCall)
        and entry.function.startswith(oplog_public.OPLOG_READS)
    )


def _read(session: Session, cursor: OplogCursor, lo: int, hi: int) -> list[tuple[int, Entry]]:
    """Entries ``lo .. hi`` of the cursor's oplog as they are now; the calling agent's
    own include what it recorded and has not committed yet."""
    agent = cursor.agent
    lo = max(lo, 1)
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
    of each shown one, the next index and the revision after them."""
    out = []
    nxt = start
    for index, entry in _read(session, cursor, start, start + PAGE_SIZE - 1):
        nxt = index + 1
        if hidden(cursor, index, entry):
            continue
        revision = oplog_public.revision_after(entry, ctx, revision)
        out.append((index, entry, oplog_public.to_public(index, entry, ctx, revision)))
    return out, nxt, revision


def _get_next_live(session: Session, cursor: OplogCursor) -> Some | None:
    ctx = _context(session, cursor.agent)
    revision = _revision_at(session, cursor, ctx)
    start = cursor.next
    found, nxt, revision = _chunk(session, cursor, ctx, start, revision)
    while not found and nxt != start:  # a chunk of hidden records only: read on
        start = nxt
        found, nxt, revision = _chunk(session, cursor, ctx, start, revision)
    # Past hidden records only: nothing new, as Golem answers when the cursor did not
    # move (it moves on over them, so they are not read again).
    cursor.next, cursor.revision = nxt, revision
    return Some([public for _, _, public in found]) if found else None


def _search_next_live(session: Session, cursor: OplogCursor) -> Some | None:
    assert cursor.query is not None
    ctx = _context(session, cursor.agent)
    revision = _revision_at(session, cursor, ctx)
    current = cursor.next
    matched: list[Any] = []
    shown = False  # whether the scan passed any entry it shows (not only hidden records)
    while True:
        found, nxt, revision = _chunk(session, cursor, ctx, current, revision)
        shown = shown or bool(found)
        matched += [(i, p) for i, e, p in found if oplog_search.matches(e, cursor.query)]
        moved = nxt != current
        current = nxt
        if not moved or len(matched) >= PAGE_SIZE:
            break
    cursor.next, cursor.revision = current, revision
    return Some(matched) if shown else None


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
                "since": cursor.since,
            }

        def resume(session: Session, response: Any, args: Sequence[Any]) -> Any:
            cursor = args[0]
            assert isinstance(cursor, OplogCursor)
            cursor.next, cursor.revision = response["next"], response["revision"]
            # Records before the live view kept "end" (the same index: where the
            # cursor was made, which bounded its view then).
            cursor.since = response["since"] if "since" in response else response.get("end")
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
