"""The console's shared machinery: templates, sessions, forms and error pages.

Routes (:mod:`host.server.ui.pages`, :mod:`host.server.ui.actions`) build a page's
context from service calls run on a worker thread and hand it to :meth:`Console.page`,
which signs the browser in (or sends it to the sign-in form), renders the template and
turns a :class:`~host.errors.HostError` into an error page with the status the API
would answer (404 for an unknown agent, 400 for bad input), never a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import anyio.to_thread
import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from host.errors import HostError
from host.server.errors import STATUS, clip
from host.server.ui.access import (
    COOKIE,
    COOKIE_PATH,
    SIGNIN_COOKIE,
    SIGNIN_MAX_AGE_S,
    ConsoleAccess,
    Session,
)
from host.server.ui.live import PendingWatch
from host.service import HostService

HERE = Path(__file__).parent
PageContext = dict[str, Any]


class ConsoleError(Exception):
    """A page that cannot be shown: its status and a message for a person."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def status_of(exc: HostError) -> int:
    return next((status for cls, status, _ in STATUS if isinstance(exc, cls)), 500)


def agent_url(component_id: str, name: str, **extra: Any) -> str:
    return "/ui/agent?" + urlencode({"component": component_id, "name": name, **extra})


def _pending_dom_id(promise: str) -> str:
    return "promise-" + quote(promise, safe="")


class Console:
    def __init__(
        self, service: HostService, token: str | None, await_timeout: float, stopping: Any
    ) -> None:
        self.service = service
        self.access = ConsoleAccess(token)
        self.await_timeout = await_timeout
        self.watch = PendingWatch(service, stopping)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals["agent_url"] = agent_url
        self.templates.filters["dom_id"] = _pending_dom_id

    # -- sessions ---------------------------------------------------------------------------
    def session_of(self, request: Request) -> Session | None:
        return self.access.session(request.cookies.get(COOKIE))

    def set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            COOKIE,
            value,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=False,  # the server speaks plain HTTP (on loopback by default)
        )

    def signin_page(self, target: str, error: str | None, status: int = 200) -> HTMLResponse:
        """The sign-in form, with a fresh pre-session (cookie and CSRF field)."""
        cookie, csrf = self.access.new_signin()
        context = {"page": "signin", "next": target, "error": error, "signin_csrf": csrf}
        response = self.render("signin.html", context, None, status)
        response.set_cookie(
            SIGNIN_COOKIE,
            cookie,
            max_age=SIGNIN_MAX_AGE_S,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=False,
        )
        return response

    def sign_in_redirect(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/ui/signin?" + urlencode({"next": target}), 303)

    # -- rendering ----------------------------------------------------------------------------
    def render(
        self,
        template: str,
        context: PageContext,
        session: Session | None,
        status: int = 200,
        cookie: str | None = None,
    ) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            csrf=session.csrf if session else "",
            signed_in=session is not None and self.access.needs_sign_in,
            **context,
        )
        response = HTMLResponse(html, status)
        response.headers["cache-control"] = "no-store"
        response.headers["x-frame-options"] = "DENY"
        response.headers["referrer-policy"] = "same-origin"
        if cookie is not None:
            self.set_cookie(response, cookie)
        return response

    def error_page(
        self, status: int, title: str, message: str, session: Session | None
    ) -> HTMLResponse:
        context = {"title": title, "message": clip(message), "status": status}
        return self.render("error.html", context, session, status)

    async def page(
        self,
        request: Request,
        template: str,
        build: Callable[[], PageContext],
        status: int = 200,
    ) -> Response:
        """A GET page: the session (or the sign-in form), ``build`` on a worker thread,
        the template."""
        session = self.session_of(request)
        cookie = None
        if session is None:
            if self.access.needs_sign_in:
                return self.sign_in_redirect(request)
            session, cookie = self.access.new_session()
        try:
            context = await anyio.to_thread.run_sync(build)
        except HostError as exc:
            return self.error_page(status_of(exc), "Not possible", str(exc), session)
        except ConsoleError as exc:
            return self.error_page(exc.status, exc.title, exc.message, session)
        return self.render(template, context, session, status, cookie)

    async def action(
        self, request: Request, handle: Callable[[dict[str, str]], Awaitable[Response]]
    ) -> Response:
        """A POST form: refused (403) without a session and a matching CSRF token."""
        session = self.session_of(request)
        form = await read_form(request)
        if session is None and self.access.needs_sign_in:
            return self.error_page(
                403, "Sign in first", "This console needs you to sign in with the server's "
                "token before it accepts a form.", None,
            )  # fmt: skip
        if not self.access.csrf_ok(session, form.get("csrf")):
            return self.error_page(
                403, "Form refused",
                "The form did not carry a valid CSRF token (it may be from an old page, or "
                "from another site). Reload the page and try again.", session,
            )  # fmt: skip
        try:
            return await handle(form)
        except HostError as exc:
            return self.error_page(status_of(exc), "Not possible", str(exc), session)
        except ConsoleError as exc:
            return self.error_page(exc.status, exc.title, exc.message, session)


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the console's forms send nothing
    else); the last value of a repeated field wins. Any other body is an empty form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def field(form: dict[str, str], name: str, label: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise ConsoleError(400, "Missing field", f"The form has no {label}.")
    return value
