"""The web console at ``/ui``: server-rendered pages (Jinja2) for the people in the loop
(pending promises, completed with a button or a checked payload) and for operators
(agents, their oplogs and actions; components, their agent types and a form to invoke
a method). Every page reads through the :class:`~host.service.HostService`, as the REST
API does; live updates of the pending list come by server-sent events
(:mod:`host.server.ui.live`). Access: see :mod:`host.server.ui.access`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from host.server.ui.access import ConsoleAccess
from host.server.ui.actions import install_actions
from host.server.ui.console import HERE, Console
from host.server.ui.pages import install_pages
from host.service import HostService

__all__ = ["ConsoleAccess", "install_console"]


def install_console(
    app: FastAPI, service: HostService, token: str | None, await_timeout: float
) -> None:
    """Serve the console under ``/ui``; register it before any catch-all route."""
    draining = getattr(service.scheduler, "draining", None)
    console = Console(
        service, token, await_timeout, lambda: draining is not None and draining.is_set()
    )
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    pages = install_pages(app, console)
    install_actions(app, console, pages)

    @app.api_route("/ui/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    async def unknown(request: Request, rest: str) -> Response:
        session = console.session_of(request)
        if session is None and console.access.needs_sign_in:
            return console.sign_in_redirect(request)
        return console.error_page(
            404, "No such page", f"The console has no page /ui/{rest}.", session
        )
