"""A crash mid-invocation after some output (issue 11, item 8): the restarted host does not
write again what was already shown. Guest stdout writes are recorded in the oplog and shown
only once their record is committed, so a replay answers them from the log (showing
nothing) and only the writes the crash lost are made, and shown, again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host.oplog import HostCall
from tests.fixtures.build import build_fixture
from tests.server_util import store_view

AGENT_HOST = str(Path(sys.executable).with_name("agent-host"))
LINES = 30
SPIN = 30_000_000  # ~0.1 s of busy loop after each line


def _cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENT_HOST_STORE": str(store)}
    return subprocess.run(
        [AGENT_HOST, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _ticks(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[t1] tick")]


@pytest.mark.parametrize("recover", ["worker", "interrupt-resume"])
def test_sigkill_after_some_output_then_restart_shows_each_line_once(
    tmp_path: Path, recover: str
) -> None:
    store = tmp_path / "store"
    added = _cli(store, "component", "add", str(build_fixture("ticker")), "--name", "ticker")
    assert added.returncode == 0, added.stderr
    proc = subprocess.Popen(
        [AGENT_HOST, "invoke", "ticker", "t1", f"tick({LINES}, {SPIN})"],
        env={**os.environ, "AGENT_HOST_STORE": str(store)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    shown: list[str] = []
    deadline = time.monotonic() + 60
    while len(shown) < 5:  # guest output goes to the CLI's stderr, a line at a time
        assert time.monotonic() < deadline, "no output"
        line = proc.stderr.readline()
        assert line, "the invocation ended before the crash"
        if line.startswith("[t1] tick"):
            shown.append(line.rstrip("\n"))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    shown += _ticks(proc.stderr.read())  # what it printed before it died
    assert len(shown) < LINES  # killed mid-invocation

    view = store_view(store)
    try:
        (agent,) = [a.agent for a in view.list_agents()]
        assert view.get_agent(agent).status == "running"
        if recover == "worker":
            resumed = _cli(store, "worker", "--once")
        else:
            # The dead process's run can be interrupted too; the resume replays it.
            stopped = _cli(store, "agent", "interrupt", "ticker", "t1")
            assert stopped.returncode == 0, stopped.stderr
            assert view.get_agent(agent).status == "interrupted"
            resumed = _cli(store, "agent", "resume", "ticker", "t1")
        assert resumed.returncode == 0, resumed.stderr
        assert view.get_agent(agent).status == "idle"
        after = _ticks(resumed.stderr)
        expected = [f"[t1] tick {i % 10}" for i in range(LINES)]
        # No line is shown twice and none out of order: what the first process showed is a
        # prefix, what the second shows is the rest. Output is shown only after its record
        # is committed, so a kill between the commit and the display can leave a gap
        # between the two (lines recorded, and listed by `agent-host oplog`, but never
        # displayed): at most once, never twice.
        assert shown == expected[: len(shown)]
        assert after == expected[LINES - len(after) :]
        assert len(shown) + len(after) <= LINES
        assert len(after) > 0  # the crash interrupted the invocation; the resume finished it
        writes = [
            e for e in view.read_oplog(agent) if isinstance(e, HostCall) and "write" in e.function
        ]
        assert len(writes) == LINES
    finally:
        view.close()
