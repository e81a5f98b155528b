"""``search-oplog``'s query language and what an entry matches, as Golem defines them.

Golem's query is a simplified Lucene query (golem-common ``model/lucene.rs``): terms
(case-insensitive substring), ``"phrases"`` (case-sensitive substring), ``/regex/``
(searched anywhere), ``field:`` or ``field=`` prefixes (a dotted path into a host call's
request or response), ``( )`` grouping, ``NOT``, ``AND``, ``OR`` and juxtaposition
(``a b`` is ``a AND b``; ``OR`` binds tighter than juxtaposition, ``AND`` tighter than
``OR``). An entry matches a leaf through its public entry's words: the case's names
(``host-call``, ``HostCall``, ``imported-function``, ...) and a few fields per case
(golem-common ``model/oplog/matcher.rs``). A path-less query searches everything; a
field query only what has a path, which here is a host call's request and response
(JSON, walked by object key, list position and ``ok``/``err``).

Pure: no wasmtime, no store. A bad query is :class:`QueryError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from host import oplog
from host.errors import InvalidInput
from host.oplog_public import shown_response


class QueryError(InvalidInput):
    """The search text is not a query of Golem's language; the message says where."""


@dataclass(frozen=True)
class Leaf:
    kind: str  # "term", "phrase" or "regex"
    value: str

    def matches(self, s: str) -> bool:
        if self.kind == "term":
            return self.value.lower() in s.lower()
        if self.kind == "phrase":
            return self.value in s
        return re.search(self.value, s) is not None


@dataclass(frozen=True)
class Node:
    op: str  # "and", "or", "not", "field", "leaf"
    children: tuple[Node, ...] = ()
    leaf: Leaf | None = None
    field: str = ""


_SPECIAL = set(' \t\n\r+-!():^<>=[]"{}~\\/\u3000')
_KEYWORDS = {"AND", "OR", "NOT"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def fail(self, what: str) -> QueryError:
        return QueryError(f"search query {self.s!r}: {what} at position {self.i}")

    def spaces(self) -> int:
        start = self.i
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1
        return self.i - start

    def keyword(self, word: str) -> bool:
        """`` WORD `` (spaces around it) at the cursor; consumed if so."""
        save = self.i
        self.spaces()
        end = self.i + len(word)
        if self.s.startswith(word, self.i) and end < len(self.s) and self.s[end].isspace():
            self.i = end
            self.spaces()
            return True
        self.i = save
        return False

    def query(self) -> Node:
        parts = [self.disjunct()]
        while True:
            save = self.i
            if not self.spaces() or self.i >= len(self.s) or self.s[self.i] == ")":
                self.i = save
                break
            parts.append(self.disjunct())
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def disjunct(self) -> Node:
        parts = [self.conjunct()]
        while self.keyword("OR"):
            parts.append(self.conjunct())
        return parts[0] if len(parts) == 1 else Node("or", tuple(parts))

    def conjunct(self) -> Node:
        parts = [self.modified()]
        while self.keyword("AND"):
            parts.append(self.modified())
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def modified(self) -> Node:
        if self.keyword("NOT"):
            return Node("not", (self.clause(),))
        return self.clause()

    def clause(self) -> Node:
        save = self.i
        field = self.term_text() if self.at_term() else None
        if field is not None:
            self.spaces()
            if self.i < len(self.s) and self.s[self.i] in ":=":
                self.i += 1
                self.spaces()
                return Node("field", (self.group_or_term(),), field=field)
        self.i = save
        return self.group_or_term()

    def group_or_term(self) -> Node:
        if self.i < len(self.s) and self.s[self.i] == "(":
            self.i += 1
            inner = self.query()
            if self.i >= len(self.s) or self.s[self.i] != ")":
                raise self.fail("expected ')'")
            self.i += 1
            return inner
        if self.i < len(self.s) and self.s[self.i] in '/"':
            quote = self.s[self.i]
            self.i += 1
            out: list[str] = []
            while self.i < len(self.s) and self.s[self.i] != quote:
                if self.s.startswith("\\" + quote, self.i):
                    self.i += 1
                out.append(self.s[self.i])
                self.i += 1
            if self.i >= len(self.s):
                raise self.fail(f"unterminated {quote}")
            self.i += 1
            kind = "regex" if quote == "/" else "phrase"
            if kind == "regex":
                try:
                    re.compile("".join(out))
                except re.error as exc:
                    raise self.fail(f"invalid regular expression ({exc})") from None
            return Node("leaf", leaf=Leaf(kind, "".join(out)))
        if not self.at_term():
            raise self.fail("expected a term")
        return Node("leaf", leaf=Leaf("term", self.term_text()))

    def at_term(self) -> bool:
        return self.i < len(self.s) and (self.s[self.i] not in _SPECIAL or self.s[self.i] == "\\")

    def term_text(self) -> str:
        out: list[str] = []
        first = True
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "\\" and self.i + 1 < len(self.s):
                out.append(self.s[self.i + 1])
                self.i += 2
            elif c not in _SPECIAL or (not first and c in "+-"):
                out.append(c)
                self.i += 1
            else:
                break
            first = False
        word = "".join(out)
        if word in _KEYWORDS:
            raise self.fail(f"keyword {word} used in term position")
        return word


def parse(text: str) -> Node:
    """The query ``text`` means (QueryError if it is not one)."""
    p = _Parser(text)
    p.spaces()
    node = p.query()
    p.spaces()
    if p.i != len(p.s):
        raise p.fail("unexpected text")
    return node


# -- what an entry offers to match ---------------------------------------------------------
_Words = Iterator[tuple[tuple[str, ...], str]]  # (path, text)


def _json_words(value: Any, path: tuple[str, ...]) -> _Words:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return
        for key, item in value.items():
            yield from _json_words(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _json_words(item, (*path, str(i)))
    elif isinstance(value, bool):
        yield path, "true" if value else "false"
    elif value is not None:
        yield path, str(value)


_NAMES: dict[type[Any], tuple[str, ...]] = {
    oplog.AgentCreated: ("create",),
    oplog.HostCall: ("HostCall", "host-call", "imported-function"),
    oplog.PromiseCreated: ("HostCall", "host-call", "imported-function"),
    oplog.InvocationStarted: ("agentinvocationstarted", "invoke", "agent-invocation-started"),
    oplog.InvocationFinished: ("agentinvocationfinished", "invoke", "agent-invocation-finished"),
    oplog.Suspended: ("suspend",),
    oplog.InvocationFailed: ("error",),
    oplog.Retried: ("noop",),
    oplog.BeginAtomicRegion: ("beginatomicregion", "begin-atomic-region"),
    oplog.EndAtomicRegion: ("endatomicregion", "end-atomic-region"),
    oplog.BeginRemoteWrite: ("beginremotewrite", "begin-remote-write"),
    oplog.EndRemoteWrite: ("endremotewrite", "end-remote-write"),
    oplog.Jump: ("jump",),
    oplog.ChangePersistenceLevel: (
        "changepersistencelevel",
        "change-persistence-level",
        "persistence-level",
    ),
    oplog.Snapshot: ("snapshot",),
    oplog.PendingUpdate: ("pendingupdate", "pending-update", "update"),
    oplog.SuccessfulUpdate: ("successfulupdate", "successful-update", "update"),
    oplog.FailedUpdate: ("failedupdate", "failed-update", "update"),
    oplog.DurableFunctionCall: ("HostCall", "host-call", "imported-function"),
    oplog.StartSpan: ("startspan", "start-span"),
    oplog.SetSpanAttribute: ("setspanattribute", "set-span-attribute"),
    oplog.FinishSpan: ("finishspan", "finish-span"),
    oplog.SetRetryPolicy: ("setretrypolicy", "set-retry-policy"),
    oplog.RemoveRetryPolicy: ("removeretrypolicy", "remove-retry-policy"),
    # Golem writes an Error entry for an in-function retry.
    oplog.InFunctionRetry: ("error", "in-function-retry"),
}


def words(entry: oplog.Entry) -> _Words:
    """(path, text) pairs a query can match in ``entry``'s public form: the path-less
    names and fields Golem's matcher looks at, and a host call's payloads by path."""
    if isinstance(entry, oplog.HostCall) and entry.function.startswith("wasi:logging/"):
        yield (), "log"  # a log entry in public form (host.oplog_public)
        if isinstance(entry.request, list):
            for item in entry.request[1:]:
                yield (), str(item)
        return
    for name in _NAMES[type(entry)]:
        yield (), name
    if isinstance(entry, oplog.HostCall | oplog.PromiseCreated):
        yield (), entry.function
    if isinstance(entry, oplog.HostCall):
        yield from _json_words(entry.request, ())
        yield from _json_words(shown_response(entry), ())
    elif isinstance(entry, oplog.InvocationStarted):
        initialize = entry.function.rpartition(".")[2].strip("{}") == "initialize"
        if initialize:
            yield (), "agent-initialization"
        else:
            yield (), "agent-method-invocation"
            yield (), entry.function
        yield (), entry.idempotency_key or entry.invocation_id
    elif isinstance(entry, oplog.InvocationFinished):
        yield (), "0"  # consumed fuel
    elif isinstance(entry, oplog.InvocationFailed):
        yield (), entry.error
    elif isinstance(entry, oplog.InFunctionRetry):
        yield (), entry.function
        yield (), entry.detail
    elif isinstance(entry, oplog.PendingUpdate | oplog.SuccessfulUpdate):
        yield (), str(entry.target_version)
    elif isinstance(entry, oplog.FailedUpdate):
        yield (), str(entry.target_version)
        yield (), entry.details
    elif isinstance(entry, oplog.DurableFunctionCall):
        yield (), entry.function
    elif isinstance(entry, oplog.StartSpan):
        yield (), entry.span_id
        yield (), entry.parent
        for key, value in entry.attributes:
            yield (), key
            yield (), value
    elif isinstance(entry, oplog.SetSpanAttribute):
        yield (), entry.key
        yield (), entry.value
    elif isinstance(entry, oplog.FinishSpan):
        yield (), entry.span_id


def _leaf_matches(entry: oplog.Entry, path: tuple[str, ...], leaf: Leaf) -> bool:
    want = tuple(p.lower() for p in path)
    for have, text in words(entry):
        if (not want or tuple(h.lower() for h in have) == want) and leaf.matches(text):
            return True
    return False


def matches(entry: oplog.Entry, query: Node, path: tuple[str, ...] = ()) -> bool:
    """Whether ``entry`` matches ``query`` (from :func:`parse`)."""
    if query.op == "and":
        return all(matches(entry, q, path) for q in query.children)
    if query.op == "or":
        return any(matches(entry, q, path) for q in query.children)
    if query.op == "not":
        return not matches(entry, query.children[0], path)
    if query.op == "field":
        return matches(entry, query.children[0], (*path, *query.field.split(".")))
    assert query.leaf is not None
    return _leaf_matches(entry, path, query.leaf)


__all__ = ["Leaf", "Node", "QueryError", "matches", "parse", "words"]
