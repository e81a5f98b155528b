"""Agent config end to end with tests/fixtures/py/rpc_pair's ConfigAgent (declares
``greeting: str``, ``limits.max: int``, ``note: option<string>``): `agent create --config`
through the CLI, REST ``create-agent``'s ``config`` through a real `agent-host serve`,
and the 400s naming the key for a value of the wrong type or an undeclared key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fixtures.build import build_python_fixture
from tests.server_util import Server, add_component

pytestmark = pytest.mark.slow  # builds and compiles an 18 MB componentize-py guest


def run(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(Path(sys.executable).parent / "agent-host"), "--store", str(store), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ)


def test_config_through_the_cli(tmp_path: Path) -> None:
    store = tmp_path / "data"
    add_component(store, build_python_fixture("rpc_pair"), "pair")
    name = 'ConfigAgent("cli")'
    made = run(
        store,
        "agent",
        "create",
        "pair",
        name,
        "--config",
        'greeting="hej"',
        "--config",
        "limits.max=2",
    )
    assert made.returncode == 0, made.stderr
    assert run(store, "invoke", "pair", name, "greet()").stdout.strip() == '"hej, cli"'
    assert run(store, "invoke", "pair", name, "limit()").stdout.strip() == "2"

    bad = run(store, "agent", "create", "pair", 'ConfigAgent("x")', "--config", "greeting=1")
    assert bad.returncode != 0 and "greeting" in bad.stderr and "Traceback" not in bad.stderr


def tup(*values: object) -> dict[str, object]:
    return {"type": "Tuple", "elements": [{"type": "ComponentModel", "value": v} for v in values]}


def test_config_through_rest(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_component(store, build_python_fixture("rpc_pair"), "pair")
    server = Server(store).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:

            def create(name: str, config: list[object]) -> httpx.Response:
                body = {
                    "appName": "pair",
                    "envName": "local",
                    "agentTypeName": "ConfigAgent",
                    "parameters": tup(name),
                    "config": config,
                }
                return http.post("/v1/agents/create-agent", json=body)

            done = create(
                "rest",
                [{"path": ["greeting"], "value": "hola"}, {"path": ["limits", "max"], "value": 9}],
            )
            assert done.status_code == 200, done.text
            assert done.json()["agentId"]["agentId"] == 'ConfigAgent("rest")'
            body = {
                "appName": "pair",
                "envName": "local",
                "agentTypeName": "ConfigAgent",
                "parameters": tup("rest"),
                "methodName": "greet",
                "methodParameters": tup(),
                "mode": "await",
            }
            greeted = http.post("/v1/agents/invoke-agent", json=body)
            assert greeted.status_code == 200, greeted.text
            assert greeted.json()["result"]["elements"][0]["value"] == "hola, rest"

            wrong = create("w", [{"path": ["limits", "max"], "value": "nine"}])
            assert wrong.status_code == 400, wrong.text
            assert wrong.json()["error"]["field"] == "body.config[0].value", wrong.text
            undeclared = create("u", [{"path": ["nope"], "value": "x"}])
            assert undeclared.status_code == 400 and "nope" in undeclared.text, undeclared.text
            again = create("rest", [{"path": ["greeting"], "value": "other"}])
            assert again.status_code == 409, again.text
    finally:
        server.stop()
