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


def _call(store: Path, call: str) -> str:
    done = cli(store, "invoke", "dfn", "alice", call)
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
