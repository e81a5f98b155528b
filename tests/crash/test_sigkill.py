"""Crashes of the durable-1.3.0 WAT fixture: real `agent-host` processes killed with
SIGKILL while suspended and mid-invocation lose nothing (split off test_durability.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from host.ids import AgentId
from host.store import AgentRecord
from tests.fixtures.build import build_fixture
from tests.server_util import store_view

AGENT_HOST = str(Path(sys.executable).with_name("agent-host"))


def _cli(store: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENT_HOST_STORE": str(store)}
    return subprocess.run(
        [AGENT_HOST, *args], env=env, capture_output=True, text=True, timeout=120, **kw
    )


def _kill_when(store: Path, call: list[str], status: str) -> AgentId:
    """Register durable-1.3.0, run ``agent-host invoke ...call`` in a real process, SIGKILL
    it as soon as an agent has ``status``; that agent."""
    added = _cli(
        store, "component", "add", str(build_fixture("durable-1.3.0")), "--name", "durable"
    )
    assert added.returncode == 0, added.stderr
    env = {**os.environ, "AGENT_HOST_STORE": str(store)}
    proc = subprocess.Popen(
        [AGENT_HOST, "invoke", "durable", *call],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    view = store_view(store)
    try:
        deadline = time.monotonic() + 60
        found: list[AgentRecord] = []
        while time.monotonic() < deadline and not found:
            found = view.list_agents(status=status)
            time.sleep(0.005)
        assert found, f"no agent became {status}"
    finally:
        view.close()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return found[0].agent


def test_sigkill_while_suspended_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    agent = _kill_when(store, ["alice", "observe-and-await()"], "suspended")
    view = store_view(store)
    (idx,) = view.get_agent(agent).waiting_promises
    done = _cli(store, "promise", "complete", "durable", "alice", str(idx), "--text", "hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "true"
    assert "[104, 105])" in done.stdout
    assert view.get_agent(agent).status == "idle"
    view.close()


def test_sigkill_while_an_invocation_runs_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    # 150 ms is below the in-place wait threshold: the process is inside the guest call.
    agent = _kill_when(store, ["bob", "sleep(150000000)"], "running")
    view = store_view(store)
    assert view.get_agent(agent).status == "running"  # interrupted mid-invocation
    resumed = _cli(store, "worker", "--once")
    assert resumed.returncode == 0, resumed.stderr
    assert view.get_agent(agent).status == "idle"
    (inv,) = view.list_invocations(agent)
    assert inv.state == "done"
    view.close()
