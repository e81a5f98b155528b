"""--require-promise-secret holds for guests too: with it, an agent completes its own
promises freely, but completing another agent's promise through golem's
complete-promise fails the guest's call with an error naming the option, and
agent-host:promises/secrets@0.2.0 complete-with-secret needs the promise's secret.
Without the option any agent may complete any promise (Golem's model)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from host.conformance.build import build_wat
from tests.fixtures.build import BUILD_DIR, WIT_DIR
from tests.server_util import Api, Server, add_component

# Kept beside this test, not in tests/fixtures/wat/ (whose list test_fixtures_build pins).
GUEST = Path(__file__).resolve().parent / "wat" / "secrets-0.2.0"


def _served(tmp: pytest.TempPathFactory, *args: str) -> tuple[Server, str]:
    store = tmp.mktemp("policy") / "store"
    wasm = build_wat(GUEST, BUILD_DIR, "secrets-0.2.0", WIT_DIR, what="fixture")
    cid = add_component(store, wasm, "secrets")
    return Server(store, extra_args=args).start(), cid


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    server, cid = _served(tmp_path_factory, "--require-promise-secret")
    yield server, cid
    server.stop()


@pytest.fixture(scope="module")
def open_(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    server, cid = _served(tmp_path_factory)
    yield server, cid
    server.stop()


def _call(api: Api, worker: str, function: str, params: list[Any]) -> Any:
    return api.invoke_and_await(worker, function, params)


def _owner(cid: str, name: str) -> list[Any]:
    value = uuid.UUID(cid).int
    return [value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF, name]


def _pending(api: Api, worker: str) -> list[int]:
    listed = api.http.get(api.path(worker, "/promises")).json()["promises"]
    return [int(p["id"].rsplit("/", 1)[1]) for p in listed]


def test_another_agents_promise_needs_its_secret(strict: tuple[Server, str]) -> None:
    server, cid = strict
    api = Api(server.client(), cid)
    made = _call(api, "victim", "create", [])
    assert made.status_code == 200, made.text
    idx = made.json()["result"]
    # Plain complete-promise of the victim's promise: the attacker's call fails.
    refused = _call(api, "attacker", "complete-for", [*_owner(cid, "victim"), idx, [1, 2]])
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert "--require-promise-secret" in message and "complete-with-secret" in message
    assert _pending(api, "victim") == [idx]
    # A wrong secret fails too.
    wrong = _call(
        api, "attacker2", "complete-with-secret-for", [*_owner(cid, "victim"), idx, "guess", [3]]
    )
    assert wrong.status_code == 422 and "wrong secret" in wrong.text
    assert _pending(api, "victim") == [idx]
    # The secret the owner hands out works; the host call's record leaves it out (the
    # invocation's own parameters hold it here only because this test passes it in).
    secret = _call(api, "victim", "secret", [idx]).json()["result"]
    done = _call(
        api, "helper", "complete-with-secret-for", [*_owner(cid, "victim"), idx, secret, [4]]
    )
    assert done.status_code == 200 and done.json()["result"] is True, done.text
    assert _pending(api, "victim") == []
    calls = [e for e in api.oplog("helper") if e["type"] == "host-call"]
    assert calls and secret not in str(calls)


def test_own_promises_complete_freely(strict: tuple[Server, str]) -> None:
    server, cid = strict
    api = Api(server.client(), cid)
    idx = _call(api, "self", "create", []).json()["result"]
    done = _call(api, "self", "complete-for", [*_owner(cid, "self"), idx, [9]])
    assert done.status_code == 200 and done.json()["result"] is True, done.text


def test_without_the_option_any_agent_may_complete(open_: tuple[Server, str]) -> None:
    server, cid = open_
    api = Api(server.client(), cid)
    idx = _call(api, "victim", "create", []).json()["result"]
    done = _call(api, "other", "complete-for", [*_owner(cid, "victim"), idx, [1]])
    assert done.status_code == 200 and done.json()["result"] is True, done.text
