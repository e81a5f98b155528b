"""The console's forms (POST): sign-in, completing a promise, interrupt / resume /
delete, invoking a method. Each shows its outcome on the page the form came from, so
nothing needs JavaScript."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from host.ids import PromiseId
from host.server.ui.console import Console, ConsoleError, PageContext, agent_url, field, read_form
from host.server.ui.pages import Pages

INVOKE_WAIT_S = 10.0  # a console invocation answers once it finishes or suspends, or after this


def _next(target: str | None) -> str:
    # Only our own pages: never an absolute or scheme-relative URL (an open redirect).
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return "/ui"


def payload_of(form: dict[str, str]) -> bytes:
    """The bytes a completion form sends: a choice's JSON, or the editor's text checked
    as JSON (``format=json``, the default) or sent as it is (``format=text``)."""
    if form.get("choice"):
        text = form["choice"]
        try:
            json.loads(text)
        except ValueError:
            raise ConsoleError(400, "Not completed", "That choice is not a JSON value.") from None
        return text.encode()
    text = form.get("payload", "")
    if form.get("format", "json") == "text":
        return text.encode("utf-8")
    if not text.strip():
        raise ConsoleError(400, "Not completed", "The payload is empty: write a JSON value.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConsoleError(
            400,
            "Not completed",
            f"The payload is not valid JSON ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}); nothing was sent. Fix it, or choose “text” to send it as it is.",
        ) from None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def install_actions(app: FastAPI, console: Console, pages: Pages) -> None:
    service = console.service

    @app.get("/ui/signin", include_in_schema=False)
    async def signin_form(request: Request) -> Response:
        context = {"page": "signin", "next": _next(request.query_params.get("next")), "error": None}
        return console.render("signin.html", context, None)

    @app.post("/ui/signin", include_in_schema=False)
    async def signin(request: Request) -> Response:
        form = await read_form(request)
        target = _next(form.get("next"))
        if not console.access.needs_sign_in:
            return RedirectResponse(target, 303)
        if not console.access.token_matches(form.get("token", "")):
            context = {"page": "signin", "next": target, "error": "That token is not right."}
            return console.render("signin.html", context, None, 403)
        _, cookie = console.access.new_session()
        response = RedirectResponse(target, 303)
        console.set_cookie(response, cookie)
        return response

    async def signout_(form: dict[str, str]) -> Response:
        response = RedirectResponse("/ui/signin" if console.access.needs_sign_in else "/ui", 303)
        response.delete_cookie("agent_host_console", path="/ui")
        return response

    @app.post("/ui/signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        return await console.action(request, signout_)

    async def show(request: Request, template: str, context: PageContext, status: int) -> Response:
        return console.render(template, context, console.session_of(request), status)

    # -- promises -----------------------------------------------------------------------------
    @app.post("/ui/promises/complete", include_in_schema=False)
    async def complete(request: Request) -> Response:
        async def handle(form: dict[str, str]) -> Response:
            cid = field(form, "component", "component")
            name = field(form, "agent", "agent")
            idx_text = field(form, "idx", "promise index")
            back = form.get("back", "pending")
            template = "agent.html" if back == "agent" else "pending.html"

            def page(outcome: dict[str, Any]) -> PageContext:
                if back == "agent":
                    return pages.agent(cid, name, None, outcome=outcome)
                return pages.pending(outcome=outcome)

            try:
                data = payload_of(form)
            except ConsoleError as exc:
                outcome = {
                    "ok": False,
                    "key": f"{cid}|{name}|{idx_text}",  # which form shows the message
                    "message": exc.message,
                    "draft": form.get("payload", ""),
                    "format": form.get("format", "json"),
                }
                context = await anyio.to_thread.run_sync(lambda: page(outcome))
                return await show(request, template, context, 400)
            if not idx_text.isdigit():
                raise ConsoleError(400, "Not completed", "The promise index is not a number.")

            def run() -> PageContext:
                agent = service.agent_id(cid, name)
                promise = PromiseId(agent, int(idx_text))
                done = service.complete(promise, data)
                message = (
                    f"Completed promise {idx_text} of {agent.name}: the agent resumes."
                    if done.completed
                    else f"Promise {idx_text} of {agent.name} was already completed by "
                    "someone else; your answer was not used."
                )
                return page({"ok": done.completed, "promise": str(promise), "message": message})

            context = await anyio.to_thread.run_sync(run)
            return await show(request, template, context, 200)

        return await console.action(request, handle)

    # -- agents -------------------------------------------------------------------------------
    def agent_action(name: str, verb: str) -> None:
        @app.post(f"/ui/agent/{name}", include_in_schema=False, name=f"ui_{name}")
        async def act(request: Request) -> Response:
            async def handle(form: dict[str, str]) -> Response:
                cid = field(form, "component", "component")
                agent_name = field(form, "name", "agent")

                def run() -> PageContext:
                    agent = service.agent_id(cid, agent_name)
                    view = getattr(service, name)(agent)
                    message = f"{verb} {agent.name}: it is {view.status} now."
                    outcome = {"ok": True, "message": message}
                    return pages.agent(cid, agent.name, None, outcome=outcome)

                context = await anyio.to_thread.run_sync(run)
                return await show(request, "agent.html", context, 200)

            return await console.action(request, handle)

    agent_action("interrupt", "Interrupted")
    agent_action("resume", "Resumed")

    @app.post("/ui/agent/delete", include_in_schema=False)
    async def delete(request: Request) -> Response:
        async def handle(form: dict[str, str]) -> Response:
            cid = field(form, "component", "component")
            agent_name = field(form, "name", "agent")
            if form.get("confirm") != "yes":
                return RedirectResponse(
                    "/ui/agent/delete?" + urlencode({"component": cid, "name": agent_name}), 303
                )

            def run() -> PageContext:
                agent = service.agent_id(cid, agent_name)
                service.delete_agent(agent)
                message = f"Deleted {agent.name} with its oplog, promises and queue."
                return pages.agents(None, outcome={"ok": True, "message": message})

            context = await anyio.to_thread.run_sync(run)
            return await show(request, "agents.html", context, 200)

        return await console.action(request, handle)

    # -- invoking -----------------------------------------------------------------------------
    @app.post("/ui/invoke", include_in_schema=False)
    async def invoke(request: Request) -> Response:
        async def handle(form: dict[str, str]) -> Response:
            cid = field(form, "component", "component")
            agent_name = field(form, "agent", "agent id")
            method = field(form, "method", "method")
            text = form.get("params", "").strip() or "[]"
            try:
                params = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConsoleError(
                    400, "Not invoked",
                    f"The parameters are not valid JSON ({exc.msg}, line {exc.lineno} column "
                    f"{exc.colno}): write a JSON array such as [] or [\"x\", 1].",
                ) from None  # fmt: skip

            def submit() -> tuple[str, str]:
                agent = service.agent_id(cid, agent_name)
                if service.agent_types(cid):
                    call = service.agent_call_from_json(agent, method, params)
                else:
                    if not isinstance(params, list):
                        raise ConsoleError(400, "Not invoked", "Write the parameters as an array.")
                    call = service.call_from_json(agent, method, params)
                return agent.name, service.submit(call).invocation_id

            name, invocation_id = await anyio.to_thread.run_sync(submit)
            view = await service.wait_async(invocation_id, INVOKE_WAIT_S, True)

            def outcome() -> PageContext:
                if view.state == "done":
                    row = pages._invocation_row(view.invocation)
                    if row.error is not None:
                        result = {"ok": False, "message": f"{method} failed: {row.error}"}
                    else:
                        shown = row.result.text if row.result else "()"
                        result = {"ok": True, "message": f"{method} returned {shown}"}
                elif view.state in ("failed", "errored"):
                    result = {"ok": False, "message": f"{method} failed: {view.invocation.error}"}
                else:
                    state = f"{view.state} ({view.agent.status})"
                    result = {"ok": True, "message": f"{method} is {state}; see the agent's page."}
                result["agent_url"] = agent_url(cid, name)
                return pages.component(cid, outcome=result)

            context = await anyio.to_thread.run_sync(outcome)
            return await show(request, "component.html", context, 200)

        return await console.action(request, handle)
