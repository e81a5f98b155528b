"""The FastAPI application: Golem's worker API (:mod:`host.server.routes`), the routes
components declare (:mod:`host.server.endpoints`), access control and body limits, over
one :class:`~host.service.HostService` whose agents run on a pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from host.runtime.scheduler import PoolScheduler
from host.server.agent_api import install_agent_api, serve_mount
from host.server.auth import AuthConfig, TokenAuth
from host.server.docs import document_errors
from host.server.endpoints import EndpointRouter, bind, result_response
from host.server.errors import install
from host.server.limits import BodyLimit
from host.server.mounts import MountRouter
from host.server.payloads import DEFAULT_MAX_PAYLOAD
from host.server.routes import in_thread, install_routes
from host.server.shapes import invocation_response
from host.server.ui import install_console
from host.server.worker_ops import install_worker_ops
from host.service import HostService

BODY_LIMIT = 1 << 20  # JSON bodies: promise payloads, invocation parameters
COMPONENT_LIMIT = 256 << 20  # component uploads


def create_app(
    service: HostService,
    *,
    await_timeout: float = 60.0,
    auth: AuthConfig | None = None,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> FastAPI:
    """The server's app. ``service`` must run its agents on a
    :class:`~host.runtime.scheduler.PoolScheduler`, which the app starts and stops.
    ``max_payload`` caps a promise payload sent to a completion or a webhook (413 past it)."""
    pool = service.scheduler
    if not isinstance(pool, PoolScheduler):
        raise TypeError("the server needs a HostService with a PoolScheduler")
    router = EndpointRouter(service)
    mounts = MountRouter(service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await in_thread(router.refresh)
        await in_thread(mounts.refresh)
        pool.start()
        yield
        pool.stop()

    app = FastAPI(
        title="agent-host",
        version="0.1.0",
        description="Durable WebAssembly agents with Golem-style promises. Error bodies are "
        '`{"error": {"code", "message", "field"?}}`.',
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.router = router
    app.state.mounts = mounts
    install(app)
    document_errors(app)
    auth = auth or AuthConfig()
    app.state.auth = auth
    app.add_middleware(
        BodyLimit,
        default=BODY_LIMIT,
        overrides={"/v1/components": COMPONENT_LIMIT},
        max_payload=max_payload,
    )
    app.add_middleware(TokenAuth, config=auth)  # outermost: refuse before reading bodies
    install_routes(app, service, await_timeout)
    install_worker_ops(app, service)
    install_agent_api(app, service, await_timeout)
    install_console(app, service, auth.token, await_timeout)  # /ui, before the catch-all
    _agent_routes(app, service, router, mounts, await_timeout)
    return app


def _agent_routes(
    app: FastAPI,
    service: HostService,
    router: EndpointRouter,
    mounts: MountRouter,
    await_timeout: float,
) -> None:
    """Serve the routes agent types mount (:mod:`host.server.mounts`) and, for the old
    examples, the endpoints ``agent-host:http/endpoints`` declares; registered last,
    below every /v1 route."""

    @app.get("/v1/endpoints", tags=["components"])
    def list_endpoints() -> dict[str, Any]:
        router.refresh()
        mounts.refresh()
        return {
            "agentRoutes": [
                {
                    "componentId": r.component.id,
                    "agentType": r.agent_type.type_name,
                    "method": r.http_method,
                    "path": r.path,
                    "agentMethod": r.method.name,
                }
                for r in mounts.routes
            ],
            "agentRouteProblems": mounts.problems,
            "endpoints": [
                {
                    "componentId": r.component.id,
                    "agentType": r.agent_type,
                    "method": r.method,
                    "path": "/" + "/".join(r.mount + r.path),
                    "function": r.export.name,
                }
                for r in router._routes
            ],
            "problems": router.problems,
        }

    @app.api_route(
        "/{path:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        include_in_schema=False,
    )
    async def agent_endpoint(request: Request, path: str) -> Any:
        mounted = await serve_mount(service, mounts, request, path, await_timeout)
        if mounted is not None:
            return mounted
        body = await request.body()
        query = dict(request.query_params)
        headers = {k.lower(): v for k, v in request.headers.items()}

        def submit() -> tuple[Any, str]:
            router.refresh()
            match = router.match(request.method, "/" + path)
            args = bind(match, query, headers, body)
            agent = service.agent_id(match.route.component.id, match.agent_name)
            call = service.call_from_values(agent, match.route.export, args)
            return match, service.submit(call).invocation_id

        match, invocation_id = await in_thread(submit)
        view = await service.wait_async(invocation_id, await_timeout)
        if view.state != "done":
            return invocation_response(view, match.route.component.id, match.agent_name)
        status, payload = result_response(match.route.export, view.invocation.result)
        if payload is None:
            return JSONResponse(None, status) if status != 204 else Response(status_code=204)
        return JSONResponse(payload, status)
