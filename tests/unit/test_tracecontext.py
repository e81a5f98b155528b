"""host/tracecontext.py: W3C traceparent and tracestate as Golem reads and writes them."""

from __future__ import annotations

from host.tracecontext import TraceContext, outgoing, parse_tracestate, trace_context

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_keeps_its_tracestate_members_in_order() -> None:
    ctx = trace_context(PARENT.upper(), ["abc=123,defgh=010203", "ijklmn=op"])
    assert ctx == TraceContext(PARENT, "abc=123,defgh=010203,ijklmn=op")
    assert (ctx.trace_id, ctx.parent_id) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert ctx.headers() == [("traceparent", PARENT), ("tracestate", ctx.tracestate)]


def test_an_invalid_traceparent_drops_the_whole_context() -> None:
    for bad in ["", "00-zz-00f067aa0ba902b7-01", f"{PARENT}-extra",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"]:  # fmt: skip
        assert trace_context(bad, "a=b") is None, bad
    assert trace_context(None, "a=b") is None


def test_tracestate_lists() -> None:
    assert parse_tracestate(None) is None
    assert parse_tracestate(" , ,") is None  # empty members only: none
    assert parse_tracestate("a=1,,b=2 ") == "a=1,b=2"
    assert parse_tracestate("tenant@vendor=x y") == "tenant@vendor=x y"  # inner space ok
    for bad in ["novalue", "A=upper-key", "k=", "k=a,b", "k=x=y", "k=\u00e9"]:
        assert parse_tracestate(bad) is None, bad
    assert parse_tracestate(",".join(f"k{i}=v" for i in range(32))) is not None
    assert parse_tracestate(",".join(f"k{i}=v" for i in range(33))) is None  # W3C: 32 at most


def test_outgoing_headers_have_flags_00_and_no_empty_tracestate() -> None:
    span = "1111111111111111"
    assert outgoing("ab" * 16, span, None) == [("traceparent", f"00-{'ab' * 16}-{span}-00")]
    assert outgoing("ab" * 16, span, "a=b")[1] == ("tracestate", "a=b")


def test_an_invocation_started_without_trace_context_keeps_its_old_text() -> None:
    # Both fields were added after entries of the type were stored: left out of the text
    # form while at their default, the later one first, so older entries read the same.
    from host.oplog import InvocationStarted
    from host.oplog_codec import from_text, to_text

    plain = InvocationStarted("i", "f", (), None, 1)
    assert "trace" not in to_text(plain)
    parented = InvocationStarted("i", "f", (), None, 1, PARENT)
    assert '"traceparent"' in to_text(parented) and "tracestate" not in to_text(parented)
    full = InvocationStarted("i", "f", (), None, 1, PARENT, "a=b")
    for entry in (plain, parented, full):
        assert from_text(to_text(entry)) == entry
