"""Agent-to-agent RPC through the CLI, each command its own process: a caller awaits a
callee created on first use, sends it a fire-and-forget call, awaits a callee that
suspends on a promise (both suspend; completing the callee's promise in another process
finishes both), and a new process replaying the caller does not call the callee again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.build import build_python_fixture

pytestmark = pytest.mark.slow  # builds and compiles an 18 MB componentize-py guest


def run(store: Path, *args: str) -> str:
    cmd = [str(Path(sys.executable).parent / "agent-host"), "--store", str(store), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_rpc_through_the_cli(tmp_path: Path) -> None:
    store = tmp_path / "data"
    run(store, "component", "add", str(build_python_fixture("rpc_pair")), "--name", "pair")
    caller = 'CallerAgent("a")'
    assert run(store, "invoke", "pair", caller, 'call_add("c1", 5)').strip() == "5"
    assert run(store, "invoke", "pair", caller, 'send_add("c1", 2)').strip() == '"sent"'
    assert run(store, "invoke", "pair", 'CounterAgent("c1")', "get()").strip() == "7"

    waiting = json.loads(run(store, "--json", "invoke", "pair", caller, 'call_wait("w")'))
    assert waiting["state"] == "started" and waiting["status"] == "suspended"
    (promise,) = json.loads(run(store, "--json", "promise", "list", "pair", 'CounterAgent("w")'))
    run(
        store,
        "promise",
        "complete",
        "pair",
        'CounterAgent("w")',
        str(promise["oplog_idx"]),
        "--json",
        '"ok"',
    )
    shown = json.loads(run(store, "--json", "agent", "show", "pair", caller))
    assert shown["status"] == "idle"

    # A new process replays the caller's three calls; the callee counts only live calls.
    assert run(store, "invoke", "pair", caller, 'call_add("c1", 1)').strip() == "8"
    assert run(store, "invoke", "pair", 'CounterAgent("c1")', "calls_made()").strip() == "3"
