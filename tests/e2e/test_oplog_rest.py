"""``GET .../workers/{name}/oplog`` answers Golem's GetOplogResponse (host/oplog_pages.py,
host/oplog_public_json.py) through a real ``agent-host serve``.

Two agents: one with an entry of every kind, written into the server's store before
it starts (the entries of tests/host/test_oplog_api.py), checked field by field against
Golem's PublicOplogEntry JSON model; and one that really ran (a promise: create, invoke,
host call, suspend, completion, resume, finish).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest

from host.ids import AgentId
from host.oplog_public_json import pascal
from tests.fixtures.build import build_fixture
from tests.host.test_oplog_api import EXPECTED_CASES, _one_of_each
from tests.server_util import Api, Server, add_component, serving, store_view


class World:
    def __init__(self, server: Server, cid: str) -> None:
        self.http = server.client()
        self.api = Api(self.http, cid)
        self.cid = cid

    def oplog(self, name: str, **params: Any) -> httpx.Response:
        return self.http.get(self.api.path(name, "/oplog"), params=params)

    def page(self, name: str, **params: Any) -> dict[str, Any]:
        got = self.oplog(name, **params)
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = tmp_path_factory.mktemp("oplog-rest") / "store"
    cid = add_component(store, build_fixture("promises-1.3.0"), "promises")
    view = store_view(store)
    try:
        (version,) = view.list_component_versions(cid)
        entries = _one_of_each()
        agent = AgentId(uuid.UUID(cid), "every")
        # Entry 1 names the component the store knows (the fixture's AgentCreated names
        # another one); then one of each kind.
        first = entries[0]
        assert view.create_agent(agent, version.hash, _created(first, cid, version.hash))
        view.append(agent, 2, entries[1:])
    finally:
        view.close()
    with serving(store) as server:
        yield World(server, cid)


def _created(entry: Any, cid: str, component_hash: str) -> Any:
    return replace(entry, component_id=cid, component_hash=component_hash)


def _stamp(text: str) -> datetime:
    assert text.endswith("Z"), text
    head, _, fraction = text[:-1].partition(".")
    assert not fraction or (len(fraction) <= 9 and fraction.isdigit()), text
    return datetime.fromisoformat(head + "+00:00")


def test_every_kind_is_golems_public_entry(world: World) -> None:
    body = world.page("every", count=1000)
    assert set(body) == {"entries", "next", "firstIndexInChunk", "lastIndex"}
    entries = body["entries"]
    n = len(EXPECTED_CASES)
    assert [e["oplogIndex"] for e in entries] == list(range(1, n + 1))
    assert [e["entry"]["type"] for e in entries] == [pascal(c) for c in EXPECTED_CASES]
    assert body["firstIndexInChunk"] == 1 and body["lastIndex"] == n
    # The successful update (entry 22) moved the revision to 1: the cursor carries it.
    assert body["next"] == {"nextOplogIndex": n + 1, "currentComponentRevision": 1}
    for e in entries:
        _stamp(e["entry"]["timestamp"])
    by = {i + 1: e["entry"] for i, e in enumerate(entries)}

    created = by[1]
    assert created["agentId"] == {"componentId": world.cid, "agentId": "every"}
    assert created["env"] == {"K": "v"}  # an object; the host's GOLEM_* are not the agent's
    assert created["componentRevision"] == 0 and created["parent"] is None
    assert created["createdBy"] == "00000000-0000-0000-0000-000000000000"
    config = created["localAgentConfig"]
    assert config == [{"path": ["db", "url"], "value": {"typ": {"type": "Str"}, "value": '"x"'}}]

    started = by[2]["invocation"]
    assert started["type"] == "AgentMethodInvocation"
    assert started["methodName"] == "checkout" and started["idempotencyKey"] == "key-1"
    assert started["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert started["traceStates"] == ["a=1", "b=2"]
    elements = started["functionInput"]["elements"]
    assert started["functionInput"]["type"] == "Tuple"
    assert elements == [
        {"type": "ComponentModel", "value": {"typ": {"type": "Str"}, "value": '"cart"'}},
        {"type": "ComponentModel", "value": {"typ": {"type": "Str"}, "value": "7"}},
    ]
    init = by[3]["invocation"]
    assert init["type"] == "AgentInitialization" and init["constructorParameters"]["elements"] == []

    clock = by[4]
    assert clock["functionName"] == "wasi:clocks/wall-clock@0.2.3.now"
    assert clock["request"] == {"typ": {"type": "Str"}, "value": "[]"}
    assert clock["response"]["value"] == '{"seconds":1}'
    assert clock["durableFunctionType"] == {"type": "ReadLocal"}
    assert by[5] == {**by[5], "level": "Warn", "context": "ctx", "message": "careful"}
    assert by[6]["durableFunctionType"] == {"type": "WriteRemote"}
    assert by[7]["durableFunctionType"] == {"type": "WriteLocal"}  # create-promise

    finished = by[9]
    assert finished["result"]["type"] == "AgentMethod"
    assert finished["result"]["output"]["elements"][0]["value"]["value"] == "42"
    assert finished["consumedFuel"] == 0 and finished["componentRevision"] == 0
    error = by[11]
    assert (error["error"], error["retryFrom"], error["insideAtomicRegion"]) == ("trap", 11, False)
    assert error["retryPolicyState"] is None
    assert by[14]["beginIndex"] == 13 and by[16]["beginIndex"] == 15
    assert by[17]["jump"] == {"start": 2, "end": 17}
    assert by[18]["persistenceLevel"] == "PersistNothing"
    assert by[19]["data"] == {
        "type": "Raw",
        "data": list(b"state"),
        "mimeType": "application/octet-stream",
    }
    assert by[20]["description"] == {"type": "Automatic"} and by[20]["targetRevision"] == 1
    assert by[21]["description"]["type"] == "SnapshotBased"
    assert by[22]["targetRevision"] == 1 and by[22]["newActivePlugins"] == []
    assert by[23]["details"] == "no such export"
    assert by[24]["durableFunctionType"] == {"type": "WriteRemoteBatched", "index": 7}
    assert by[25]["durableFunctionType"] == {"type": "ReadRemote"}
    span = by[26]
    assert span["spanId"] == "00f067aa0ba902b7" and span["parentId"] is None
    assert span["attributes"] == [{"key": "name", "value": {"type": "String", "value": "checkout"}}]
    assert by[27]["parentId"] == "00f067aa0ba902b7"
    assert by[28]["value"] == {"type": "String", "value": "alice"}
    assert by[29]["spanId"] == "00f067aa0ba902b8"
    assert by[30]["policy"] == {  # Golem's PublicNamedRetryPolicy, durations in ms
        "name": "http",
        "priority": 7,
        "predicate": {
            "type": "And",
            "left": {"type": "PropExists", "property": "status-code"},
            "right": {
                "type": "PropGte",
                "property": "status-code",
                "value": {"type": "Integer", "value": 500},
            },
        },
        "policy": {
            "type": "CountBox",
            "maxRetries": 3,
            "inner": {
                "type": "Jitter",
                "factor": 0.25,
                "inner": {"type": "Exponential", "baseDelayMs": 100, "factor": 2.0},
            },
        },
    }
    assert by[31]["name"] == "http"
    assert by[32]["retryFrom"] == 33


def test_pages_follow_the_cursor(world: World) -> None:
    whole = world.page("every", count=1000)["entries"]
    seen: list[Any] = []
    page = world.page("every", count=5)
    pages = 1
    while page["entries"]:
        assert page["firstIndexInChunk"] == page["entries"][0]["oplogIndex"]
        seen += page["entries"]
        cursor = page["next"]
        text = f"{cursor['nextOplogIndex']}-{cursor['currentComponentRevision']}"
        # The cursor wins over from (as in Golem).
        page = world.page("every", count=5, cursor=text, **{"from": 1})
        pages += 1
    assert seen == whole and pages == -(-len(whole) // 5) + 1
    assert page["next"] is None and page["lastIndex"] == len(whole)
    # from alone: the revision in force there is found (after the successful update).
    later = world.page("every", count=2, **{"from": 23})
    assert [e["oplogIndex"] for e in later["entries"]] == [23, 24]
    assert later["next"] == {"nextOplogIndex": 25, "currentComponentRevision": 1}
    assert later["firstIndexInChunk"] == 23
    past = world.page("every", **{"from": 1000})
    assert past["entries"] == [] and past["next"] is None and past["firstIndexInChunk"] == 1000


def test_query_searches_and_its_cursor_continues(world: World) -> None:
    found = world.page("every", query="HostCall", count=100)
    indexes = [e["oplogIndex"] for e in found["entries"]]
    assert indexes == [4, 6, 7, 24, 25]
    assert {e["entry"]["type"] for e in found["entries"]} == {"HostCall"}
    assert found["firstIndexInChunk"] == 4
    # Two at a time, continuing with the cursor, the same matches.
    seen: list[int] = []
    page = world.page("every", query="HostCall", count=2)
    while page["entries"]:
        seen += [e["oplogIndex"] for e in page["entries"]]
        cursor = page["next"]
        text = f"{cursor['nextOplogIndex']}-{cursor['currentComponentRevision']}"
        page = world.page("every", query="HostCall", count=2, cursor=text)
    assert seen == indexes and page["next"] is None
    assert [e["oplogIndex"] for e in world.page("every", query="careful")["entries"]] == [5]
    nothing = world.page("every", query="no-such-word-anywhere")
    assert nothing["entries"] == [] and nothing["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "x"}, "query.cursor"),
        ({"cursor": "1-2-3"}, "query.cursor"),
        ({"cursor": "0-0"}, "query.cursor"),
        ({"cursor": "a-1"}, "query.cursor"),
        ({"from": "1", "query": "HostCall"}, "query.query"),
        ({"query": "(unclosed"}, "query.query"),
        ({"count": "0"}, "query.count"),
        ({"format": "golem-ish"}, "query.format"),
        ({"format": "agent-host", "query": "x"}, "query.query"),
        ({"format": "agent-host", "cursor": "1-0"}, "query.cursor"),
    ],
)
def test_bad_parameters_are_400(world: World, params: dict[str, str], field: str) -> None:
    got = world.oplog("every", **params)
    assert got.status_code == 400, got.text
    error = got.json()["error"]
    assert error["code"] == "invalid_request" and error["field"] == field, error
    assert error["message"]


def test_an_unknown_agent_is_404(world: World) -> None:
    for params in ({}, {"format": "agent-host"}, {"query": "HostCall"}, {"cursor": "1-0"}):
        got = world.oplog("nobody", **params)
        assert got.status_code == 404, (params, got.text)


def test_an_agent_that_ran(world: World) -> None:
    api = world.api
    assert api.invoke("ran", "create-and-await").status_code < 300
    api.wait_status("ran", "Suspended")
    page = world.page("ran")
    kinds = [e["entry"]["type"] for e in page["entries"]]
    assert kinds[:2] == ["Create", "AgentInvocationStarted"] and kinds[-1] == "Suspend"
    calls = [e["entry"] for e in page["entries"] if e["entry"]["type"] == "HostCall"]
    create = next(c for c in calls if c["functionName"].endswith("create-promise"))
    assert create["durableFunctionType"] == {"type": "WriteLocal"}
    idx = next(e["oplogIndex"] for e in page["entries"] if e["entry"] is create)
    started = page["entries"][1]["entry"]["invocation"]
    assert started["type"] == "AgentMethodInvocation"
    assert started["methodName"].endswith("create-and-await")
    assert api.complete("ran", idx, [1, 2]).json() is True
    api.wait_status("ran", "Idle")
    after = world.page("ran")
    kinds = [e["entry"]["type"] for e in after["entries"]]
    assert kinds[-1] == "AgentInvocationFinished" and "Suspend" in kinds
    assert after["lastIndex"] == len(kinds)
    output = after["entries"][-1]["entry"]["result"]["output"]["elements"]
    assert output[0]["value"]["typ"] == {"type": "Str"}  # our WAVE text of the result
    assert "1" in output[0]["value"]["value"] and "2" in output[0]["value"]["value"]


def test_agent_host_form_is_still_served(world: World) -> None:
    body = world.page("every", format="agent-host", count=3)
    assert set(body) == {"entries", "next", "length"}
    assert body["entries"][0]["entry"]["type"] == "agent-created" and body["next"] == 4


def test_the_openapi_document_describes_the_answer(world: World) -> None:
    doc = world.http.get("/openapi.json").json()
    route = doc["paths"]["/v1/components/{component_id}/workers/{worker_name}/oplog"]["get"]
    names = {p["name"] for p in route["parameters"]}
    assert {"from", "count", "cursor", "query", "format"} <= names
    ok = route["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/GetOplogResponse"} in ok["anyOf"]
    schemas = doc["components"]["schemas"]
    response = schemas["GetOplogResponse"]
    assert set(response["required"]) == {"entries", "firstIndexInChunk", "lastIndex"}
    assert {"type", "timestamp"} <= set(schemas["PublicOplogEntry"]["required"])
    assert set(schemas["OplogCursor"]["properties"]) == {
        "nextOplogIndex",
        "currentComponentRevision",
    }
