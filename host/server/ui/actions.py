"""The console's forms (POST): sign-in, completing a promise, interrupt / resume /
delete, invoking a method. Each shows its outcome on the page the form came from, so
nothing needs JavaScript."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from host.ids import AgentId, PromiseId
from host.server.ui.access import COOKIE, COOKIE_PATH, SIGNIN_COOKIE
from host.server.ui.console import Console, ConsoleError, PageContext, agent_url, field, read_form
from host.server.ui.pages import Pages

INVOKE_WAIT_S = 10.0  # a console invocation answers once it finishes or suspends, or after this
# A resume answers once the run it starts (the replay back to where the agent waits) has
# ended, or after this: the page then shows where the agent is, and a delete that follows
# is not refused because that replay still holds the agent.
RESUME_WAIT_S = 10.0


@dataclass(frozen=True)
class Shown:
    """The page a form's outcome is shown on."""

    template: str
    context: PageContext
    status: int = 200


FormHandler = Callable[[dict[str, str]], Awaitable[Shown | Response]]


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

    def form(path: str) -> Callable[[FormHandler], FormHandler]:
        """Serve ``handle`` as POST ``path``: the session and CSRF checks of
        :meth:`Console.action`, then the page it returns, for that session."""

        def register(handle: FormHandler) -> FormHandler:
            async def route(request: Request) -> Response:
                async def run(fields: dict[str, str]) -> Response:
                    shown = await handle(fields)
                    if isinstance(shown, Response):
                        return shown
                    session = console.session_of(request)
                    return console.render(shown.template, shown.context, session, shown.status)

                return await console.action(request, run)

            name = "ui_" + path.removeprefix("/ui/").replace("/", "_")
            app.add_api_route(path, route, methods=["POST"], include_in_schema=False, name=name)
            return handle

        return register

    async def on_thread(
        template: str, build: Callable[[], PageContext], status: int = 200
    ) -> Shown:
        return Shown(template, await anyio.to_thread.run_sync(build), status)

    # -- signing in and out -----------------------------------------------------------------
    @app.get("/ui/signin", include_in_schema=False)
    async def signin_form(request: Request) -> Response:
        return console.signin_page(_next(request.query_params.get("next")), None)

    @app.post("/ui/signin", include_in_schema=False)
    async def signin(request: Request) -> Response:
        fields = await read_form(request)
        target = _next(fields.get("next"))
        if not console.access.needs_sign_in:
            return RedirectResponse(target, 303)
        if not console.access.signin_ok(request.cookies.get(SIGNIN_COOKIE), fields.get("csrf")):
            message = (
                "The sign-in form had expired or came from another site (its CSRF token "
                "did not match). Enter the token again."
            )
            return console.signin_page(target, message, 403)
        if not console.access.token_matches(fields.get("token", "")):
            return console.signin_page(target, "That token is not right.", 403)
        _, cookie = console.access.new_session()
        response = RedirectResponse(target, 303)
        console.set_cookie(response, cookie)
        response.delete_cookie(SIGNIN_COOKIE, path=COOKIE_PATH)
        return response

    @form("/ui/signout")
    async def signout(fields: dict[str, str]) -> Response:
        response = RedirectResponse("/ui/signin" if console.access.needs_sign_in else "/ui", 303)
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response

    # -- promises -----------------------------------------------------------------------------
    @form("/ui/promises/complete")
    async def complete(fields: dict[str, str]) -> Shown:
        cid = field(fields, "component", "component")
        name = field(fields, "agent", "agent")
        idx_text = field(fields, "idx", "promise index")
        back = fields.get("back", "pending")
        template = "agent.html" if back == "agent" else "pending.html"

        def page(outcome: dict[str, Any]) -> PageContext:
            if back == "agent":
                return pages.agent(cid, name, None, outcome=outcome)
            return pages.pending(outcome=outcome)

        try:
            data = payload_of(fields)
        except ConsoleError as exc:
            outcome = {
                "ok": False,
                "key": f"{cid}|{name}|{idx_text}",  # which form shows the message
                "message": exc.message,
                "draft": fields.get("payload", ""),
                "format": fields.get("format", "json"),
            }
            return await on_thread(template, lambda: page(outcome), 400)
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

        return await on_thread(template, run)

    # -- agents -------------------------------------------------------------------------------
    def who(fields: dict[str, str]) -> AgentId:
        return service.agent_id(
            field(fields, "component", "component"), field(fields, "name", "agent")
        )

    def agent_page(agent: AgentId, verb: str) -> PageContext:
        status = service.agent(agent).status
        outcome = {"ok": True, "message": f"{verb} {agent.name}: it is {status} now."}
        return pages.agent(str(agent.component_id), agent.name, None, outcome=outcome)

    @form("/ui/agent/interrupt")
    async def interrupt(fields: dict[str, str]) -> Shown:
        def run() -> PageContext:
            agent = service.interrupt(who(fields)).agent
            return agent_page(agent, "Interrupted")

        return await on_thread("agent.html", run)

    @form("/ui/agent/resume")
    async def resume(fields: dict[str, str]) -> Shown:
        agent = await anyio.to_thread.run_sync(lambda: service.resume(who(fields)).agent)
        scheduler = service.scheduler
        await scheduler.wait_async(agent, lambda: not scheduler.busy(agent), RESUME_WAIT_S)
        return await on_thread("agent.html", lambda: agent_page(agent, "Resumed"))

    @form("/ui/agent/delete")
    async def delete(fields: dict[str, str]) -> Shown | Response:
        if fields.get("confirm") != "yes":
            cid, agent_name = (
                field(fields, "component", "component"),
                field(fields, "name", "agent"),
            )
            query = urlencode({"component": cid, "name": agent_name})
            return RedirectResponse("/ui/agent/delete?" + query, 303)

        def run() -> PageContext:
            agent = who(fields)
            service.delete_agent(agent)
            message = f"Deleted {agent.name} with its oplog, promises and queue."
            return pages.agents(None, outcome={"ok": True, "message": message})

        return await on_thread("agents.html", run)

    # -- invoking -----------------------------------------------------------------------------
    @form("/ui/invoke")
    async def invoke(fields: dict[str, str]) -> Shown:
        cid = field(fields, "component", "component")
        agent_name = field(fields, "agent", "agent id")
        method = field(fields, "method", "method")
        text = fields.get("params", "").strip() or "[]"
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
                row = pages.invocation_row(view.invocation)
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

        return await on_thread("component.html", outcome)
