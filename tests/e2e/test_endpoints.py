"""Agent-declared HTTP endpoints (spec section 5) through a real `agent-host serve`:
the seed's /workflows example with the Python approval agent, and a shop agent that
binds path, query, header and body values and exercises every result mapping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.build import build_python_fixture
from tests.server_util import Server, add_component, build_approval

# slow: compiles the componentize-py approval and shop guests (15-65 s here)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = tmp_path_factory.mktemp("endpoints") / "store"
    add_component(store, build_approval(), "approval")
    add_component(store, build_python_fixture("shop"), "shop")
    srv = Server(store).start()
    yield srv
    srv.stop()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    # A plain client: a declared `result` err is a deliberate 500 here.
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_the_seed_workflow_approves_over_its_own_endpoints(http: httpx.Client) -> None:
    opened = http.post("/workflows/alice/request")
    assert opened.status_code == 200
    idx = opened.json()
    assert isinstance(idx, int) and idx > 0
    status = http.get("/workflows/alice/status")
    assert status.json() == f"Workflow alice: waiting for a decision on promise {idx}"
    assert http.get("/workflows/alice/pending").json() == idx
    # The promise is a real one: listed as pending by the REST API.
    listed = http.get("/v1/promises").json()["promises"]
    assert any(p["id"].endswith(f"/alice/{idx}") for p in listed)

    approved = http.post("/workflows/alice/approve", json={"by": "bob", "comment": "ok"})
    assert approved.status_code == 200
    assert approved.json() == "Workflow alice approved by bob"
    # Nothing is pending any more: option none maps to 404.
    again = http.post("/workflows/alice/approve", json={})
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert http.get("/workflows/alice/pending").status_code == 404


def test_the_seed_workflow_rejects(http: httpx.Client) -> None:
    http.post("/workflows/carol/request")
    rejected = http.post("/workflows/carol/reject", json={"by": "dave"})
    assert rejected.status_code == 200
    assert rejected.json() == "Workflow carol rejected by dave"


def test_wrong_method_and_unknown_route(http: httpx.Client) -> None:
    wrong = http.get("/workflows/alice/approve")
    assert wrong.status_code == 405 and "POST" in wrong.json()["error"]["message"]
    missing = http.post("/nowhere/at/all")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_path_query_header_and_body_bind_by_name(http: httpx.Client) -> None:
    put = http.put("/shops/acme/eu/items/7", json={"name": "pen", "tags": ["a", "b"], "price": 1.5})
    assert put.status_code == 200 and put.json() == "stored 7: pen"
    got = http.get(
        "/shops/acme/eu/items/7", params={"verbose": "true"}, headers={"X-Request-Id": "r-1"}
    )
    assert got.status_code == 200
    assert got.json() == "pen ['a', 'b'] 1.5 (r-1)"
    terse = http.get(
        "/shops/acme/eu/items/7", params={"verbose": "false"}, headers={"x-request-id": "r-2"}
    )
    assert terse.json() == "pen"
    # An option parameter may be left out of the body.
    assert http.put("/shops/acme/eu/items/8", json={"name": "ink", "tags": []}).status_code == 200


def test_mount_vars_select_the_agent(http: httpx.Client) -> None:
    assert http.get("/shops/acme/us/whoami").json() == "acme~us"
    http.put("/shops/acme/us/items/1", json={"name": "us-only", "tags": []})
    other = http.get(
        "/shops/acme/fr/items/1", params={"verbose": "false"}, headers={"X-Request-Id": "r"}
    )
    assert other.status_code == 404  # a different agent: it has no item 1


def test_result_mappings(http: httpx.Client) -> None:
    assert http.post("/shops/beta/eu/ping").status_code == 204
    empty = http.put("/shops/beta/eu/items/3", json={"name": "", "tags": []})
    assert empty.status_code == 500  # the guest's own err, as the spec maps it
    assert empty.json() == "name must not be empty"
    absent = http.get(
        "/shops/beta/eu/items/99", params={"verbose": "true"}, headers={"X-Request-Id": "r"}
    )
    assert absent.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        (
            "GET",
            "/shops/a/b/items/x",
            {"params": {"verbose": "true"}, "headers": {"X-Request-Id": "r"}},
            "path.item-id",
        ),
        ("GET", "/shops/a/b/items/1", {"params": {"verbose": "true"}}, "body.request-id"),
        (
            "GET",
            "/shops/a/b/items/1",
            {"params": {"verbose": "maybe"}, "headers": {"X-Request-Id": "r"}},
            "query.verbose",
        ),
        ("PUT", "/shops/a/b/items/1", {"json": {"name": 5, "tags": []}}, "body.name"),
        ("PUT", "/shops/a/b/items/1", {"json": {"tags": []}}, "body.name"),
        (
            "PUT",
            "/shops/a/b/items/1",
            {"json": {"name": "x", "tags": [], "bogus": 1}},
            "body.bogus",
        ),
        ("PUT", "/shops/a/b/items/1", {"content": b"[1, 2]"}, "body"),
        ("PUT", "/shops/a/b/items/1", {"content": b"{nope"}, "body"),
        ("PUT", "/shops/a/b/items/4294967296", {"json": {"name": "x", "tags": []}}, "path.item-id"),
    ],
)
def test_bad_requests_name_the_field(
    http: httpx.Client, method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    response = http.request(method, path, **kwargs)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


def test_endpoints_are_listed(http: httpx.Client) -> None:
    listed = http.get("/v1/endpoints").json()
    paths = {(e["method"], e["path"]) for e in listed["endpoints"]}
    assert ("POST", "/workflows/{name}/approve") in paths
    assert ("GET", "/shops/{shop}/{region}/items/{item-id}") in paths
    assert listed["problems"] == {}
