"""The crash window of a guest's fork() (issue 11, item 6): the copy is written in one
commit, the source's own entry for the call in the next. A real ``agent-host invoke``
killed with SIGKILL just after the copy's commit leaves a copy and a source whose log
does not have the call; the recovery replays the source, which makes the call again:
it must find the copy it made (no second copy, no failure) and answer ``original``.
Under persist-nothing (``fork-unpersisted``) the recovery's call is live, so it does the
same; a later replay, which reaches the unrecorded call again, fails as in Golem.

The crash seam (host/store/crashpoint.py) wraps the SQLite store only."""

from __future__ import annotations

from pathlib import Path

import pytest

from host import oplog
from host.store import DB_FILENAME, SqliteStore
from tests.crash_harness import run_cli
from tests.fixtures.build import build_fixture

pytestmark = [pytest.mark.sqlite_only]


def _commits(count_file: Path) -> list[str]:
    return [line.split()[1] for line in count_file.read_text().splitlines()]


def _setup(store: Path) -> None:
    added = run_cli(store, ["component", "add", str(build_fixture("fork-1.5.0")), "--name", "f"])
    assert added.returncode == 0, added.stderr
    assert run_cli(store, ["invoke", "f", "src", "add(7)"]).returncode == 0


@pytest.mark.parametrize("call", ["fork-self()", "fork-unpersisted()"])
def test_crash_between_the_copy_and_the_sources_entry_forks_once(tmp_path: Path, call: str) -> None:
    # A clean run, counting commits: which one writes the copy.
    clean = tmp_path / "clean"
    _setup(clean)
    count = tmp_path / "count"
    done = run_cli(clean, ["invoke", "f", "src", call], {"AGENT_HOST_CRASH_COUNT_FILE": str(count)})
    assert done.returncode == 0, done.stderr
    methods = _commits(count)
    at = methods.index("fork_agent") + 1  # commits are numbered from 1
    assert "append" in methods[at:] or call == "fork-unpersisted()", methods

    store = tmp_path / "store"
    _setup(store)
    crash = {"AGENT_HOST_CRASH_AT": str(at), "AGENT_HOST_CRASH_WHEN": "after"}
    killed = run_cli(store, ["invoke", "f", "src", call], crash)
    assert killed.returncode == -9, (killed.returncode, killed.stderr)

    recovered = run_cli(store, ["worker", "--once"])
    assert recovered.returncode == 0, recovered.stderr
    db = SqliteStore(store / DB_FILENAME)
    try:
        agents = [r.agent for r in db.list_agents()]
        assert len(agents) == 2, agents  # the source and one copy
        (copy,) = [a for a in agents if a.name != "src"]
        (src,) = [a for a in agents if a.name == "src"]
        (inv,) = [i for i in db.list_invocations(src) if i.function.startswith("fork")]
        assert inv.state == "done" and inv.result == '"original"', inv
        calls = [e for e in db.read_oplog(src) if isinstance(e, oplog.HostCall)]
        assert len(calls) == (1 if call == "fork-self()" else 0), calls
    finally:
        db.close()
    after = run_cli(store, ["invoke", "f", "src", "add(0)"])
    if call == "fork-self()":
        assert after.stdout.count("107") == 1, after.stdout
    else:
        # The recovery ran the call live (the log ended inside its persist-nothing
        # region); a later replay of the source reaches the unrecorded fork and fails, as
        # Golem's durable fork does (tests/host/test_persist_nothing_management.py).
        assert '"status": "failed"' in after.stdout, after.stdout
    forked = run_cli(store, ["invoke", "f", copy.name, "add(0)"])
    assert forked.returncode == 0 and "1007" in forked.stdout, forked.stdout + forked.stderr


def test_crash_between_a_fork_agent_copy_and_the_callers_entry_finishes_the_call(
    tmp_path: Path,
) -> None:
    """fork-agent of another agent (the management guest's fork-to), killed just after the
    copy's commit: the caller's log has the fork's intent (begin-remote-write) but not the
    call. The recovery replays the caller, recognises the copy its intent made and
    finishes the call (no failure, no second copy); a live repeat of the same fork fails
    (tests/host/test_fork_update.py)."""
    wasm = str(build_fixture("management-1.5.0"))

    def setup(store: Path) -> None:
        assert run_cli(store, ["component", "add", wasm, "--name", "m"]).returncode == 0
        assert run_cli(store, ["invoke", "m", "alpha", "add(5)"]).returncode == 0
        assert run_cli(store, ["agent", "create", "m", "caller"]).returncode == 0

    def cut_of(store: Path) -> int:
        db = SqliteStore(store / DB_FILENAME)
        try:
            (alpha,) = [r.agent for r in db.list_agents() if r.agent.name == "alpha"]
            return db.oplog_length(alpha)
        finally:
            db.close()

    clean = tmp_path / "clean"
    setup(clean)
    call = f'fork-to("alpha", "alpha-copy", {cut_of(clean)})'
    count = tmp_path / "count"
    done = run_cli(
        clean, ["invoke", "m", "caller", call], {"AGENT_HOST_CRASH_COUNT_FILE": str(count)}
    )
    assert done.returncode == 0, done.stderr
    methods = _commits(count)
    at = methods.index("fork_agent") + 1
    assert "append" in methods[at:], methods

    store = tmp_path / "store"
    setup(store)
    crash = {"AGENT_HOST_CRASH_AT": str(at), "AGENT_HOST_CRASH_WHEN": "after"}
    killed = run_cli(store, ["invoke", "m", "caller", call], crash)
    assert killed.returncode == -9, (killed.returncode, killed.stderr)
    recovered = run_cli(store, ["worker", "--once"])
    assert recovered.returncode == 0, recovered.stderr
    db = SqliteStore(store / DB_FILENAME)
    try:
        names = sorted(r.agent.name for r in db.list_agents())
        assert names == ["alpha", "alpha-copy", "caller"], names
        (caller,) = [r.agent for r in db.list_agents() if r.agent.name == "caller"]
        (inv,) = [i for i in db.list_invocations(caller) if i.function == "fork-to"]
        assert inv.state == "done", inv
        kinds = [oplog.kind(e) for e in db.read_oplog(caller)]
        assert kinds.count("begin-remote-write") == kinds.count("end-remote-write") == 1, kinds
    finally:
        db.close()
    forked = run_cli(store, ["invoke", "m", "alpha-copy", "add(1)"])
    assert forked.returncode == 0 and '"result": "6"' in forked.stdout, forked.stdout
    again = run_cli(store, ["invoke", "m", "caller", call])
    assert "already exists" in again.stdout + again.stderr, again.stdout + again.stderr
