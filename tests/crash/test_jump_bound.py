"""A guest that jumps back forever (set-oplog-index to its own mark, every attempt) ends:
the jumps of an invocation are counted in the oplog, so a SIGKILLed process and the one
that recovers the agent share one bound (limit max_oplog_jumps). Before, the only bound
was the invocation's wall-clock deadline, which starts anew on every run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from host.oplog import Jump
from host.store import Store
from tests.fixtures.build import build_fixture
from tests.fixtures.postgres import env_for
from tests.server_util import store_view

AGENT_HOST = str(Path(sys.executable).with_name("agent-host"))
LIMIT = 40
FOREVER = "jump-loop(18446744073709551615)"  # the mark is always below the limit


def _cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**env_for(store), "AGENT_HOST_STORE": str(store)}
    return subprocess.run([AGENT_HOST, *args], env=env, capture_output=True, text=True, timeout=120)


def _jumps(view: Store) -> int:
    agents = view.list_agents()
    if not agents:
        return 0
    return sum(isinstance(e, Jump) for e in view.read_oplog(agents[0].agent))


def test_a_forever_jumping_guest_fails_after_the_bound_across_a_crash(tmp_path: Path) -> None:
    store = tmp_path / "store"
    added = _cli(
        store, "component", "add", str(build_fixture("transactions-1.3.0")), "--name", "tx"
    )
    assert added.returncode == 0, added.stderr
    limited = _cli(store, "limits", "set", "tx", "--max-jumps", str(LIMIT))
    assert limited.returncode == 0, limited.stderr
    env = {**env_for(store), "AGENT_HOST_STORE": str(store)}
    proc = subprocess.Popen(
        [AGENT_HOST, "invoke", "tx", "loop", FOREVER],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    view = store_view(store)
    try:
        deadline = time.monotonic() + 60
        while _jumps(view) < 5:
            assert time.monotonic() < deadline, "the guest never jumped"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = _jumps(view)
        (record,) = view.list_agents()
        assert record.status == "running"  # the crash left it mid-invocation
        assert before < LIMIT, "the first process ran to the bound before it was killed"
        # Another process recovers the agent: it jumps on, but only up to the same bound.
        resumed = _cli(store, "worker", "--once")
        assert resumed.returncode == 0, resumed.stderr
        assert "Traceback" not in resumed.stderr
        record = view.get_agent(record.agent)
        assert record.status == "failed"
        assert "max_oplog_jumps" in (record.last_error or "")
        assert _jumps(view) == LIMIT
        (inv,) = view.list_invocations(record.agent)
        assert inv.state == "failed" and "jump number 41" in (inv.error or "")
    finally:
        view.close()
