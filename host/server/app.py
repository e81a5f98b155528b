"""The FastAPI application: Golem's worker API (:mod:`host.server.routes`), Golem's agent
API and the routes agent types mount (:mod:`host.server.agent_api`,
:mod:`host.server.mounts`), access control and body limits, over one
:class:`~host.service.HostService` whose agents run on a pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from host.runtime.scheduler import PoolScheduler
from host.server.agent_api import install_agent_api, serve_mount
from host.server.auth import AuthConfig, TokenAuth
from host.server.docs import document_errors
from host.server.errors import error_body, install
from host.server.hot_routes import CompletionFastPath, completion_pool
from host.server.limits import BodyLimit
from host.server.mounts import MountRouter
from host.server.payloads import DEFAULT_MAX_PAYLOAD
from host.server.retry_policies import install_retry_policies
from host.server.routes import in_thread, install_routes
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
    mounts = MountRouter(service)
    completions = completion_pool()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await in_thread(mounts.refresh)
        pool.start()
        yield
        pool.stop()
        completions.shutdown(wait=True)

    app = FastAPI(
        title="agent-host",
        version="0.1.0",
        description="Durable WebAssembly agents with Golem-style promises. Error bodies are "
        '`{"error": {"code", "message", "field"?}}`.',
        lifespan=lifespan,
    )
    app.state.service = service
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
    app.add_middleware(TokenAuth, config=auth)  # refuse before reading bodies
    # Outermost: small JSON completions answered without the framework (same answers).
    app.add_middleware(CompletionFastPath, service=service, auth=auth, pool=completions)
    install_routes(app, service, await_timeout)
    install_worker_ops(app, service)
    install_retry_policies(app, service)
    install_agent_api(app, service, await_timeout)
    install_console(app, service, auth.token, await_timeout)  # /ui, before the catch-all
    _agent_routes(app, service, mounts, await_timeout)
    return app


def _agent_routes(
    app: FastAPI, service: HostService, mounts: MountRouter, await_timeout: float
) -> None:
    """Serve the routes agent types mount (:mod:`host.server.mounts`); registered last,
    below every /v1 route."""

    @app.get("/v1/endpoints", tags=["components"])
    def list_endpoints() -> dict[str, Any]:
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
        return JSONResponse(error_body("not_found", f"no agent route matches /{path[:200]}"), 404)
