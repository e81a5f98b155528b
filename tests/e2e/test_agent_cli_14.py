"""A Golem 1.4 agent component (unversioned golem:agent/guest, tests/fixtures/py/agent14)
through the CLI, each command its own process: component add/show, invoke by the 1.4
kebab-case id and the 1.5 form, suspension on a promise, completion, resume by replay in
a new process, agent errors, ephemeral agents."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_agent_cli import run
from tests.fixtures.build import build_python_fixture


def test_1_4_agent_component_end_to_end(tmp_path: Path) -> None:
    store = tmp_path / "data"
    run(store, "component", "add", str(build_python_fixture("agent14")), "--name", "c14")
    shown = run(store, "component", "show", "c14").stdout
    assert "CounterAgent(name: string)  durable" in shown
    assert "increment(by: u32) -> u64" in shown
    assert "mount" not in shown

    kebab, pascal = 'counter-agent("c1")', 'CounterAgent("c1")'
    assert run(store, "invoke", "c14", kebab, "increment(5)").stdout.strip() == "5"
    data = json.loads(run(store, "--json", "invoke", "c14", pascal, "increment(2)").stdout)
    assert data["result"] == 7

    failed = run(store, "invoke", "c14", kebab, 'fail("boom")', ok=False)
    assert failed.returncode == 1 and "boom" in failed.stderr

    waiting = run(store, "--json", "invoke", "c14", kebab, "wait_for()")
    (idx,) = json.loads(waiting.stdout)["oplog_indexes"]
    run(store, "promise", "complete", "c14", pascal, str(idx), "--json", '"approved"')
    # A new process replays the agent: the total survived, the promise's payload arrived.
    assert run(store, "invoke", "c14", kebab, "increment(1)").stdout.strip() == "8"
    # Both id forms named one agent, stored under the canonical (1.5) form.
    agents = json.loads(run(store, "--json", "agent", "list", "--component", "c14").stdout)
    assert [a["name"] for a in agents] == [pascal]

    scratch = "scratch-agent()"
    assert run(store, "invoke", "c14", scratch, "bump()").stdout.strip() == "1"
    assert run(store, "invoke", "c14", scratch, "bump()").stdout.strip() == "1"
