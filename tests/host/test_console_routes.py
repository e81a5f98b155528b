"""The web console's routes without a browser (tests/e2e/test_console.py drives one):
FastAPI's TestClient over the real app, a real SQLite store and a WAT guest that waits on
a promise. Sign-in and CSRF refusals, error pages instead of tracebacks, a malformed
JSON completion refused with a message, the pages an operator reads."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from host.runtime.scheduler import PoolScheduler
from host.server import create_app
from host.server.auth import AuthConfig
from host.service import HostService
from tests.fixtures.build import build_fixture

TOKEN = "console-test-token-0123456789"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def _suspend(client: TestClient, cid: str, name: str, headers: dict[str, str] | None = None) -> int:
    done = client.post(
        f"/v1/components/{cid}/workers/{name}/invoke-and-await",
        params={"function": "create-and-await", "untilSuspended": "true"},
        headers=headers or {},
    )
    assert done.status_code in (200, 202), done.text
    promises = client.get(f"/v1/components/{cid}/workers/{name}/promises", headers=headers or {})
    (promise,) = promises.json()["promises"]
    return int(promise["id"].rsplit("/", 1)[1])


def _wait_status(client: TestClient, cid: str, name: str, status: str, **kw: Any) -> None:
    deadline = time.monotonic() + 20
    while True:
        got = client.get(f"/v1/components/{cid}/workers/{name}", **kw).json()["status"]
        if got.lower() == status:
            return
        assert time.monotonic() < deadline, f"{name} is {got}, not {status}"
        time.sleep(0.02)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    service = HostService(tmp_path, scheduler=PoolScheduler(workers=2))
    cid = service.add_component_bytes(build_fixture("promises-1.3.0").read_bytes(), "waiter").id
    with TestClient(create_app(service)) as client:
        yield client, cid
    service.close()


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    service = HostService(tmp_path, scheduler=PoolScheduler(workers=2))
    cid = service.add_component_bytes(build_fixture("promises-1.3.0").read_bytes(), "waiter").id
    app = create_app(service, auth=AuthConfig(token=TOKEN))
    with TestClient(app, follow_redirects=False) as client:
        yield client, cid
    service.close()


def test_the_pending_page_lists_a_waiting_promise_and_completes_it(
    console: tuple[TestClient, str],
) -> None:
    client, cid = console
    idx = _suspend(client, cid, "alice")
    page = client.get("/ui")
    assert page.status_code == 200
    assert "1 promise waiting" in page.text and "alice" in page.text
    assert "create-and-await" in page.text  # the method that waits
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    form = {"csrf": _csrf(page.text), "component": cid, "agent": "alice", "idx": str(idx)}

    # Malformed JSON: a clear message, the draft kept, nothing sent.
    bad = client.post(
        "/ui/promises/complete", data={**form, "payload": "{approved", "format": "json"}
    )
    assert bad.status_code == 400
    assert "not valid JSON" in bad.text and "{approved" in bad.text
    assert "Traceback" not in bad.text
    assert client.get(f"/v1/components/{cid}/workers/alice").json()["status"] == "Suspended"

    done = client.post("/ui/promises/complete", data={**form, "payload": '{"ok": 1}'})
    assert done.status_code == 200, done.text
    assert f"Completed promise {idx} of alice" in done.text
    _wait_status(client, cid, "alice", "idle")
    again = client.post("/ui/promises/complete", data={**form, "payload": "2"})
    assert again.status_code == 200 and "already completed by someone else" in again.text


def test_a_text_payload_is_sent_as_it_is(console: tuple[TestClient, str]) -> None:
    client, cid = console
    idx = _suspend(client, cid, "bob")
    csrf = _csrf(client.get("/ui").text)
    form = {"csrf": csrf, "component": cid, "agent": "bob", "idx": str(idx)}
    done = client.post(
        "/ui/promises/complete", data={**form, "payload": "yes, go", "format": "text"}
    )
    assert done.status_code == 200 and "Completed" in done.text
    _wait_status(client, cid, "bob", "idle")
    (promise,) = client.get(f"/v1/components/{cid}/workers/bob/promises?all=true").json()[
        "promises"
    ]
    assert promise["completed"]


def test_forms_without_a_csrf_token_are_refused(console: tuple[TestClient, str]) -> None:
    client, cid = console
    idx = _suspend(client, cid, "carol")
    client.get("/ui")  # a session cookie, but the form below carries no token
    form = {"component": cid, "agent": "carol", "idx": str(idx), "payload": "1"}
    for data in (form, {**form, "csrf": "forged"}):
        refused = client.post("/ui/promises/complete", data=data)
        assert refused.status_code == 403
        assert "CSRF" in refused.text and "Traceback" not in refused.text
    refused = client.post(
        "/ui/agent/delete", data={"component": cid, "name": "carol", "confirm": "yes"}
    )
    assert refused.status_code == 403
    assert client.get(f"/v1/components/{cid}/workers/carol").json()["status"] == "Suspended"


def test_unknown_agents_and_pages_are_404_pages(console: tuple[TestClient, str]) -> None:
    client, cid = console
    missing = client.get("/ui/agent", params={"component": cid, "name": "nobody"})
    assert missing.status_code == 404 and "nobody" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    assert client.get("/ui/agent", params={"component": "nope", "name": "x"}).status_code == 404
    assert client.get("/ui/component", params={"id": "nope"}).status_code == 404
    assert client.get("/ui/no-such-page").status_code == 404
    bad = client.get("/ui/agents", params={"status": "sleepy"})
    assert bad.status_code == 400 and "unknown status" in bad.text


def test_agent_page_oplog_actions_and_delete_with_confirmation(
    console: tuple[TestClient, str],
) -> None:
    client, cid = console
    _suspend(client, cid, "dave")
    page = client.get("/ui/agent", params={"component": cid, "name": "dave"})
    assert page.status_code == 200
    for text in ("Agent created", "Invocation started", "Promise created", "Suspended"):
        assert text in page.text
    assert "create-and-await" in page.text
    csrf = _csrf(page.text)
    agents = client.get("/ui/agents", params={"status": "suspended"})
    assert "dave" in agents.text and 'suspended <span class="count">1</span>' in agents.text
    assert "dave" not in client.get("/ui/agents", params={"status": "idle"}).text

    who = {"csrf": csrf, "component": cid, "name": "dave"}
    ask = client.post("/ui/agent/delete", data=who, follow_redirects=False)
    assert ask.status_code == 303  # not confirmed: to the confirmation page
    confirm = client.get(ask.headers["location"])
    assert "cannot be undone" in confirm.text and 'name="confirm" value="yes"' in confirm.text

    interrupted = client.post("/ui/agent/interrupt", data=who)
    assert interrupted.status_code == 200 and "it is interrupted now" in interrupted.text
    resumed = client.post("/ui/agent/resume", data=who)
    assert resumed.status_code == 200 and "Resumed dave: it is suspended now" in resumed.text
    # The resume answers once the replay it started is back at the agent's wait, so the
    # delete right after it is not refused as busy (it answered while the pool's thread
    # still replayed the agent, and a delete sent at once got a 409 about one time in two).
    deleted = client.post("/ui/agent/delete", data={**who, "confirm": "yes"})
    assert deleted.status_code == 200 and "Deleted dave" in deleted.text
    assert client.get(f"/v1/components/{cid}/workers/dave").status_code == 404


def test_components_page_lists_exports_and_invokes_one(console: tuple[TestClient, str]) -> None:
    client, cid = console
    listing = client.get("/ui/components")
    assert "waiter" in listing.text and cid in listing.text
    page = client.get("/ui/component", params={"id": cid})
    assert "create-and-await: func() -&gt; list&lt;u8&gt;" in page.text
    form = {"csrf": _csrf(page.text), "component": cid, "agent": "erin", "method": "create"}
    done = client.post("/ui/invoke", data={**form, "params": "[]"})
    assert done.status_code == 200 and re.search(r"create returned \d+ <a", done.text)
    bad = client.post("/ui/invoke", data={**form, "params": "[1,"})
    assert bad.status_code == 400 and "not valid JSON" in bad.text
    wrong = client.post("/ui/invoke", data={**form, "method": "complete", "params": '["x"]'})
    assert wrong.status_code == 400 and "Traceback" not in wrong.text


def test_with_a_token_the_console_needs_a_sign_in(guarded: tuple[TestClient, str]) -> None:
    client, cid = guarded
    bearer = {"authorization": f"Bearer {TOKEN}"}
    idx = _suspend(client, cid, "frank", bearer)
    to_form = client.get("/ui/agents")
    assert to_form.status_code == 303
    assert to_form.headers["location"].startswith("/ui/signin?next=%2Fui%2Fagents")
    assert client.get("/ui/fragments/pending").status_code == 303
    assert client.get("/ui/events").status_code == 403
    assert client.get("/v1/promises").status_code == 401  # the API still wants the header
    form = {"component": cid, "agent": "frank", "idx": str(idx), "payload": '"ok"'}
    refused = client.post("/ui/promises/complete", data=form)
    assert refused.status_code == 403 and "sign in" in refused.text.lower()

    # Signing in needs the form's own CSRF token and its pre-session cookie (login CSRF).
    no_form = client.post("/ui/signin", data={"token": TOKEN, "next": "/ui"})
    assert no_form.status_code == 403 and "CSRF" in no_form.text
    assert "agent_host_console" not in no_form.headers.get("set-cookie", "")
    shown = client.get("/ui/signin", params={"next": "/ui"})
    assert shown.status_code == 200 and "agent_host_signin=" in shown.headers["set-cookie"]
    signin = {"csrf": _csrf(shown.text), "next": "/ui"}
    forged = client.post("/ui/signin", data={**signin, "csrf": "forged", "token": TOKEN})
    assert forged.status_code == 403 and "CSRF" in forged.text
    pre_session = client.cookies.get("agent_host_signin")
    client.cookies.clear()  # the right field without its cookie: refused too
    bare = client.post("/ui/signin", data={**signin, "token": TOKEN})
    assert bare.status_code == 403 and "CSRF" in bare.text

    signin = {"csrf": _csrf(client.get("/ui/signin").text), "next": "/ui"}
    assert client.cookies.get("agent_host_signin") not in (None, pre_session)
    wrong = client.post("/ui/signin", data={**signin, "token": "not-the-token"})
    assert wrong.status_code == 403 and "not right" in wrong.text
    assert "agent_host_console" not in wrong.headers.get("set-cookie", "")
    signin = {"csrf": _csrf(wrong.text), "token": TOKEN}
    evil = client.post("/ui/signin", data={**signin, "next": "//evil.example/"})
    assert evil.status_code == 303 and evil.headers["location"] == "/ui"
    client.cookies.clear()
    signin = {"csrf": _csrf(client.get("/ui/signin").text), "token": TOKEN}
    right = client.post("/ui/signin", data={**signin, "next": "/ui/agents"})
    assert right.status_code == 303 and right.headers["location"] == "/ui/agents"
    assert "httponly" in right.headers["set-cookie"].lower()
    assert client.cookies.get("agent_host_signin") is None  # the pre-session is spent
    page = client.get("/ui")
    assert page.status_code == 200 and "frank" in page.text
    assert client.post("/ui/promises/complete", data=form).status_code == 403  # no CSRF
    done = client.post("/ui/promises/complete", data={**form, "csrf": _csrf(page.text)})
    assert done.status_code == 200 and "Completed" in done.text
    _wait_status(client, cid, "frank", "idle", headers=bearer)


def test_pending_is_newest_first_and_a_plain_agent_gets_only_the_editor(
    console: tuple[TestClient, str],
) -> None:
    client, cid = console
    _suspend(client, cid, "older")
    time.sleep(0.01)  # created_at is in nanoseconds; keep the two apart anyway
    _suspend(client, cid, "newer")
    page = client.get("/ui").text
    assert "2 promises waiting" in page
    assert page.index("newer") < page.index("older")
    # A plain WIT component declares no choices: no decision buttons, the editor only.
    assert 'name="choice"' not in page and "Another payload" not in page
    assert page.count('name="payload"') == 2 and page.count('value="text"') == 2


def test_agent_page_shows_queued_and_failed_invocations_and_pages_the_oplog(
    console: tuple[TestClient, str],
) -> None:
    client, cid = console
    workers = f"/v1/components/{cid}/workers"
    for _ in range(20):  # about three oplog entries each: more than one page of 50
        done = client.post(f"{workers}/gina/invoke-and-await", params={"function": "create"})
        assert done.status_code == 200, done.text
    waits = client.post(
        f"{workers}/gina/invoke-and-await",
        params={"function": "create-and-await", "untilSuspended": "true"},
    )
    assert waits.status_code in (200, 202), waits.text
    _wait_status(client, cid, "gina", "suspended")
    queued = client.post(f"{workers}/gina/invoke", params={"function": "create"})
    assert queued.status_code == 202, queued.text
    page = client.get("/ui/agent", params={"component": cid, "name": "gina"})
    assert page.status_code == 200
    html = page.text
    assert 'data-state="queued"' in html and 'data-state="started"' in html
    assert html.count('data-state="done"') == 20
    found = re.search(r"Oplog \(entries (\d+)–(\d+) of (\d+)\)", html)
    assert found, html[-3000:]
    length = int(found.group(3))
    assert length > 50
    assert f"entries {length - 49}–{length} of {length}" in html  # the newest page first
    assert "from=1" in html and "Earlier" in html and "Later" not in html
    first = client.get("/ui/agent", params={"component": cid, "name": "gina", "from": "1"})
    assert f"Oplog (entries 1–50 of {length})" in first.text and "Later" in first.text
    assert "Agent created" in first.text
    bad = client.get("/ui/agent", params={"component": cid, "name": "gina", "from": "x"})
    assert bad.status_code == 400 and "whole number" in bad.text

    # A guest that traps: the invocation's error and the agent's last error are shown.
    added = client.post(
        "/v1/components",
        params={"name": "hostile"},
        content=build_fixture("hostile").read_bytes(),
        headers={"content-type": "application/wasm"},
    )
    assert added.status_code == 201, added.text
    hid = added.json()["componentId"]
    boom = client.post(
        f"/v1/components/{hid}/workers/h/invoke-and-await", params={"function": "boom"}
    )
    assert boom.status_code >= 400
    failed = client.get("/ui/agent", params={"component": hid, "name": "h"})
    assert failed.status_code == 200
    assert 'class="status failed"' in failed.text and "Last error" in failed.text
    assert 'class="payload text error"' in failed.text and "unreachable" in failed.text
    assert "Invocation failed" in failed.text
