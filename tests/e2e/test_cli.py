"""The issue's user flow through the real command line: in-process with click's CliRunner,
and once more as separate operating-system processes sharing only the data directory.

The guest is the `promises-1.3.0` WAT fixture: `create-and-await()` creates a promise and
waits on it, like the approval workflow's `start-approval()`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from host.store import DB_FILENAME, resolve
from tests.fixtures.build import build_fixture

APPROVED = '"approved"'
APPROVED_WAVE = "[" + ", ".join(str(b) for b in APPROVED.encode()) + "]"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def wasm() -> Path:
    return build_fixture("promises-1.3.0")


def _ok(result: Any) -> str:
    assert result.exit_code == 0, (
        f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return str(result.stdout)


def _add(cli: Callable[..., Any], wasm: Path, name: str = "approval") -> str:
    out = _ok(cli("component", "add", str(wasm), "--name", name)).strip()
    assert re.fullmatch(UUID_RE, out), out
    return out


def test_user_flow(cli: Callable[..., Any], wasm: Path) -> None:
    cid = _add(cli, wasm)
    listed = _ok(cli("component", "list"))
    assert cid in listed and "approval" in listed

    # invoke -> suspended, waiting on promise <idx>
    out = _ok(cli("invoke", cid, "alice", "create-and-await()")).strip()
    m = re.fullmatch(rf"suspended, waiting on promise (\d+) \({cid}/alice/(\d+)\)", out)
    assert m, out
    idx = int(m.group(1))
    assert int(m.group(2)) == idx

    # agent list -> alice: suspended (1 pending promise)
    out = _ok(cli("agent", "list"))
    assert f"{cid}/alice: suspended (1 pending promise)" in out.splitlines()

    out = _ok(cli("agent", "show", cid, "alice"))
    assert "suspended" in out and f"pending promise {idx}" in out

    out = _ok(cli("promise", "list", cid, "alice"))
    assert f"{cid}/alice/{idx}" in out and "pending" in out

    # The component can be named by its name as well as its id.
    out = _ok(cli("promise", "complete", "approval", "alice", str(idx), "--json", APPROVED))
    lines = out.strip().splitlines()
    assert lines[0] == "true"
    assert lines[1:] == [f"alice resumed: create-and-await -> {APPROVED_WAVE}"]

    out = _ok(cli("promise", "complete", cid, "alice", str(idx), "--json", '"rejected"'))
    assert out.strip().splitlines() == ["false"]

    out = _ok(cli("agent", "list"))
    assert f"{cid}/alice: idle" in out.splitlines()
    assert _ok(cli("promise", "list", cid, "alice")).strip() == "no pending promises"

    # oplog: every entry, one readable line each, numbered from 1.
    text = _ok(cli("oplog", cid, "alice")).strip().splitlines()
    js = json.loads(_ok(cli("--json", "oplog", cid, "alice")))
    assert isinstance(js, list) and js
    assert [row["index"] for row in js] == list(range(1, len(js) + 1))
    assert all(isinstance(row, dict) and isinstance(row["type"], str) for row in js)
    assert len(text) == len(js)
    for line, row in zip(text, js, strict=True):
        assert line.split()[0] == str(row["index"])
    types = [row["type"] for row in js]
    assert types[0] == "agent-created"
    assert types[1] == "invocation-started"
    assert types[idx - 1] == "promise-created"
    assert "suspended" in types
    assert types[-1] == "invocation-finished"
    assert js[-1]["result"] == APPROVED_WAVE
    readable = "\n".join(text)
    assert "agent created" in readable
    assert "invoke create-and-await()" in readable
    assert "promise created (golem:api/host@1.3.0.create-promise)" in readable
    assert f"suspended waiting on promises {idx}" in readable
    assert f"finished -> {APPROVED_WAVE}" in readable

    # --from / --count
    page = json.loads(_ok(cli("--json", "oplog", cid, "alice", "--from", "2", "--count", "2")))
    assert [row["index"] for row in page] == [2, 3]
    assert page == js[1:3]
    page = _ok(cli("oplog", cid, "alice", "--from", str(len(js)))).strip().splitlines()
    assert len(page) == 1 and page[0].split()[0] == str(len(js))


def test_invoke_prints_results_and_failures(cli: Callable[..., Any], wasm: Path) -> None:
    cid = _add(cli, wasm)
    assert _ok(cli("invoke", cid, "bob", "create()")).strip() == "3"
    assert _ok(cli("invoke", cid, "bob", "poll(3)")).strip() == "none"
    assert _ok(cli("invoke", cid, "bob", "complete(3, [1, 2])")).strip() == "true"
    assert _ok(cli("invoke", cid, "bob", "poll(3)")).strip() == "some([1, 2])"
    assert _ok(cli("invoke", cid, "bob", "await(3)")).strip() == "[1, 2]"
    # A guest failure: exit 1 with the reason, and the agent shows it.
    result = cli("invoke", cid, "bob", "await(99)")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: invocation failed: ")
    assert "does not exist" in result.stderr
    out = _ok(cli("agent", "show", cid, "bob"))
    assert "failed" in out and "last error:" in out


def test_promise_complete_payload_kinds(
    cli: Callable[..., Any], wasm: Path, tmp_path: Path
) -> None:
    cid = _add(cli, wasm)
    payload_file = tmp_path / "payload.bin"
    payload_file.write_bytes(b"\x00\x01\xfe")
    cases = [
        (["--text", "hi"], "[104, 105]"),
        (["--bytes", "[1, 2, 255]"], "[1, 2, 255]"),
        (["--bytes", "[]"], "[]"),
        (["--data-file", str(payload_file)], "[0, 1, 254]"),
        (["--json", '{"a": 1}'], "[" + ", ".join(str(b) for b in b'{"a": 1}') + "]"),
    ]
    for i, (option, wave) in enumerate(cases):
        agent = f"p{i}"
        out = _ok(cli("invoke", cid, agent, "create-and-await()"))
        idx = re.search(r"waiting on promise (\d+)", out)
        assert idx, out
        out = _ok(cli("promise", "complete", cid, agent, idx.group(1), *option))
        assert out.strip().splitlines() == ["true", f"{agent} resumed: create-and-await -> {wave}"]


def test_json_output_parses(cli: Callable[..., Any], wasm: Path) -> None:
    cid = _add(cli, wasm)
    info = json.loads(_ok(cli("--json", "component", "add", str(wasm), "--name", "approval")))
    assert info["id"] == cid and info["name"] == "approval"

    # --json before the command and after it.
    inv = json.loads(_ok(cli("--json", "invoke", cid, "alice", "create-and-await()")))
    assert inv["state"] == "started"
    assert inv["status"] == "suspended"
    assert inv["agent"] == f"{cid}/alice"
    assert inv["function"] == "create-and-await"
    (idx,) = inv["oplog_indexes"]
    assert inv["waiting_promises"] == [f"{cid}/alice/{idx}"]
    uuid.UUID(inv["invocation"])

    done = json.loads(_ok(cli("invoke", cid, "bob", "create()", "--json")))
    assert done["state"] == "done" and done["result"] == "3"

    show = json.loads(_ok(cli("--json", "agent", "show", cid, "alice")))
    assert show["status"] == "suspended"
    assert show["waiting_on"] == [idx]
    assert [p["oplog_idx"] for p in show["pending_promises"]] == [idx]
    assert show["oplog_length"] == idx + 1
    assert [i["state"] for i in show["invocations"]] == ["started"]

    agents = json.loads(_ok(cli("--json", "agent", "list")))
    assert {a["name"]: a["status"] for a in agents} == {"alice": "suspended", "bob": "idle"}

    promises = json.loads(_ok(cli("--json", "promise", "list")))
    assert sorted((p["agent"], p["oplog_idx"], p["completed"]) for p in promises) == [
        (f"{cid}/alice", idx, False),
        (f"{cid}/bob", 3, False),
    ]
    promises = json.loads(_ok(cli("promise", "list", cid, "alice", "--json")))
    assert [p["id"] for p in promises] == [f"{cid}/alice/{idx}"]

    completed = json.loads(
        _ok(cli("--json", "promise", "complete", cid, "alice", str(idx), "--text", "ok"))
    )
    assert completed["completed"] is True
    assert completed["agent_status"] == "idle"
    assert completed["finished"] == [
        {"function": "create-and-await", "state": "done", "result": "[111, 107]", "error": None}
    ]
    again = json.loads(
        _ok(cli("--json", "promise", "complete", cid, "alice", str(idx), "--text", "no"))
    )
    assert again["completed"] is False and again["finished"] == []
    assert json.loads(_ok(cli("--json", "promise", "list", cid, "alice"))) == []
    everything = json.loads(_ok(cli("--json", "promise", "list", "--all")))
    assert len(everything) == 2

    components = json.loads(_ok(cli("--json", "component", "list")))
    assert [c["id"] for c in components] == [cid]
    shown = json.loads(_ok(cli("--json", "component", "show", cid)))
    assert any(sig.startswith("create-and-await: func()") for sig in shown["exports"])


# -- separate processes ------------------------------------------------------------------
def _command() -> list[str]:
    script = Path(sys.executable).parent / "agent-host"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "host"]


def test_user_flow_in_separate_processes(
    tmp_path: Path, wasm: Path, snapshot: Callable[[Path], dict[str, Any]]
) -> None:
    """Each step is a new process: the one that suspended the agent has exited when another
    completes the promise, so nothing but the data directory carries the agent across."""
    store = tmp_path / "store"
    env = {**os.environ, "AGENT_HOST_STORE": str(store)}
    env.pop("PYTHONPATH", None)

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*_command(), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == code, f"{args}: exit {proc.returncode}\n{proc.stderr}"
        return proc

    cid = run("component", "add", str(wasm), "--name", "approval").stdout.strip()
    assert re.fullmatch(UUID_RE, cid), cid
    # The database file is in the data directory, unless $AGENT_HOST_STORE_URL (the
    # PostgreSQL store switch) puts the database elsewhere.
    assert (store / DB_FILENAME).is_file() == (resolve(store).kind == "sqlite")

    invoked = run("invoke", "approval", "alice", "create-and-await()")
    m = re.fullmatch(
        rf"suspended, waiting on promise (\d+) \({cid}/alice/\d+\)", invoked.stdout.strip()
    )
    assert m, invoked.stdout
    idx = m.group(1)

    # The invoking process has exited, holding nothing: no lease on the agent remains, and
    # a new process sees the agent suspended on the promise.
    assert snapshot(store)["leases"] == []
    assert f"{cid}/alice: suspended (1 pending promise)" in run("agent", "list").stdout
    show = json.loads(run("--json", "agent", "show", cid, "alice").stdout)
    assert show["status"] == "suspended" and show["waiting_on"] == [int(idx)]
    types = [row["type"] for row in json.loads(run("--json", "oplog", cid, "alice").stdout)]
    assert types[-1] == "suspended"

    done = run("promise", "complete", cid, "alice", idx, "--json", APPROVED)
    assert done.stdout.strip().splitlines() == [
        "true",
        f"alice resumed: create-and-await -> {APPROVED_WAVE}",
    ]
    again = run("promise", "complete", cid, "alice", idx, "--json", APPROVED)
    assert again.stdout.strip() == "false"
    assert f"{cid}/alice: idle" in run("agent", "list").stdout
    rows = json.loads(run("--json", "oplog", cid, "alice").stdout)
    assert rows[-1]["type"] == "invocation-finished" and rows[-1]["result"] == APPROVED_WAVE

    # Errors from a separate process: message on stderr, exit code from host/errors.py.
    missing = run("promise", "complete", cid, "alice", "999", "--text", "x", code=4)
    assert missing.stderr.startswith("Error: ") and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
