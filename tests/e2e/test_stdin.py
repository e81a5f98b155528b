"""Reading standard input fails the invocation with a clear error, as on Golem (agents
have no stdin), through the CLI (its own process) and a real `agent-host serve`: not an
end-of-file the guest could mistake for empty input, no traceback, and the message in the
agent's error (issue 11, item 9). The guest is the stdin WAT fixture."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.build import build_fixture
from tests.server_util import Api, Server, add_component, cli

NO_STDIN = "agents have no standard input"


def test_reading_stdin_fails_the_invocation_from_the_cli(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_component(store, build_fixture("stdin"), "stdin")
    ok = cli(store, "invoke", "stdin", "a1", "ok()")
    assert ok.returncode == 0 and ok.stdout.strip() == "1", ok.stderr
    read = cli(store, "invoke", "stdin", "a1", "read(10)")
    assert read.returncode != 0
    assert NO_STDIN in read.stderr and "Traceback" not in read.stderr
    shown = cli(store, "--json", "agent", "show", "stdin", "a1")
    assert shown.returncode == 0, shown.stderr
    assert '"failed"' in shown.stdout and NO_STDIN in shown.stdout


def test_reading_stdin_fails_the_invocation_over_rest(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("stdin"), "stdin")
    server = Server(store).start()
    try:
        with server.client() as client:
            api = Api(client, cid)
            read = api.invoke_and_await("r1", "read", [10])
            assert read.status_code == 422, read.text
            assert NO_STDIN in read.json()["error"]["message"]
            worker = api.worker("r1")
            assert worker["status"] == "Failed" and NO_STDIN in worker["lastError"]
            # Another agent of the same component is not affected.
            other = api.invoke_and_await("r2", "ok", [])
            assert other.status_code == 200 and other.json()["result"] == 1
        server.stop()
    finally:
        server.kill()
