"""golem:durability and golem:api/context through the CLI, each step a separate
`agent-host` process, so every call after the first replays the agent from the store:
the guest's durable function is read back, not run again (the next live run is still
the fresh instance's first), and `agent-host oplog` shows the durable function and the
spans. REST runs the same rules as conformance cases (durable-function-replayed,
spans-recorded-once) through the HTTP adapter (tests/e2e/test_conformance.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.build import build_fixture
from tests.server_util import add_component, cli


def _call(store: Path, call: str, *options: str) -> str:
    done = cli(store, "invoke", "dfn", "alice", call, *options)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout.strip()


def test_durable_function_and_spans_through_the_cli(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_component(store, build_fixture("durable-fn-1.5.0"), "dfn")
    assert _call(store, 'durable("x", 1, false, false, false)') == "1"
    # A new process: invocation 1 is replayed from its persisted response.
    assert _call(store, 'durable("y", 1, false, false, false)') == "1"
    spans = json.loads(_call(store, "spans(false)"))
    assert isinstance(spans, list) and len(spans) == 10
    assert _call(store, "forward(false)") == "true"  # the replay of `spans` matched
    shown = cli(store, "oplog", "dfn", "alice")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert text.count("durable function my-api::fetch") == 2
    assert text.count("start span") == 2 and text.count("finish span") == 2
    assert f"start span {spans[3]} (parent {spans[1]})" in text  # outer, under the root


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def test_invoke_takes_a_trace_context_locally_and_against_a_server(tmp_path: Path) -> None:
    # `agent-host invoke --traceparent/--tracestate`: the invocation's trace context, as
    # the REST headers give it (trace-context-headers answers both); against a server the
    # CLI sends them as those headers. Malformed ones are refused with exit code 2.
    from tests.server_util import Server

    store = tmp_path / "store"
    add_component(store, build_fixture("durable-fn-1.5.0"), "dfn")
    traced = ["--traceparent", PARENT, "--tracestate", "a=1", "--tracestate", "b=2"]
    spans = json.loads(_call(store, "spans(false)", *traced))
    assert spans[0] == TRACE and spans[-2] == "a=1,b=2"
    assert spans[-3] == f"00-{TRACE}-{spans[2]}-00"
    for bad, says in [
        (["--traceparent", "00-nope-00f067aa0ba902b7-01"], "is not a W3C traceparent"),
        ([*traced[:2], "--tracestate", "no equals"], "is not a W3C tracestate"),
        (["--tracestate", "a=1"], "--tracestate needs --traceparent"),
    ]:
        refused = cli(store, "invoke", "dfn", "alice", "spans(false)", *bad)
        assert refused.returncode == 2 and "Error: " in refused.stderr, refused.stderr
        assert says in refused.stderr
    server = Server(store).start()
    try:
        remote = cli(store, "--server", server.url, "invoke", "dfn", "bob", "spans(false)",
                     *traced)  # fmt: skip
        assert remote.returncode == 0, remote.stderr
        values = json.loads(remote.stdout)
        assert values[0] == TRACE and values[-2] == "a=1,b=2"
    finally:
        server.stop()
