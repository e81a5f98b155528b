"""The FastAPI application: Golem's worker API shapes (spec section 4) plus pending-promise
listings, component upload and health. Routes are thin: they parse, call the agent
service, and shape JSON; errors go through :mod:`host.server.errors`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from host import oplog
from host.errors import Conflict, InvalidInput
from host.ids import AgentId, PromiseId, check_agent_name
from host.runtime.executor import Host
from host.runtime.service import AgentService
from host.secrets import matches
from host.server.auth import AuthConfig, TokenAuth
from host.server.endpoints import EndpointRouter, bind, result_response
from host.server.errors import ApiError, error_body, install
from host.server.limits import BodyLimit
from host.store import FAILED, IDLE, RUNNING, SUSPENDED, AgentRecord
from host.store.base import DONE, ERRORED, INTERRUPTED
from host.values import ValuesError, format_value, from_json, parse_value, to_json

BODY_LIMIT = 1 << 20  # JSON bodies: promise payloads, invocation parameters
COMPONENT_LIMIT = 256 << 20  # component uploads

GOLEM_STATUS = {
    RUNNING: "Running",
    IDLE: "Idle",
    SUSPENDED: "Suspended",
    INTERRUPTED: "Interrupted",
    FAILED: "Failed",
}

STATUS_PATTERN = "^(?i)(running|idle|suspended|interrupted|failed)$"
U64 = Annotated[int, Field(ge=0, le=2**64 - 1)]
Byte = Annotated[int, Field(ge=0, le=255, strict=True)]


class CompleteRequest(BaseModel):
    """Golem's CompleteParameters: the promise's oplog index and the payload bytes; and,
    where the server asks for it, the promise's secret (or send ``X-Promise-Secret``)."""

    model_config = ConfigDict(extra="forbid")
    oplogIdx: Annotated[int, Field(ge=1, le=2**64 - 1, strict=True)]  # noqa: N815
    data: list[Byte]
    secret: str | None = None


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


def create_app(
    host: Host,
    *,
    workers: int = 4,
    poll_interval: float = 0.25,
    await_timeout: float = 60.0,
    auth: AuthConfig | None = None,
) -> FastAPI:
    service = AgentService(host, workers=workers, poll_interval=poll_interval)
    router = EndpointRouter(host)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _in_thread(router.refresh)
        service.start()
        yield
        service.stop()

    app = FastAPI(
        title="agent-host",
        version="0.1.0",
        description="Durable WebAssembly agents with Golem-style promises. Error bodies are "
        '`{"error": {"code", "message", "field"?}}`.',
        lifespan=lifespan,
    )
    app.state.service = service
    install(app)
    _document_errors(app)
    auth = auth or AuthConfig()
    app.state.auth = auth
    app.add_middleware(BodyLimit, default=BODY_LIMIT, overrides={"/v1/components": COMPONENT_LIMIT})
    app.add_middleware(TokenAuth, config=auth)  # outermost: refuse before reading bodies
    _routes(app, host, service, router, await_timeout)
    _agent_routes(app, host, service, router, await_timeout)
    return app


def _agent(host: Host, component_id: str, name: str) -> AgentId:
    record = host.store.get_component(component_id)
    try:
        return AgentId(uuid.UUID(record.id), check_agent_name(name))
    except InvalidInput as exc:
        raise ApiError(400, "invalid_input", str(exc), "path.worker_name") from None


def _metadata(host: Host, record: AgentRecord) -> dict[str, Any]:
    created = host.store.read_oplog(record.agent, 1, 1)[0]
    assert isinstance(created, oplog.AgentCreated)
    pending = host.store.list_invocations(record.agent, ["queued"])
    version = next(
        (
            c.version
            for c in host.store.list_component_versions(str(record.agent.component_id))
            if c.hash == record.component_hash
        ),
        None,
    )
    return {
        "workerId": {
            "componentId": str(record.agent.component_id),
            "workerName": record.agent.name,
        },
        "args": list(created.args),
        "env": {k: v for k, v in created.env},
        "status": GOLEM_STATUS.get(record.status, record.status),
        "componentVersion": version,
        "retryCount": 0,
        "pendingInvocationCount": len(pending),
        "createdAt": _iso(record.created_at),
        "lastError": record.last_error,
        "oplogLength": record.oplog_length,
        "invocations": [
            {"invocationId": i.invocation_id, "function": i.function, "state": i.state}
            for i in host.store.list_invocations(record.agent, ["queued", "started"])
        ],
        "waitingOn": [
            _promise_id_json(PromiseId(record.agent, i)) for i in record.waiting_promises
        ],
    }


def _promise_id_json(promise: PromiseId) -> dict[str, Any]:
    return {
        "workerId": {
            "componentId": str(promise.agent.component_id),
            "workerName": promise.agent.name,
        },
        "oplogIdx": promise.oplog_idx,
    }


def _iso(ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


def _routes(
    app: FastAPI, host: Host, service: AgentService, router: EndpointRouter, await_timeout: float
) -> None:
    workers = "/v1/components/{component_id}/workers"

    @app.get("/healthz", tags=["server"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # -- components ----------------------------------------------------------------------
    @app.get("/v1/components", tags=["components"])
    def list_components() -> list[dict[str, Any]]:
        return [_component_json(r) for r in host.store.list_components()]

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
        record = await _in_thread(lambda: host.add_component_bytes(bytes(data), name))
        await _in_thread(router.refresh)
        return _component_json(record)

    @app.get("/v1/components/{component_id}", tags=["components"])
    def get_component(component_id: str) -> dict[str, Any]:
        record = host.store.get_component(component_id)
        exports = host.exports(record.hash)
        names = sorted({e.name for e in exports.values()})
        return {**_component_json(record), "exports": names}

    # -- agents (Golem: workers) -------------------------------------------------------------
    @app.post(workers, status_code=201, tags=["workers"])
    def create_worker(component_id: str, body: CreateAgentRequest) -> dict[str, Any]:
        record = host.store.get_component(component_id)
        try:
            agent, created = host.create_agent(
                component_id, body.name, tuple(body.args), tuple(body.env.items())
            )
        except InvalidInput as exc:
            raise ApiError(400, "invalid_input", str(exc), "body.name") from None
        if not created:
            raise Conflict(f"agent {agent} already exists")
        return {
            "workerId": {"componentId": str(agent.component_id), "workerName": agent.name},
            "componentVersion": record.version,
        }

    @app.get(workers, tags=["workers"])
    def list_workers(
        component_id: str,
        status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    ) -> dict[str, Any]:
        record = host.store.get_component(component_id)
        wanted = status.lower() if status else None
        agents = host.store.list_agents(record.id, wanted)
        return {"workers": [_metadata(host, a) for a in agents]}

    @app.get(workers + "/{worker_name}", tags=["workers"])
    def get_worker(component_id: str, worker_name: str) -> dict[str, Any]:
        agent = _agent(host, component_id, worker_name)
        return _metadata(host, host.store.get_agent(agent))

    @app.delete(workers + "/{worker_name}", tags=["workers"])
    def delete_worker(component_id: str, worker_name: str) -> dict[str, Any]:
        agent = _agent(host, component_id, worker_name)
        if host.store.get_agent(agent).status == RUNNING:
            raise Conflict(f"agent {agent} is running an invocation; interrupt it first")
        host.store.delete_agent(agent)
        host.forget_instance(agent)
        return {}

    @app.post(workers + "/{worker_name}/interrupt", tags=["workers"])
    def interrupt_worker(component_id: str, worker_name: str) -> dict[str, Any]:
        host.interrupt(_agent(host, component_id, worker_name))
        return {}

    @app.post(workers + "/{worker_name}/resume", tags=["workers"])
    def resume_worker(component_id: str, worker_name: str) -> dict[str, Any]:
        agent = _agent(host, component_id, worker_name)
        host.resume(agent)
        service.schedule(agent)
        return {}

    # -- invocations ------------------------------------------------------------------------
    def _enqueue(
        component_id: str,
        worker_name: str,
        function: str | None,
        body: InvokeRequest,
        key: str | None,
    ) -> tuple[AgentId, Any]:
        try:
            agent, hash, exists = host.call_target(component_id, worker_name)
        except InvalidInput as exc:
            raise ApiError(400, "invalid_input", str(exc), "path.worker_name") from None
        if body.call is not None:
            if body.params:
                raise ApiError(400, "invalid_request", "give either params or call", "body.call")
            function_name, wave = host.prepare_call_for(hash, body.call)
            if function and host.resolve_export(hash, function).name != function_name:
                raise ApiError(
                    400,
                    "invalid_request",
                    f"?function={function} but the call names {function_name}",
                    "query.function",
                )
            if not exists:
                host.create_agent(component_id, worker_name)
            return agent, service.invoke(agent, function_name, wave, key)
        if not function:
            raise ApiError(400, "invalid_request", "?function= is required", "query.function")
        try:
            export = host.resolve_export(hash, function)
        except InvalidInput as exc:
            raise ApiError(400, "invalid_input", str(exc), "query.function") from None
        if len(body.params) != len(export.sig.params):
            raise ApiError(
                400,
                "invalid_params",
                f"{export.name} takes {len(export.sig.params)} parameters, "
                f"{len(body.params)} given",
                "body.params",
            )
        params = []
        for i, (value, (pname, ty)) in enumerate(zip(body.params, export.sig.params, strict=True)):
            try:
                params.append(format_value(from_json(value, ty, f"$.params[{i}]"), ty))
            except ValuesError as exc:
                raise ApiError(
                    400, "invalid_params", f"parameter {pname}: {exc}", f"body.params.{i}"
                ) from None
        if not exists:
            host.create_agent(component_id, worker_name)
        invocation = service.invoke(agent, export.name, tuple(params), key)
        return agent, invocation

    @app.post(workers + "/{worker_name}/invoke", status_code=202, tags=["invocations"])
    def invoke(
        component_id: str,
        worker_name: str,
        function: Annotated[str | None, Query(min_length=1)] = None,
        body: Annotated[InvokeRequest | None, Body()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        _, invocation = _enqueue(
            component_id, worker_name, function, body or InvokeRequest(), idempotency_key
        )
        return {"invocationId": invocation.invocation_id}

    @app.post(workers + "/{worker_name}/invoke-and-await", tags=["invocations"])
    def invoke_and_await(
        component_id: str,
        worker_name: str,
        function: Annotated[str | None, Query(min_length=1)] = None,
        body: Annotated[InvokeRequest | None, Body()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
        timeout: Annotated[float | None, Query(gt=0, le=3600)] = None,
        until_suspended: Annotated[bool, Query(alias="untilSuspended")] = False,
    ) -> Any:
        agent, invocation = _enqueue(
            component_id, worker_name, function, body or InvokeRequest(), idempotency_key
        )
        record = service.wait(invocation.invocation_id, timeout or await_timeout, until_suspended)
        return _invocation_response(host, agent, record, component_id, worker_name)

    @app.get(workers + "/{worker_name}/invocations/{invocation_id}", tags=["invocations"])
    def get_invocation(
        component_id: str,
        worker_name: str,
        invocation_id: str,
        wait: Annotated[float, Query(ge=0, le=3600)] = 0,
    ) -> Any:
        agent = _agent(host, component_id, worker_name)
        record = host.store.get_invocation(invocation_id)
        if record.agent != agent:
            raise ApiError(404, "not_found", f"agent {agent} has no invocation {invocation_id}")
        if wait:
            record = service.wait(invocation_id, wait)
        return _invocation_response(host, agent, record, component_id, worker_name)

    # -- promises ------------------------------------------------------------------------------
    @app.post(workers + "/{worker_name}/complete", tags=["promises"])
    def complete(
        component_id: str,
        worker_name: str,
        body: CompleteRequest,
        request: Request,
        x_promise_secret: Annotated[str | None, Header()] = None,
    ) -> Any:
        agent = _agent(host, component_id, worker_name)
        promise = PromiseId(agent, body.oplogIdx)
        auth: AuthConfig = request.app.state.auth
        if auth.token is not None or auth.require_promise_secret:
            if not auth.token_ok(request.headers.get("authorization")):
                given = x_promise_secret or body.secret
                stored = host.store.promise_secret_hash(promise)  # 404 for an unknown one
                if given is None or not matches(given, stored):
                    return JSONResponse(
                        error_body(
                            "unauthorized",
                            "completing this promise needs the promise's secret "
                            "(X-Promise-Secret) or the server's token",
                        ),
                        401,
                        headers={"www-authenticate": "Bearer"},
                    )
        return service.complete(promise, bytes(body.data))

    @app.get(workers + "/{worker_name}/promises", tags=["promises"])
    def worker_promises(component_id: str, worker_name: str, all: bool = False) -> dict[str, Any]:  # noqa: A002
        agent = _agent(host, component_id, worker_name)
        host.store.get_agent(agent)
        return {
            "promises": [
                _promise_json(p) for p in host.store.list_promises(agent, pending_only=not all)
            ]
        }

    @app.get("/v1/promises", tags=["promises"])
    def all_promises(component: str | None = None, all: bool = False) -> dict[str, Any]:  # noqa: A002
        records = host.store.list_promises(None, pending_only=not all)
        if component is not None:
            cid = host.store.get_component(component).id
            records = [p for p in records if str(p.id.agent.component_id) == cid]
        return {"promises": [_promise_json(p) for p in records]}

    # -- the oplog -------------------------------------------------------------------------------
    @app.get(workers + "/{worker_name}/oplog", tags=["workers"])
    def get_oplog(
        component_id: str,
        worker_name: str,
        from_: Annotated[int, Query(alias="from", ge=1, le=2**63 - 1)] = 1,
        count: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> dict[str, Any]:
        agent = _agent(host, component_id, worker_name)
        length = host.store.get_agent(agent).oplog_length
        entries = host.store.read_oplog(agent, from_, count)
        last = from_ + len(entries) - 1
        return {
            "entries": [
                {"oplogIndex": from_ + i, "entry": oplog.to_dict(e)} for i, e in enumerate(entries)
            ],
            "next": last + 1 if last < length else None,
            "length": length,
        }


def _component_json(record: Any) -> dict[str, Any]:
    return {
        "componentId": record.id,
        "componentName": record.name,
        "componentVersion": record.version,
        "componentSize": record.size,
        "hash": record.hash,
    }


def _promise_json(p: Any) -> dict[str, Any]:
    return {
        "promiseId": _promise_id_json(p.id),
        "id": str(p.id),
        "createdAt": _iso(p.created_at),
        "createdBy": p.function,
        "completed": p.completed,
    }


def _invocation_response(
    host: Host, agent: AgentId, record: Any, component_id: str, worker_name: str
) -> JSONResponse:
    if record.state == DONE:
        hash = host.store.get_agent(agent).component_hash
        export = host.resolve_export(hash, record.function)
        result = None
        if export.sig.result is not None and record.result is not None:
            result = to_json(parse_value(record.result, export.sig.result), export.sig.result)
        return JSONResponse({"result": result, "wave": record.result})
    if record.state == ERRORED:
        raise ApiError(422, "invocation_failed", f"the invocation failed: {record.error}")
    agent_record = host.store.get_agent(agent)
    if agent_record.status == FAILED:
        raise ApiError(422, "invocation_failed", f"the agent failed: {agent_record.last_error}")
    url = f"/v1/components/{component_id}/workers/{worker_name}/invocations/{record.invocation_id}"
    return JSONResponse(
        {
            "invocationId": record.invocation_id,
            "state": record.state,
            "status": GOLEM_STATUS.get(agent_record.status, agent_record.status),
            "waitingOn": [
                _promise_id_json(PromiseId(agent, i)) for i in agent_record.waiting_promises
            ],
            "message": "the invocation has not finished yet; GET resultUrl (with ?wait=SECONDS "
            "to hold the request) for its result",
            "resultUrl": url,
        },
        status_code=202,
    )


async def _in_thread(fn: Callable[[], Any]) -> Any:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn)


def _agent_routes(
    app: FastAPI, host: Host, service: AgentService, router: EndpointRouter, await_timeout: float
) -> None:
    """Serve the endpoints components declare; registered last, below every /v1 route."""

    @app.get("/v1/endpoints", tags=["components"])
    def list_endpoints() -> dict[str, Any]:
        router.refresh()
        return {
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
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def agent_endpoint(request: Request, path: str) -> Any:
        body = await request.body()
        query = dict(request.query_params)
        headers = {k.lower(): v for k, v in request.headers.items()}

        def run() -> Any:
            router.refresh()
            match = router.match(request.method, "/" + path)
            args = bind(match, query, headers, body)
            route = match.route
            params = tuple(
                format_value(v, t) for v, t in zip(args, route.export.sig.param_types, strict=True)
            )
            agent = AgentId(uuid.UUID(route.component.id), match.agent_name)
            host.create_agent(route.component.id, match.agent_name)  # no-op if it exists
            invocation = service.invoke(agent, route.export.name, params)
            record = service.wait(invocation.invocation_id, await_timeout)
            if record.state != DONE:
                return _invocation_response(
                    host, agent, record, route.component.id, match.agent_name
                )
            status, payload = result_response(route.export, record.result)
            if payload is None:
                return JSONResponse(None, status) if status != 204 else Response(status_code=204)
            return JSONResponse(payload, status)

        return await _in_thread(run)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"code", "message", "field"?}}``."""

    error: ErrorDetail


_ERROR_STATUSES = {
    "400": "Malformed request: the body, a parameter or a path value (``field`` names it)",
    "404": "Unknown component, agent, promise, invocation or route",
    "409": "The agent's state forbids this now",
    "413": "Request body too large",
    "422": "The invocation failed (the guest trapped, or the agent failed)",
}


def _document_errors(app: FastAPI) -> None:
    """Document the error shape and statuses the server really answers, instead of
    FastAPI's default 422 validation error (this server answers validation with 400)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorBody"] = ErrorBody.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, sub in components["ErrorBody"].pop("$defs", {}).items():
            components[name] = sub
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status, text in _ERROR_STATUSES.items():
                    if status == "422" and not path.endswith(("invoke-and-await", "}")):
                        continue
                    responses.setdefault(
                        status,
                        {"description": text, "content": {"application/json": {"schema": ref}}},
                    )
                if path.endswith("invoke-and-await") or "/invocations/" in path:
                    responses["202"] = {
                        "description": "Not finished within the timeout: the invocation's "
                        "state, what it waits on, and resultUrl to fetch the result later",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
