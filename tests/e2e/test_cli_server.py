"""The CLI's agent-changing commands give the same results against a running server
(--server URL) as against the store directly."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.build import build_fixture
from tests.server_util import AGENT_HOST, Server, add_component


def run(*args: str, store: Path, server: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [AGENT_HOST, "--store", str(store)]
    if server is not None:
        cmd += ["--server", server]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, Server]]:
    store = tmp_path / "store"
    add_component(store, build_fixture("promises-1.3.0"), "p")
    server = Server(store).start()
    yield store, server
    server.stop()


def flow(store: Path, server: str | None, name: str) -> list[str]:
    """create, await (suspends), complete twice; the printed lines of each step."""
    out = []
    created = run("invoke", "p", name, "create()", store=store, server=server)
    assert created.returncode == 0, created.stderr
    idx = created.stdout.strip()
    out.append("create -> <idx>")
    waiting = run("invoke", "p", name, f"await({idx})", store=store, server=server)
    assert waiting.returncode == 0, waiting.stderr
    out.append(waiting.stdout.replace(idx, "<idx>").replace(name, "<name>").split("(")[0])
    first = run("promise", "complete", "p", name, idx, "--text", "hi", store=store, server=server)
    assert first.returncode == 0, first.stderr
    out.append(first.stdout.replace(name, "<name>"))
    second = run("promise", "complete", "p", name, idx, "--text", "no", store=store, server=server)
    out.append(second.stdout)
    unknown = run(
        "promise", "complete", "p", name, "999", "--text", "x", store=store, server=server
    )
    out.append(f"exit {unknown.returncode}: {unknown.stderr.splitlines()[0][:40]}")
    return out


def test_same_results_with_and_without_a_server(served: tuple[Path, Server]) -> None:
    store, server = served
    through_server = flow(store, server.url, "viaserver")
    server.stop()  # the store is all the direct mode needs
    direct = flow(store, None, "direct")
    assert through_server == direct
    assert through_server[2].startswith("true\n<name> resumed: await -> [104, 105]")
    assert through_server[3].strip() == "false"
    assert through_server[4].startswith("exit 4: Error: promise")


def test_create_and_delete_through_the_server(served: tuple[Path, Server]) -> None:
    store, server = served
    made = run("agent", "create", "p", "dora", store=store, server=server.url)
    assert made.returncode == 0, made.stderr
    again = run("agent", "create", "p", "dora", store=store, server=server.url)
    assert again.returncode == 3 and "already exists" in again.stderr
    gone = run("agent", "delete", "p", "dora", store=store, server=server.url)
    assert gone.returncode == 0 and gone.stdout.startswith("deleted ")
    missing = run("agent", "delete", "p", "dora", store=store, server=server.url)
    assert missing.returncode == 4


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    result = run("invoke", "p", "x", "create()", store=tmp_path, server="http://127.0.0.1:9")
    assert result.returncode != 0
    assert result.stderr.startswith("Error: cannot reach the server at http://127.0.0.1:9")
    assert "Traceback" not in result.stderr
