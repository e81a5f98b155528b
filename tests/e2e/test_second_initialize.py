"""A second raw ``initialize`` of a Golem 1.5 agent (the agent type's initialize export,
called through the worker API on an agent that already ran it) fails that call with a
clear error and leaves the agent as it was. Before, the guest's agent-error answer failed
the initialize and with it the whole agent ("initialize failed: ... already initialized").
Golem's SDKs refuse the same call ("Agent is already initialized in this container").
The guest is conformance/guests/agent15/1.5.0 on a real `agent-host serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.fixtures.build import build_python_fixture
from tests.server_util import Server, add_component, cli

INITIALIZE = "golem:agent/guest@1.5.0.{initialize}"
AGENT = 'CounterAgent("c1")'


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, str, Path]]:
    store = tmp_path / "store"
    cid = add_component(store, build_python_fixture("agent15"), "counter")
    server = Server(store).start()
    try:
        yield server, cid, store
    finally:
        server.stop()
        assert "Traceback" not in server.output(), server.output()[-3000:]


def test_a_second_initialize_is_refused_and_the_agent_keeps_working(
    served: tuple[Server, str, Path],
) -> None:
    server, cid, store = served
    worker = f"/v1/components/{cid}/workers/{quote(AGENT, safe='')}"
    with httpx.Client(base_url=server.url, timeout=60) as http:
        first = http.post(
            worker + "/invoke-and-await",
            params={"function": "golem:agent/guest@1.5.0.{invoke}"},
            json={"call": INVOKE_INCREMENT},
        )
        assert first.status_code == 200, first.text
        # The same initialize the host queued when it created the agent, called again.
        again = http.post(worker + "/invoke-and-await", json={"call": f"{INITIALIZE}({INIT_ARGS})"})
        assert again.status_code == 409, again.text
        assert "already initialized" in again.text
        assert "Traceback" not in again.text
        shown = http.get(worker)
        assert shown.status_code == 200
        assert shown.json()["status"] == "Idle" and not shown.json().get("lastError")
        # Only the host's own initialize and the method call are in the agent's history.
        oplog = http.get(worker + "/oplog", params={"format": "agent-host"}).json()
        starts = [e for e in oplog["entries"] if e["entry"]["type"] == "invocation-started"]
        assert len(starts) == 2, starts
    # The agent still answers its methods, from another process too.
    done = cli(store, "invoke", "counter", AGENT, "increment(2)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "7"
    # The CLI calls an agent component's methods only: initialize is not one of them.
    raw = cli(store, "invoke", "counter", AGENT, f"{INITIALIZE}({INIT_ARGS})")
    assert raw.returncode != 0 and "Traceback" not in raw.stderr
    assert "no method" in raw.stderr


INIT_ARGS = '"CounterAgent", tuple([component-model({nodes: [prim-string("c1")]})]), anonymous'
INVOKE_INCREMENT = (
    'golem:agent/guest@1.5.0.{invoke}("increment", '
    "tuple([component-model({nodes: [prim-u32(5)]})]), anonymous)"
)
