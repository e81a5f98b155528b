"""Golem 1.5's agent HTTP API through a real `agent-host serve`: invoke-agent and
create-agent, the worker API with agent ids, the routes agent types mount (binding,
result mapping, phantoms, CORS, auth), webhooks, and route collisions between components.
The guest is tests/fixtures/py/agenthttp (registered twice: "shop" and "shop2")."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.fixtures.build import build_python_fixture
from tests.server_util import Server, add_component

# agent-host's own oplog entries (the route answers Golem's public ones by default)
AH = {"format": "agent-host"}

# slow: compiles the componentize-py agenthttp guest (~20 s here)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = tmp_path_factory.mktemp("agenthttp") / "store"
    add_component(store, build_python_fixture("agenthttp"), "shop")
    srv = Server(store).start()
    yield srv
    srv.stop()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    # A plain client: a declared `result` err and a failed method are deliberate 500s.
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def tup(*values: object) -> dict[str, object]:
    return {"type": "Tuple", "elements": [{"type": "ComponentModel", "value": v} for v in values]}


def invoke(http: httpx.Client, agent: str, method: str, *args: object, **extra: object):
    body = {
        "appName": "shop",
        "envName": "local",
        "agentTypeName": "ShopAgent",
        "parameters": tup(agent),
        "methodName": method,
        "methodParameters": tup(*args),
        "mode": "await",
        **extra,
    }
    return http.post("/v1/agents/invoke-agent", json=body)


def test_invoke_agent_in_golems_shapes(http: httpx.Client) -> None:
    done = invoke(http, "inv", "add", "apple", 3)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["agentId"]["agentId"] == 'ShopAgent("inv")'
    assert body["componentRevision"] >= 0
    assert body["result"] == tup(3)
    # Without appName: the agent type is found among the components.
    again = http.post(
        "/v1/agents/invoke-agent",
        json={
            "agentTypeName": "ShopAgent",
            "parameters": ["inv"],
            "methodName": "add",
            "methodParameters": ["apple", 2],
            "mode": "await",
        },
    )
    assert again.json()["result"] == tup(5)
    # schedule: answered at once, without a result
    scheduled = invoke(http, "inv", "add", "pear", 1, mode="schedule")
    assert scheduled.status_code == 200 and "result" not in scheduled.json()
    # Idempotency keys: the same key is the same invocation (not run twice)
    first = invoke(http, "idem", "add", "x", 1, idempotencyKey="k1").json()
    second = http.post(
        "/v1/agents/invoke-agent",
        headers={"Idempotency-Key": "k1"},
        json={
            "agentTypeName": "ShopAgent",
            "parameters": tup("idem"),
            "methodName": "add",
            "methodParameters": tup("x", 1),
            "mode": "await",
        },
    ).json()
    assert first["result"] == second["result"] == tup(1)


def test_invoke_agent_errors(http: httpx.Client) -> None:
    bad = invoke(http, "err", "add", "apple", "three")
    assert bad.status_code == 400
    assert bad.json()["error"]["field"].startswith("body.methodParameters")
    unknown_method = invoke(http, "err", "nope")
    assert unknown_method.status_code in (400, 404)
    assert unknown_method.json()["error"]["field"] == "body.methodName"
    no_type = http.post(
        "/v1/agents/invoke-agent",
        json={
            "agentTypeName": "Nobody",
            "parameters": [],
            "methodName": "m",
            "methodParameters": [],
            "mode": "await",
        },
    )
    assert no_type.status_code == 404
    failed = invoke(http, "err", "fail", "boom")
    assert failed.status_code == 500
    assert "boom" in failed.json()["error"]["message"]
    assert failed.json()["error"]["code"] == "agent_error"
    garbage = http.post("/v1/agents/invoke-agent", json={"mode": "later"})
    assert garbage.status_code == 400


def test_create_agent_and_the_worker_api_with_agent_ids(http: httpx.Client) -> None:
    made = http.post(
        "/v1/agents/create-agent",
        json={
            "appName": "shop",
            "envName": "e",
            "agentTypeName": "ShopAgent",
            "parameters": ["w1"],
        },
    )
    assert made.status_code == 200, made.text
    agent = made.json()["agentId"]
    assert agent["agentId"] == 'ShopAgent("w1")'
    base = f"/v1/components/{agent['componentId']}/workers/{quote(agent['agentId'], safe='')}"
    assert http.get(base).status_code == 200
    assert http.get(base + "/oplog", params=AH).json()["length"] >= 1
    assert http.get(base + "/promises").status_code == 200
    # The worker API's invoke-and-await calls the agent's method through `invoke`.
    listed = http.get(f"/v1/components/{agent['componentId']}/workers").json()["workers"]
    assert any(w["workerId"]["workerName"] == 'ShopAgent("w1")' for w in listed)


def test_mounted_routes_bind_and_map_results(http: httpx.Client) -> None:
    added = http.post("/shops/s1/items/apple", json={"count": 4})
    assert added.status_code == 200 and added.json() == 4
    assert http.get("/shops/s1/items", params={"item": "apple"}).json() == 4
    missing = http.get("/shops/s1/items", params={"item": "kiwi"})
    assert missing.status_code == 404
    assert http.get("/shops/s1/greet", headers={"X-Lang": "de"}).json() == "hallo from s1"
    assert http.delete("/shops/s1/items").status_code == 204
    assert http.get("/shops/s1/items", params={"item": "apple"}).status_code == 404
    ok = http.post("/shops/s1/checkout", json={"ok": True})
    assert (ok.status_code, ok.json()) == (200, "paid")
    declined = http.post("/shops/s1/checkout", json={"ok": False})
    assert (declined.status_code, declined.json()) == (500, "declined")
    failed = http.post("/shops/s1/fail", json={"message": "broken"})
    assert failed.status_code == 500 and "broken" in failed.json()["error"]["message"]
    noted = http.post("/shops/s1/note", content=b"plain words")
    assert noted.json() == "noted: plain words"
    assert http.get("/shops/s1/files/a/b/c.txt").json() == "a/b/c.txt"
    # The mount's agent is the ordinary agent of the worker API.
    assert invoke(http, "s1", "find", "apple").json()["result"] == tup(None)


def test_mounted_routes_refuse_bad_input_by_field(http: httpx.Client) -> None:
    bad_count = http.post("/shops/s2/items/apple", json={"count": "many"})
    assert bad_count.status_code == 400 and bad_count.json()["error"]["field"] == "body.count"
    extra = http.post("/shops/s2/items/apple", json={"count": 1, "colour": "red"})
    assert extra.status_code == 400 and extra.json()["error"]["field"] == "body.colour"
    no_count = http.post("/shops/s2/items/apple", json={})
    assert no_count.status_code == 400 and no_count.json()["error"]["field"] == "body.count"
    not_json = http.post("/shops/s2/items/apple", content=b"{{")
    assert not_json.status_code == 400 and not_json.json()["error"]["field"] == "body"
    no_header = http.get("/shops/s2/greet")
    assert no_header.status_code == 400
    assert http.put("/shops/s2/items").status_code == 405
    nothing = http.get("/shops/s2/nothing-here")
    assert nothing.status_code == 404 and nothing.json()["error"]["code"] == "not_found"


def test_phantom_agents_are_fresh_per_request(http: httpx.Client) -> None:
    first = http.get("/phantoms/me")
    second = http.get("/phantoms/me")
    assert first.status_code == 200, first.text
    assert first.json().startswith("PhantomAgent()[") and first.json() != second.json()


def test_cors(http: httpx.Client) -> None:
    allowed = http.get("/shops/c1/greet", headers={"X-Lang": "en", "Origin": "https://example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://example.com"
    other = http.get("/shops/c1/greet", headers={"X-Lang": "en", "Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in other.headers
    pre = http.options(
        "/shops/c1/items/x",
        headers={"Origin": "https://example.com", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "https://example.com"
    assert "POST" in pre.headers["access-control-allow-methods"]
    star = http.get("/phantoms/me", headers={"Origin": "https://any.test"})
    assert star.headers["access-control-allow-origin"] == "*"


def test_auth_required_routes_need_a_token(http: httpx.Client) -> None:
    refused = http.get("/shops/a1/secret")
    assert refused.status_code == 401 and "--token" in refused.json()["error"]["message"]


def test_webhooks_complete_the_promise(http: httpx.Client, server: Server) -> None:
    made = http.post("/shops/h1/hook")
    assert made.status_code == 200, made.text
    url = made.json()
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == server.url
    assert parts.path.startswith("/webhooks/shop-hooks/")
    # A forged token is a webhook that does not exist.
    assert http.post(parts.path[:-3] + "xyz", content=b"no").status_code == 404
    assert http.post("/webhooks/shop-hooks/garbage", content=b"no").status_code == 404
    done = http.post(parts.path, content=b"delivered")
    assert done.status_code == 204
    hooked = http.post("/shops/h1/hooked")
    assert (hooked.status_code, hooked.json()) == (200, "delivered")
    # The URL is in the oplog: replay answers it from there.
    cid = invoke(http, "h1", "clear").json()["agentId"]["componentId"]
    name = quote('ShopAgent("h1")', safe="")
    oplog = http.get(f"/v1/components/{cid}/workers/{name}/oplog", params=AH).json()
    assert url in str(oplog["entries"])


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_HEADERS = [
    ("traceparent", f"00-{TRACE}-00f067aa0ba902b7-01"),
    ("tracestate", "abc=123"),
    ("tracestate", "def=456"),
]


def _started(http: httpx.Client, agent_name: str, cid: str) -> list[dict[str, object]]:
    name = quote(agent_name, safe="")
    entries = http.get(f"/v1/components/{cid}/workers/{name}/oplog", params=AH).json()["entries"]
    return [e["entry"] for e in entries if e["entry"]["type"] == "invocation-started"]


def test_invoke_agent_and_mounted_routes_keep_the_trace_context(http: httpx.Client) -> None:
    # Golem's agent API and its custom (mounted) routes read the request's W3C trace
    # context as the worker API does: the invocation keeps traceparent and tracestate.
    body = {
        "appName": "shop", "agentTypeName": "ShopAgent", "parameters": tup("traced"),
        "methodName": "add", "methodParameters": tup("apple", 1), "mode": "await",
    }  # fmt: skip
    done = http.post("/v1/agents/invoke-agent", json=body, headers=TRACE_HEADERS)
    assert done.status_code == 200, done.text
    cid = done.json()["agentId"]["componentId"]
    last = _started(http, 'ShopAgent("traced")', cid)[-1]
    assert last["traceparent"] == TRACE_HEADERS[0][1]
    assert last["tracestate"] == "abc=123,def=456"
    mounted = http.post("/shops/traced/items/pear", json={"count": 2}, headers=TRACE_HEADERS)
    assert mounted.status_code == 200, mounted.text
    last = _started(http, 'ShopAgent("traced")', cid)[-1]
    assert (last["traceparent"], last["tracestate"]) == (TRACE_HEADERS[0][1], "abc=123,def=456")
    # A malformed one is ignored, never refused.
    bad = http.post("/shops/traced/items/fig", json={"count": 1},
                    headers={"traceparent": "garbage", "tracestate": "x"})  # fmt: skip
    assert bad.status_code == 200, bad.text
    assert "traceparent" not in _started(http, 'ShopAgent("traced")', cid)[-1]


def test_route_collisions_are_reported(tmp_path_factory: pytest.TempPathFactory) -> None:
    store = tmp_path_factory.mktemp("collide") / "store"
    wasm = build_python_fixture("agenthttp")
    add_component(store, wasm, "shop")
    add_component(store, wasm, "shop2")
    srv = Server(store).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            problems = http.get("/v1/endpoints").json()["agentRouteProblems"]
            assert any("collides" in p for p in problems.values()), problems
            ambiguous = http.post(
                "/v1/agents/invoke-agent",
                json={
                    "agentTypeName": "ShopAgent",
                    "parameters": ["x"],
                    "methodName": "clear",
                    "methodParameters": [],
                    "mode": "await",
                },
            )
            assert (
                ambiguous.status_code == 409 and "appName" in ambiguous.json()["error"]["message"]
            )
            # The first component's routes still serve.
            assert http.delete("/shops/x/items").status_code == 204
    finally:
        srv.stop()
