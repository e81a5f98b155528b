"""A Golem 1.4 agent (tests/fixtures/py/agent14, kebab-case ids ``counter-agent("c1")``)
through a real `agent-host serve`, named by either id form: REST invoke-agent with the
type as reported (``CounterAgent``) or in its 1.4 kebab case (``counter-agent``), and the
worker API with the kebab-case agent id; all name the one agent, stored under the 1.5
form."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.fixtures.build import build_python_fixture
from tests.server_util import Server, add_component

pytestmark = pytest.mark.slow  # compiles the componentize-py agent14 guest


def tup(*values: object) -> dict[str, object]:
    return {"type": "Tuple", "elements": [{"type": "ComponentModel", "value": v} for v in values]}


def test_a_1_4_agent_by_either_id_form_over_rest(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_python_fixture("agent14"), "c14")
    server = Server(store).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:

            def increment(type_name: str, by: int) -> httpx.Response:
                body = {
                    "agentTypeName": type_name,
                    "parameters": tup("c1"),
                    "methodName": "increment",
                    "methodParameters": tup(by),
                    "mode": "await",
                }
                return http.post("/v1/agents/invoke-agent", json=body)

            first = increment("counter-agent", 2)
            assert first.status_code == 200, first.text
            assert first.json()["agentId"]["agentId"] == 'CounterAgent("c1")'
            second = increment("CounterAgent", 3)
            assert second.status_code == 200, second.text
            assert second.json()["result"]["elements"][0]["value"] == 5

            kebab_id = quote('counter-agent("c1")')
            shown = http.get(f"/v1/components/{cid}/workers/{kebab_id}")
            assert shown.status_code == 200, shown.text
            assert 'CounterAgent(\\"c1\\")' in shown.text or 'CounterAgent("c1")' in shown.text
            unknown = increment("counter-agents", 1)
            assert unknown.status_code == 404, unknown.text
    finally:
        server.stop()
