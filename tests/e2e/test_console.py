"""The web console in a real browser: Debian's Chromium driven by Playwright against a
real `agent-host serve` running the approval example (guest_examples/approval).

A person approves a workflow from the pending page and the agent finishes; the pending
list follows completions made elsewhere (the REST API) live; with --token the console
asks for it (a wrong one is refused, a POST without the CSRF token too); every page fits
a 1280 px and a 390 px window; every control has an accessible name (Chromium's own);
with JavaScript off a person still completes promises from the pending page and from an
agent's page. Screenshots go to build/artifacts/console/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from tests.server_util import (
    REPO,
    Server,
    clone_store,
    example_store,
    json_bytes,
    serving,
    wait_until,
)

playwright_sync = pytest.importorskip("playwright.sync_api")

# slow: builds and compiles the componentize-py approval example (~30 s here)
pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "build" / "artifacts" / "console"
TOKEN = "console-e2e-token-0123456789abcdef"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_store(tmp_path_factory.mktemp("console") / "template", "approval")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("the console tests need Debian's chromium: apt-get install -y chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def server(template: Path, tmp_path: Path) -> Iterator[Server]:
    # With event streams open too, the server still stops cleanly and at once.
    with serving(clone_store(template, tmp_path / "store")) as server:
        yield server


@pytest.fixture
def guarded(template: Path, tmp_path: Path) -> Iterator[Server]:
    with serving(clone_store(template, tmp_path / "store"), "--token", TOKEN) as server:
        yield server


def _http(server: Server, token: str | None = None) -> httpx.Client:
    client = server.client()
    if token:
        client.headers["authorization"] = f"Bearer {token}"
    return client


def _agent(name: str) -> str:
    return f'WorkflowAgent("{name}")'


def _start(http: httpx.Client, name: str) -> int:
    """Start an approval workflow; the oplog index of the promise it then waits on."""
    body = {
        "agentTypeName": "WorkflowAgent",
        "parameters": [name],
        "methodName": "start_approval",
        "methodParameters": [],
        "mode": "schedule",
    }
    started = http.post("/v1/agents/invoke-agent", json=body)
    assert started.status_code == 200, started.text

    def pending() -> int | None:
        for p in http.get("/v1/promises").json()["promises"]:
            if f"/{_agent(name)}/" in p["id"]:
                return int(p["id"].rsplit("/", 1)[1])
        return None

    return wait_until(pending, 60, 0.05, f"{name}'s promise")


def _call(http: httpx.Client, name: str, method: str) -> Any:
    body = {
        "agentTypeName": "WorkflowAgent",
        "parameters": [name],
        "methodName": method,
        "methodParameters": [],
        "mode": "await",
    }
    done = http.post("/v1/agents/invoke-agent", json=body)
    assert done.status_code == 200, done.text
    return done.json()["result"]["elements"][0]["value"]


def _card(page: Any, name: str) -> Any:
    return page.locator("li.promise", has_text=_agent(name))


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _component_id(http: httpx.Client) -> str:
    (component,) = http.get("/v1/components").json()
    return str(component["componentId"])


def test_a_person_approves_from_the_pending_page(server: Server, browser: Any) -> None:
    http = _http(server)
    idx = _start(http, "alice")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server.url + "/ui")
    card = _card(page, "alice")
    card.wait_for()
    assert "start_approval" in card.inner_text()
    assert "Another payload" in card.inner_text()  # the editor, behind the buttons
    _shot(page, "pending-to-approve")
    card.get_by_role("button", name="Approve").click()
    outcome = page.locator("#outcome")
    outcome.wait_for()
    assert f"Completed promise {idx} of {_agent('alice')}" in outcome.inner_text()
    _shot(page, "approved")
    # The agent got the decision and finished start_approval.
    assert wait_until(
        lambda: _call(http, "alice", "status") == "Workflow alice approved", 30, 0.1, "approval"
    )
    # Its page shows the finished invocation and the oplog, readable.
    page.goto(server.url + "/ui/agents")
    page.get_by_role("link", name=_agent("alice")).click()
    page.locator("li.invocation[data-state=done]", has_text="start_approval").first.wait_for()
    assert "Workflow alice approved" in page.inner_text("main")
    assert page.locator("ol.oplog li.promise-created").count() == 1
    _shot(page, "agent-page")
    # The component's page invokes a method of the agent type with its form.
    page.goto(server.url + "/ui/components")
    page.get_by_role("link", name="approval").click()
    routes = page.locator("ul.routes").inner_text()
    assert "POST /workflows/{name}/approve → approve" in routes, routes
    method = page.locator("li.method", has_text="status() →")
    method.locator("summary", has_text="Invoke status").click()
    agent_id = method.get_by_label("Agent id")
    assert agent_id.get_attribute("placeholder") == 'WorkflowAgent("name")'
    agent_id.fill(_agent("alice"))
    method.get_by_role("button", name="Invoke").click()
    page.locator("#outcome.ok").wait_for()
    assert 'status returned "Workflow alice approved"' in page.locator("#outcome").inner_text()
    _shot(page, "invoked")
    page.close()


def test_a_malformed_json_payload_is_refused_with_a_message(server: Server, browser: Any) -> None:
    http = _http(server)
    idx = _start(http, "erin")
    page = browser.new_page()
    page.goto(server.url + "/ui")
    card = _card(page, "erin")
    card.locator("summary", has_text="Another payload").click()
    card.get_by_label(f"Payload for promise {idx}").fill('{"decision": approved}')
    card.get_by_role("button", name=f"Complete promise {idx}").click()
    page.get_by_role("alert").first.wait_for()
    assert "not valid JSON" in page.get_by_role("alert").first.inner_text()
    card = _card(page, "erin")
    assert card.get_by_label(f"Payload for promise {idx}").input_value() == (
        '{"decision": approved}'
    )  # the draft is kept to fix
    card.get_by_label(f"Payload for promise {idx}").fill('{"decision": "rejected", "by": "eve"}')
    card.get_by_role("button", name=f"Complete promise {idx}").click()
    page.locator("#outcome.ok").wait_for()
    assert wait_until(
        lambda: _call(http, "erin", "status") == "Workflow erin rejected by eve", 30, 0.1
    )
    page.close()


def test_the_pending_list_updates_live(server: Server, browser: Any) -> None:
    http = _http(server)
    bob = _start(http, "bob")
    page = browser.new_page()
    page.goto(server.url + "/ui")
    _card(page, "bob").wait_for()
    page.wait_for_selector("body[data-live=on]")
    # Another client completes bob's promise over the REST API: the card goes away.
    cid = _component_id(http)
    done = http.post(
        f"/v1/components/{cid}/workers/{quote(_agent('bob'))}/complete",
        json={"oplogIdx": bob, "data": json_bytes("rejected")},
    )
    assert done.status_code == 200 and done.json() is True, done.text
    _card(page, "bob").wait_for(state="detached", timeout=10_000)
    # A workflow started elsewhere appears without a reload.
    _start(http, "carol")
    _card(page, "carol").wait_for(timeout=10_000)
    assert page.locator("#pending-list").get_attribute("data-count") == "1"
    _shot(page, "live-update")
    assert _call(http, "bob", "status") == "Workflow bob rejected"
    page.close()


def _pages(http: httpx.Client, name: str) -> dict[str, str]:
    """Every page of the console, named, with ``name``'s workflow for the agent pages."""
    cid = _component_id(http)
    agent = urlencode({"component": cid, "name": _agent(name)})
    return {
        "pending": "/ui",
        "agents": "/ui/agents",
        "agent": "/ui/agent?" + agent,
        "delete": "/ui/agent/delete?" + agent,
        "components": "/ui/components",
        "component": f"/ui/component?id={cid}",
        "signin": "/ui/signin",
    }


# Every fold open: what it hides must fit and be labelled too.
OPEN_DETAILS = "() => document.querySelectorAll('details').forEach(d => { d.open = true; })"
CONTROLS = "input:not([type=hidden]), select, textarea, button"


def test_every_page_fits_1280_and_390_px_windows(server: Server, browser: Any) -> None:
    http = _http(server)
    name = "a-workflow-with-a-rather-long-name-that-has-to-wrap-on-a-phone"
    _start(http, name)
    requested: list[str] = []
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        context.on("request", lambda r: requested.append(r.url))
        page = context.new_page()
        for label, path in _pages(http, name).items():
            page.goto(server.url + path)
            page.evaluate(OPEN_DETAILS)
            inner, scroll = page.evaluate(
                "() => [window.innerWidth, document.documentElement.scrollWidth]"
            )
            assert inner == width
            assert scroll <= inner, f"{path} is {scroll} px wide in a {inner} px window"
            _shot(page, f"{label}-{width}")
        context.close()
    # No assets from the internet: every request went to this server.
    assert requested and all(u.startswith(server.url + "/") for u in requested), requested
    assert any(u.endswith("/ui/static/console.css") for u in requested)


def test_every_control_has_an_accessible_name(server: Server, browser: Any) -> None:
    http = _http(server)
    _start(http, "lena")
    page = browser.new_page()
    cdp = page.context.new_cdp_session(page)
    kinds: set[str] = set()
    checked = 0
    for path in _pages(http, "lena").values():
        page.goto(server.url + path)
        page.evaluate(OPEN_DETAILS)
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        nodes = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": CONTROLS})
        unnamed = []
        for node in nodes["nodeIds"]:
            # The name Chromium computes for assistive technology (labels, content, aria).
            ax = cdp.send("Accessibility.getPartialAXTree", {"nodeId": node})["nodes"][0]
            html = cdp.send("DOM.getOuterHTML", {"nodeId": node})["outerHTML"]
            kinds.add(html[1:].split(" ", 1)[0].split(">", 1)[0])
            if not str((ax.get("name") or {}).get("value", "")).strip():
                unnamed.append(html[:200])
            checked += 1
        assert not unnamed, f"controls without an accessible name on {path}: {unnamed}"
    assert checked >= 20 and {"input", "select", "textarea", "button"} <= kinds, kinds
    page.close()


def test_without_javascript_a_person_completes_promises(server: Server, browser: Any) -> None:
    http = _http(server)
    _start(http, "nojs-a")
    second = _start(http, "nojs-b")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server.url + "/ui")
    # From the pending page: a button.
    _card(page, "nojs-a").get_by_role("button", name="Approve").click()
    page.locator("#outcome.ok").wait_for()
    assert "Completed promise" in page.locator("#outcome").inner_text()
    assert page.locator("body[data-live]").count() == 0  # live.js did not run
    # From the agent's page: the editor behind its fold (details opens without script).
    _card(page, "nojs-b").get_by_role("link", name=_agent("nojs-b")).click()
    page.wait_for_url("**/ui/agent?**")
    card = page.locator("li.promise")
    card.locator("summary", has_text="Another payload").click()
    card.get_by_label(f"Payload for promise {second}").fill(
        '{"decision": "rejected", "by": "someone without JavaScript"}'
    )
    card.get_by_role("button", name=f"Complete promise {second}").click()
    page.locator("#outcome.ok").wait_for()
    assert f"Completed promise {second}" in page.locator("#outcome").inner_text()
    assert wait_until(lambda: _call(http, "nojs-a", "status") == "Workflow nojs-a approved", 30)
    want = "Workflow nojs-b rejected by someone without JavaScript"
    assert wait_until(lambda: _call(http, "nojs-b", "status") == want, 30, 0.1)
    # The agent's page, loaded again, shows the finished invocation and its result.
    page.goto(server.url + _pages(http, "nojs-b")["agent"])
    page.locator("li.invocation[data-state=done]", has_text="start_approval").first.wait_for()
    assert want in page.inner_text("main")
    _shot(page, "agent-no-javascript")
    context.close()


def test_with_a_token_the_console_asks_for_it(guarded: Server, browser: Any) -> None:
    http = _http(guarded, TOKEN)
    idx = _start(http, "dora")
    context = browser.new_context()
    page = context.new_page()
    page.goto(guarded.url + "/ui")
    assert "/ui/signin" in page.url
    page.get_by_label("Token").fill("not-the-token-at-all")
    with page.expect_response(lambda r: r.url.endswith("/ui/signin")) as refused:
        page.get_by_role("button", name="Sign in").click()
    assert refused.value.status == 403
    assert "not right" in page.locator("#signin-error").inner_text()
    # Only the sign-in form's pre-session cookie: no session.
    assert [c["name"] for c in context.cookies()] == ["agent_host_signin"]
    _shot(page, "signin-refused")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    _card(page, "dora").wait_for()
    (cookie,) = context.cookies()  # the session; the pre-session is spent
    assert cookie["name"] == "agent_host_console"
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # The signed-in browser posting a form without the CSRF token is refused.
    cid = _component_id(http)
    form = {"component": cid, "agent": _agent("dora"), "idx": str(idx), "choice": '"approved"'}
    forged = page.request.post(guarded.url + "/ui/promises/complete", form=form)
    assert forged.status == 403 and "CSRF" in forged.text()
    assert http.get(f"/v1/components/{cid}/workers/{quote(_agent('dora'))}").json()["status"] == (
        "Suspended"
    )
    _card(page, "dora").get_by_role("button", name="Approve").click()
    page.locator("#outcome.ok").wait_for()
    assert wait_until(lambda: _call(http, "dora", "status") == "Workflow dora approved", 30, 0.1)
    _shot(page, "signed-in-approved")
    context.close()
