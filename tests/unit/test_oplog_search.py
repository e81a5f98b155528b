"""search-oplog's query language (host/oplog_search.py): Golem's simplified Lucene, and
what each of our entries offers to match, without wasm."""

from __future__ import annotations

import pytest

from host import oplog
from host.oplog_search import QueryError, matches, parse

CALL = oplog.HostCall(
    "wasi:http/outgoing-handler@0.2.3.handle",
    {"method": "GET", "headers": [["Accept", "text/plain"]]},
    {"ok": {"status": 200, "body": "Hello World"}},
)
LOG = oplog.HostCall("wasi:logging/logging.log", ["info", "ctx", "Started the Job"], None)
STARTED = oplog.InvocationStarted("inv-1", "checkout", ('"cart-7"',), "key-42")
FAILED = oplog.InvocationFailed("inv-1", "wasm trap: unreachable")
UPDATE = oplog.FailedUpdate(3, "no such export")


def _hits(query: str, *entries: oplog.Entry) -> list[bool]:
    q = parse(query)
    return [matches(e, q) for e in entries]


def test_a_term_is_a_case_insensitive_substring_of_the_entry_words() -> None:
    assert _hits("HOST-CALL", CALL, STARTED) == [True, False]
    assert _hits("imported", CALL) == [True]
    assert _hits("outgoing-HANDLER", CALL) == [True]  # the function name
    assert _hits("hello", CALL, LOG) == [True, False]  # inside the response
    assert _hits("job", LOG, CALL) == [True, False]  # a log's message
    assert _hits("log", LOG) == [True]
    assert _hits("CHECKOUT", STARTED) == [True]  # the method name
    assert _hits("key-42", STARTED) == [True]  # the idempotency key
    assert _hits("invoke", STARTED, FAILED) == [True, False]
    assert _hits("unreachable", FAILED) == [True]
    assert _hits("export", UPDATE) == [True]
    assert _hits("3", UPDATE) == [True]  # the target revision


def test_a_phrase_is_case_sensitive_and_keeps_spaces() -> None:
    assert _hits('"Hello World"', CALL) == [True]
    assert _hits('"hello world"', CALL) == [False]
    assert _hits('"the Job"', LOG) == [True]


def test_a_regex_is_searched_anywhere() -> None:
    assert _hits("/^wasi:http/", CALL, LOG) == [True, False]
    assert _hits("/st[a-z]tus/", CALL) == [False]  # keys are paths, not words
    assert _hits("/^2\\d\\d$/", CALL) == [True]  # the status value


def test_boolean_operators_and_grouping() -> None:
    assert _hits("host-call AND hello", CALL, LOG) == [True, False]
    assert _hits("checkout OR unreachable", STARTED, FAILED, CALL) == [True, True, False]
    assert _hits("NOT error", FAILED, STARTED) == [False, True]
    # juxtaposition is AND, OR binds tighter: a AND (b OR c)
    assert _hits("invoke checkout OR nothing", STARTED) == [True]
    assert _hits("invoke (nothing OR missing)", STARTED) == [False]
    assert _hits("(error OR update) AND NOT export", FAILED, UPDATE) == [True, False]


def test_a_field_query_follows_a_host_calls_payload_path() -> None:
    assert _hits("ok.status:200", CALL) == [True]
    assert _hits("OK.Status=200", CALL) == [True]  # paths compare case-insensitively
    assert _hits("ok.body:world", CALL) == [True]
    assert _hits("ok.body:200", CALL) == [False]  # wrong field
    assert _hits("method:get", CALL) == [True]
    assert _hits("headers.0.1:plain", CALL) == [True]  # list positions
    # Words without a path (the case names, a log message) never match a field query.
    assert _hits("message:job", LOG) == [False]


@pytest.mark.parametrize("bad", ["AND", "(unclosed", '"open', "/[/", "a )", "x OR"])
def test_a_bad_query_is_refused_with_where(bad: str) -> None:
    with pytest.raises(QueryError, match="search query"):
        parse(bad)


def test_escapes_and_term_characters() -> None:
    assert _hits("wasi\\:http", CALL) == [True]  # an escaped colon is not a field
    assert _hits("cart-7", STARTED) == [False]  # parameters are not searched, as Golem's


def test_every_entry_type_has_words_and_the_later_ones_match_by_name() -> None:
    # A type missing from the table made search-oplog raise KeyError on any oplog that
    # held one (spans, durable functions), not just fail to match.
    from host import oplog_search

    assert set(oplog._TYPES.values()) == set(oplog_search._NAMES)
    named = oplog.SetRetryPolicy({"name": "http", "priority": 1})
    removed = oplog.RemoveRetryPolicy("http")
    span = oplog.FinishSpan("00f067aa0ba902b7")
    attribute = oplog.SetSpanAttribute("00f067aa0ba902b7", "user", "alice")
    assert _hits("set-retry-policy", named, removed, span) == [True, False, False]
    assert _hits("removeretrypolicy", named, removed) == [False, True]
    assert _hits("finish-span", span, attribute) == [True, False]
    assert _hits("00f067aa0ba902b7", span) == [True]
    assert _hits("alice", attribute, span) == [True, False]
