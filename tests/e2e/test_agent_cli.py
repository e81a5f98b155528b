"""The agent protocol through the CLI, each command its own process: component add/show,
invoke with agent ids, suspension on a promise, completion, resume by replay in a new
process, agent errors, ephemeral agents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.build import build_python_fixture


def run(store: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(Path(sys.executable).parent / "agent-host"), "--store", str(store), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_agent_component_end_to_end(tmp_path: Path) -> None:
    store = tmp_path / "data"
    run(store, "component", "add", str(build_python_fixture("agent15")), "--name", "counter")
    shown = run(store, "component", "show", "counter").stdout
    assert "CounterAgent(name: string)  durable" in shown
    assert "mount /counters/{name}" in shown
    assert "increment(by: u32) -> u64" in shown

    c1 = 'CounterAgent("c1")'
    assert run(store, "invoke", "counter", c1, "increment(5)").stdout.strip() == "5"
    data = json.loads(run(store, "--json", "invoke", "counter", c1, "increment(2)").stdout)
    assert data["result"] == 7 and data["method"] == "increment"

    failed = run(store, "invoke", "counter", c1, 'fail("boom")', ok=False)
    assert failed.returncode == 1 and "boom" in failed.stderr
    refused = run(store, "invoke", "counter", c1, "nope()", ok=False)
    assert refused.returncode != 0 and "no method 'nope'" in refused.stderr

    waiting = run(store, "--json", "invoke", "counter", c1, "wait_for()")
    (idx,) = json.loads(waiting.stdout)["oplog_indexes"]
    run(store, "promise", "complete", "counter", c1, str(idx), "--json", '"approved"')
    # A new process replays the agent: the total survived, the promise's payload arrived.
    assert run(store, "invoke", "counter", c1, "increment(1)").stdout.strip() == "8"

    scratch = "ScratchAgent()"
    assert run(store, "invoke", "counter", scratch, "bump()").stdout.strip() == "1"
    assert run(store, "invoke", "counter", scratch, "bump()").stdout.strip() == "1"
