"""Golem's worker API (spec section 4), pending-promise listings, components and health.

Routes parse the request, call one :class:`~host.service.HostService` method and shape
JSON (:mod:`host.server.shapes`). Store work runs on a worker thread; waiting for an
invocation (``invoke-and-await``, ``?wait=``) is awaited on the event loop and holds no
thread, so held requests never delay completions or each other.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from host.errors import InvalidInput, NotFound
from host.ids import AgentId, PromiseId
from host.server import payloads
from host.server.auth import AuthConfig
from host.server.errors import ApiError, error_body
from host.server.oplog_route import install_oplog_route
from host.server.shapes import (
    component_json,
    exported_resources_json,
    invocation_response,
    metadata,
    promise_json,
    updates_json,
)
from host.service import Call, HostService
from host.store import PromiseRecord
from host.tracecontext import TraceContext, trace_context

STATUS_PATTERN = "^(?i)(running|idle|suspended|interrupted|failed)$"
T = TypeVar("T")
RESUME_WAIT_S = 10.0  # the longest POST .../resume waits for the resumed run to end


class CreateAgentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    args: list[str] = []
    env: dict[str, str] = {}


class InvokeRequest(BaseModel):
    """Golem's ``{"params": [...]}`` (JSON typed by the function's WIT types), or, as an
    agent-host extension used by the CLI, ``{"call": "fn(WAVE args)"}``."""

    model_config = ConfigDict(extra="forbid")
    params: list[Any] = []
    call: str | None = None


async def in_thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


@contextmanager
def located(**where: str) -> Iterator[None]:
    """Name where a refused value travelled: an InvalidInput whose field starts with a
    key of ``where`` gets that key replaced (``params.1`` -> ``body.params.1``)."""
    try:
        yield
    except InvalidInput as exc:
        field = exc.field
        if field is not None:
            head, dot, rest = field.partition(".")
            if head in where:
                field = where[head] + dot + rest
        raise ApiError(400, "invalid_input", str(exc), field) from None


WORKERS = "/v1/components/{component_id}/workers"


def complete_promise_answer(
    service: HostService, component_id: str, worker_name: str, oplog_idx: int, data: bytes
) -> bool:
    """The completion route's work once its caller is authorised: whether this completed
    the promise now (also :mod:`host.server.hot_routes`' fast path)."""
    with located(name="path.worker_name"):
        agent = service.agent_id(component_id, worker_name)
    with located(data="body.data"):
        return service.complete_promise(PromiseId(agent, oplog_idx), data)


def install_routes(app: FastAPI, service: HostService, await_timeout: float) -> None:
    def agent_of(component_id: str, worker_name: str) -> AgentId:
        with located(name="path.worker_name"):
            return service.agent_id(component_id, worker_name)

    @app.get("/healthz", tags=["server"])
    def health() -> dict[str, Any]:
        # A cheap read of the store: 503 with the error body when it is unusable. The
        # pid says which process of `serve --workers N` answered on this connection.
        service.health()
        return {"status": "ok", "pid": os.getpid()}

    # -- components ----------------------------------------------------------------------
    @app.get("/v1/components", tags=["components"])
    def list_components() -> list[dict[str, Any]]:
        return [component_json(r) for r in service.list_components()]

    @app.post(
        "/v1/components",
        status_code=201,
        tags=["components"],
        openapi_extra={
            "requestBody": {
                "content": {"application/wasm": {"schema": {"type": "string", "format": "binary"}}},
                "required": True,
            }
        },
    )
    async def upload_component(request: Request, name: Annotated[str, Query()]) -> Any:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
        record = await in_thread(lambda: service.add_component_bytes(bytes(data), name))
        return component_json(record)

    @app.get("/v1/components/{component_id}", tags=["components"])
    def get_component(component_id: str) -> dict[str, Any]:
        view = service.component(component_id)
        return {**component_json(view.record), "exports": [e.name for e in view.functions]}

    # -- agents (Golem: workers) -------------------------------------------------------------
    @app.post(WORKERS, status_code=201, tags=["workers"])
    def create_worker(component_id: str, body: CreateAgentRequest) -> dict[str, Any]:
        version = service.component(component_id).record.version
        with located(name="body.name"):
            agent = service.create_new_agent(
                component_id, body.name, body.args, tuple(body.env.items())
            )
        return {
            "workerId": {"componentId": str(agent.component_id), "workerName": agent.name},
            "componentVersion": version,
        }

    @app.get(WORKERS, tags=["workers"])
    def list_workers(
        component_id: str,
        status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    ) -> dict[str, Any]:
        views = service.list_agents(component_id, status.lower() if status else None)
        return {"workers": [metadata(v) for v in views]}

    @app.get(WORKERS + "/{worker_name}", tags=["workers"])
    def get_worker(component_id: str, worker_name: str) -> dict[str, Any]:
        agent = agent_of(component_id, worker_name)
        # One agent's instances and updates are read from its oplog: not in the listing,
        # which must not read every agent's oplog.
        owned = exported_resources_json(service.owned_resources(agent))
        return {
            **metadata(service.agent(agent)),
            "exportedResourceInstances": owned,
            "updates": updates_json(service.update_records(agent)),
        }

    @app.delete(WORKERS + "/{worker_name}", tags=["workers"])
    def delete_worker(component_id: str, worker_name: str) -> dict[str, Any]:
        service.delete_agent(agent_of(component_id, worker_name))
        return {}

    @app.post(WORKERS + "/{worker_name}/interrupt", tags=["workers"])
    def interrupt_worker(component_id: str, worker_name: str) -> dict[str, Any]:
        service.interrupt(agent_of(component_id, worker_name))
        return {}

    @app.post(WORKERS + "/{worker_name}/resume", tags=["workers"])
    async def resume_worker(component_id: str, worker_name: str) -> dict[str, Any]:
        # Answer once the resumed run (its replay, and what it runs live after) has
        # ended or come to rest, as the console does: a client that deletes the agent
        # next is not refused 409 for a run it could not see. At most RESUME_WAIT_S.
        agent = await in_thread(lambda: service.resume(agent_of(component_id, worker_name)).agent)
        scheduler = service.scheduler
        await scheduler.wait_async(agent, lambda: not scheduler.busy(agent), RESUME_WAIT_S)
        return {}

    # -- invocations ------------------------------------------------------------------------
    def prepare(
        component_id: str, worker_name: str, function: str | None, body: InvokeRequest
    ) -> Call:
        agent = agent_of(component_id, worker_name)
        if body.call is not None:
            if body.params:
                raise ApiError(400, "invalid_request", "give either params or call", "body.call")
            with located(call="body.call", function="body.call", params="body.call"):
                call = service.call_from_wave(agent, body.call)
            if function is not None:
                with located(function="query.function"):
                    named = service.export_for(agent, function)
                if named.name != call.export.name:
                    raise ApiError(
                        400,
                        "invalid_request",
                        f"?function={function} but the call names {call.export.name}",
                        "query.function",
                    )
            return call
        if not function:
            raise ApiError(400, "invalid_request", "?function= is required", "query.function")
        with located(function="query.function", params="body.params"):
            return service.call_from_json(agent, function, body.params)

    def enqueue(
        component_id: str,
        worker_name: str,
        function: str | None,
        body: InvokeRequest | None,
        key: str | None,
        trace: TraceContext | None = None,
    ) -> str:
        call = prepare(component_id, worker_name, function, body or InvokeRequest())
        return service.submit(call, key, trace).invocation_id

    @app.post(WORKERS + "/{worker_name}/invoke", status_code=202, tags=["invocations"])
    def invoke(
        component_id: str,
        worker_name: str,
        function: Annotated[str | None, Query(min_length=1)] = None,
        body: Annotated[InvokeRequest | None, Body()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
        traceparent: Annotated[str | None, Header()] = None,
        tracestate: Annotated[list[str] | None, Header()] = None,
    ) -> dict[str, Any]:
        trace = trace_context(traceparent, tracestate)
        invocation_id = enqueue(component_id, worker_name, function, body, idempotency_key, trace)
        return {"invocationId": invocation_id}

    @app.post(WORKERS + "/{worker_name}/invoke-and-await", tags=["invocations"])
    async def invoke_and_await(
        component_id: str,
        worker_name: str,
        function: Annotated[str | None, Query(min_length=1)] = None,
        body: Annotated[InvokeRequest | None, Body()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
        timeout: Annotated[float | None, Query(gt=0, le=3600)] = None,
        until_suspended: Annotated[bool, Query(alias="untilSuspended")] = False,
        traceparent: Annotated[str | None, Header()] = None,
        tracestate: Annotated[list[str] | None, Header()] = None,
    ) -> Any:
        trace = trace_context(traceparent, tracestate)  # an invalid one is ignored (W3C)
        invocation_id = await in_thread(
            lambda: enqueue(component_id, worker_name, function, body, idempotency_key, trace)
        )
        view = await service.wait_async(invocation_id, timeout or await_timeout, until_suspended)
        return invocation_response(view, component_id, worker_name)

    @app.get(WORKERS + "/{worker_name}/invocations/{invocation_id}", tags=["invocations"])
    async def get_invocation(
        component_id: str,
        worker_name: str,
        invocation_id: str,
        wait: Annotated[float, Query(ge=0, le=3600)] = 0,
    ) -> Any:
        agent = await in_thread(lambda: agent_of(component_id, worker_name))
        view = await in_thread(lambda: service.invocation(invocation_id, agent))
        if wait:
            view = await service.wait_async(invocation_id, wait)
        return invocation_response(view, component_id, worker_name)

    # -- promises ------------------------------------------------------------------------------
    @app.post(
        WORKERS + "/{worker_name}/complete", tags=["promises"], openapi_extra=payloads.OPENAPI_BODY
    )
    async def complete(
        component_id: str,
        worker_name: str,
        request: Request,
        x_promise_secret: Annotated[str | None, Header()] = None,
    ) -> Any:
        # Read here, not by FastAPI: the body is Golem's JSON or the raw payload bytes.
        raw = await request.body()
        content_type = request.headers.get("content-type")
        if payloads.is_octet_stream(content_type):
            oplog_idx = payloads.raw_oplog_idx(request.query_params.get("oplogIdx"))
            data, given = raw, x_promise_secret
        else:
            body = payloads.json_completion(raw, content_type)
            oplog_idx, given = body.oplog_idx, x_promise_secret or body.secret
            data = body.data
        return await in_thread(
            lambda: _complete(request, component_id, worker_name, oplog_idx, data, given)
        )

    def _complete(
        request: Request,
        component_id: str,
        worker_name: str,
        oplog_idx: int,
        data: bytes,
        given: str | None,
    ) -> Any:
        auth: AuthConfig = request.app.state.auth
        if auth.token is not None or auth.require_promise_secret:
            if not auth.token_ok(request.headers.get("authorization")):
                if not secret_ok(component_id, worker_name, oplog_idx, given):
                    # The same answer for an unknown component, agent or promise as for
                    # a wrong secret: a caller without the token learns nothing.
                    return JSONResponse(
                        error_body(
                            "unauthorized",
                            "completing this promise needs the promise's secret "
                            "(X-Promise-Secret) or the server's token",
                        ),
                        401,
                        headers={"www-authenticate": "Bearer"},
                    )
        return complete_promise_answer(service, component_id, worker_name, oplog_idx, data)

    def secret_ok(component_id: str, worker_name: str, oplog_idx: int, given: str | None) -> bool:
        if given is None:
            return False
        try:
            promise = PromiseId(service.agent_id(component_id, worker_name), oplog_idx)
            return service.promise_secret_matches(promise, given)
        except (NotFound, InvalidInput):
            return False

    def listing(records: list[PromiseRecord]) -> dict[str, Any]:
        internal = service.internal_promises(records)
        return {"promises": [promise_json(p, p.id in internal) for p in records]}

    # Pending promises; ?all=true adds completed ones and internal ones (marked).
    @app.get(WORKERS + "/{worker_name}/promises", tags=["promises"])
    def worker_promises(component_id: str, worker_name: str, all: bool = False) -> dict[str, Any]:  # noqa: A002
        agent = agent_of(component_id, worker_name)
        return listing(service.list_promises(agent, include_completed=all, include_internal=all))

    @app.get("/v1/promises", tags=["promises"])
    def all_promises(component: str | None = None, all: bool = False) -> dict[str, Any]:  # noqa: A002
        return listing(
            service.list_promises(None, component, include_completed=all, include_internal=all)
        )

    # -- the oplog: host/server/oplog_route.py ------------------------------------------------
    install_oplog_route(app, service, agent_of)
