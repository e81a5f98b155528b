"""The set-up the running-agent update tests share (tests/e2e/test_update_running_http.py,
test_fork_update_http.py): a `ticker` agent running a long tick on one version while a
new version is uploaded, then the tick's result awaited. Each step asserts what it
expects, so a failure names the step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.build import build_fixture
from tests.server_util import Api, Server, add_component

SPIN_NS = 20_000_000  # the work of one of tick's spins (its second argument)


@contextmanager
def ticker_server(tmp_path: Path) -> Iterator[tuple[Path, httpx.Client, Api]]:
    """A server on a fresh store holding `ticker` (version 0): the store, a client and
    the component's API; the server is stopped after."""
    store = tmp_path / "store"
    tid = add_component(store, build_fixture("ticker"), "ticker")
    server = Server(store).start()
    try:
        with server.client() as client:
            yield store, client, Api(client, tid)
    finally:
        server.stop()


def upload(client: httpx.Client, name: str, fixture: str) -> dict[str, Any]:
    """Upload the built guest ``fixture`` as a new version of component ``name``."""
    up = client.post(
        "/v1/components", params={"name": name}, content=build_fixture(fixture).read_bytes()
    )
    assert up.status_code == 201, up.text
    body: dict[str, Any] = up.json()
    return body


def start_tick(api: Api, agent: str, spins: int) -> str:
    """Start ``tick(spins, ...)`` on ``agent`` without waiting for it, wait until the agent
    runs it and return the URL of the invocation's result."""
    started = api.invoke(agent, "tick", [spins, SPIN_NS])
    assert started.status_code == 202, started.text
    api.wait_status(agent, "Running")
    return api.path(agent, "/invocations/" + started.json()["invocationId"])


def start_tick_then_upload(
    api: Api, client: httpx.Client, agent: str, spins: int, fixture: str = "ticker-v3"
) -> str:
    """The agent runs a tick on version 0 (a new agent is created on the latest version,
    so version 1 comes only now) while ``fixture`` becomes version 1; the URL of the
    tick's result."""
    result_url = start_tick(api, agent, spins)
    assert upload(client, "ticker", fixture)["componentVersion"] == 1
    return result_url


def result_of(client: httpx.Client, result_url: str) -> Any:
    """The invocation's result, waited for (up to a minute)."""
    done = client.get(result_url, params={"wait": 60}, timeout=70)
    assert done.status_code == 200, done.text
    return done.json()["result"]
