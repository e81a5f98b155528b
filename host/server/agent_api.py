"""Golem 1.5's agent API (``POST /v1/agents/invoke-agent``, ``/v1/agents/create-agent``,
shapes of ``openapi/golem-worker-service.yaml`` at v1.5.0), webhooks (``POST
/webhooks/...``, :mod:`host.webhooks`) and the routes agent types mount
(:mod:`host.server.mounts`).

agent-host has no applications or environments: ``appName`` and ``envName`` are accepted;
an ``appName`` that names a registered component selects it, else the agent type is looked
for among every component (409 when more than one has it: give ``appName``).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from host import webhooks
from host.agents import agentconfig
from host.agents.agentid import find_type, kebab, make_agent_id
from host.agents.agenttypes import AgentType
from host.agents.datavalue import data_value_from_json
from host.errors import InvalidInput
from host.ids import AgentId
from host.server.auth import AuthConfig
from host.server.errors import ApiError, error_body
from host.server.mounts import (
    MountMatch,
    MountRouter,
    agent_error,
    allowed_origin,
    mount_call,
    mount_response,
)
from host.server.routes import in_thread, located
from host.server.shapes import invocation_response
from host.service import HostService
from host.service.views import InvocationView
from host.store import ComponentRecord
from host.tracecontext import TraceContext, trace_context


class _Golem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    appName: str | None = None  # noqa: N815
    envName: str | None = None  # noqa: N815
    agentTypeName: str  # noqa: N815
    parameters: Any
    phantomId: uuid.UUID | None = None  # noqa: N815


class AgentInvocationRequest(_Golem):
    methodName: str  # noqa: N815
    methodParameters: Any  # noqa: N815
    mode: Literal["await", "schedule"]
    scheduleAt: str | None = None  # noqa: N815
    idempotencyKey: str | None = None  # noqa: N815
    deploymentRevision: int | None = None  # noqa: N815
    ownerAccountEmail: str | None = None  # noqa: N815


class CreateAgentRequest(_Golem):
    config: list[Any] = []


T = TypeVar("T")
INLINE_RESULT_BYTES = 16 << 10
"""A finished call's result up to this size (its recorded WAVE text) is shaped on the
event loop: a hand-over to a worker thread and back cost the held answer more than the
conversion itself (scripts/trace_resume.py); a larger one is shaped on a thread so the
loop never stalls on it."""


async def _shaped(shape: Callable[[], T], view: InvocationView) -> T:
    if len(view.invocation.result or "") <= INLINE_RESULT_BYTES:
        return shape()
    return await in_thread(shape)


def install_agent_api(app: FastAPI, service: HostService, await_timeout: float) -> None:
    def component_of(app_name: str | None, type_name: str) -> tuple[ComponentRecord, AgentType]:
        records = service.list_components()
        if app_name:
            named = [r for r in records if app_name in (r.name, r.id)]
            if named:
                types = service.registry.agent_types(named[0].hash) or []
                with located(agent_type="body.agentTypeName"):
                    return named[0], find_type(type_name, types)
        found = []
        for record in records:
            for t in service.registry.agent_types(record.hash) or []:
                if type_name in (t.type_name, kebab(t.type_name)):  # 1.4: counter-agent
                    found.append((record, t))
        if not found:
            raise ApiError(
                404, "not_found", f"no registered component has agent type {type_name!r}",
                "body.agentTypeName",
            )  # fmt: skip
        if len(found) > 1:
            names = ", ".join(r.name for r, _ in found)
            raise ApiError(
                409, "conflict",
                f"agent type {type_name} is in several components ({names}): give appName",
                "body.appName",
            )  # fmt: skip
        return found[0]

    def agent_of(body: _Golem) -> tuple[ComponentRecord, AgentType, AgentId]:
        record, agent_type = component_of(body.appName, body.agentTypeName)
        schema = agent_type.constructor.input_schema
        value = data_value_from_json(schema, body.parameters, "body.parameters")
        name = make_agent_id(agent_type, value, body.phantomId)
        return record, agent_type, AgentId(uuid.UUID(record.id), name)

    def agent_json(agent: AgentId) -> dict[str, Any]:
        return {"componentId": str(agent.component_id), "agentId": agent.name}

    @app.post("/v1/agents/create-agent", tags=["agents"])
    def create_agent(body: CreateAgentRequest) -> dict[str, Any]:
        record, agent_type, agent = agent_of(body)
        config = agentconfig.from_json_entries(agent_type, body.config, "body.config")
        service.create_with_config(record.id, agent, config)
        return {"agentId": agent_json(agent), "componentRevision": record.version}

    @app.post("/v1/agents/invoke-agent", tags=["agents"])
    async def invoke_agent(
        body: AgentInvocationRequest,
        idempotency_key: Annotated[str | None, Header()] = None,
        traceparent: Annotated[str | None, Header()] = None,
        tracestate: Annotated[list[str] | None, Header()] = None,
    ) -> Any:
        trace = trace_context(traceparent, tracestate)  # an invalid one is ignored (W3C)
        due_at_ns = None
        if body.scheduleAt is not None:
            if body.mode != "schedule":
                raise ApiError(
                    400, "invalid_request", "scheduleAt needs mode \"schedule\"",
                    "body.scheduleAt",
                )  # fmt: skip
            due_at_ns = _instant_ns(body.scheduleAt)

        def submit() -> tuple[ComponentRecord, AgentId, str | None]:
            record, agent_type, agent = agent_of(body)
            with located(method="body.methodName"):
                method = agent_type.method(body.methodName)
            value = data_value_from_json(
                method.input_schema, body.methodParameters, "body.methodParameters"
            )
            call = service._invoke_call(agent, agent_type, method.name, value)
            key = body.idempotencyKey or idempotency_key
            if due_at_ns is not None:  # queued by the scheduler at that time
                call = service.ephemeral_call(call, key)
                return record, service.schedule_at(call, due_at_ns, key, trace).callee, None
            # An ephemeral type's: a fresh agent. The request's W3C trace context is the
            # invocation's (golem:api/context).
            invocation = service.submit(call, key, trace)
            return record, invocation.agent, invocation.invocation_id

        record, agent, invocation_id = await in_thread(submit)
        out = {"agentId": agent_json(agent), "componentRevision": record.version}
        if body.mode == "schedule" or invocation_id is None:
            return out
        view = await service.wait_async(invocation_id, await_timeout)
        if view.invocation.state != "done":
            return invocation_response(view, record.id, agent.name)
        result = await _shaped(lambda: service.agent_result(view.invocation), view)
        assert result is not None
        if result.error is not None:
            raise agent_error(result.error, result.caller_error)
        return {**out, "result": result.rest}

    # -- webhooks ---------------------------------------------------------------------
    @app.post(webhooks.PREFIX + "{path:path}", tags=["agents"], status_code=204)
    async def webhook(path: str, request: Request) -> Response:
        data = await request.body()

        def complete() -> bool:
            with located(data="body"):
                done = service.complete_webhook(path.rstrip("/").rpartition("/")[2], data)
            return done is not None

        # 204 whether it completed the promise now or it was completed before (Golem's
        # answer too: a provider that retries a delivery is not told it failed).
        if not await in_thread(complete):
            # Golem: a webhook id it did not sign is a webhook that does not exist.
            raise ApiError(404, "not_found", "no such webhook")
        return Response(status_code=204)


def _instant_ns(text: str) -> int:
    """An RFC 3339 date-time (``2026-01-02T03:04:05Z``) as nanoseconds since the epoch."""
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(
            400, "invalid_request",
            f"scheduleAt {text!r} is not a date-time: write e.g. 2026-01-02T03:04:05Z",
            "body.scheduleAt",
        ) from None  # fmt: skip
    if when.tzinfo is None:
        raise ApiError(
            400, "invalid_request",
            f"scheduleAt {text!r} has no time zone: add Z or an offset such as +01:00",
            "body.scheduleAt",
        )  # fmt: skip
    delta = when - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (delta // datetime.timedelta(microseconds=1)) * 1000


def _agent_error(message: str, caller: bool) -> ApiError:
    if caller:
        return ApiError(400, "invalid_input", f"the agent refused the call: {message}")
    return ApiError(500, "agent_error", f"the method failed: {message}")


async def serve_mount(
    service: HostService, router: MountRouter, request: Request, path: str, await_timeout: float
) -> Response | None:
    """Answer a request for an agent type's mounted route; None when no mount has ``path``."""
    method = request.method
    origin = request.headers.get("origin")
    await in_thread(router.refresh)
    if method == "OPTIONS" and request.headers.get("access-control-request-method"):
        return _preflight(router, "/" + path, origin, request)
    match = router.match(method, "/" + path)
    if match is None:
        return None
    allow = allowed_origin(match.route.cors, origin) if match.route.cors else None
    cors = {"access-control-allow-origin": allow, "vary": "Origin"} if allow else {}
    auth: AuthConfig = request.app.state.auth
    if match.route.auth_required and auth.token is None:
        return JSONResponse(
            error_body(
                "unauthorized",
                f"{match.route.path} requires authentication and this server has no token: "
                "start it with --token",
            ),
            401,
            headers=cors,
        )
    body = await request.body()
    query = dict(request.query_params)
    headers = {k.lower(): v for k, v in request.headers.items()}
    content_type = request.headers.get("content-type", "")
    # Golem's custom API reads the W3C trace context of the request too (an invalid one
    # is ignored); every tracestate header, in order.
    trace = trace_context(request.headers.get("traceparent"), request.headers.getlist("tracestate"))
    try:
        response = await _call(
            service, match, query, headers, body, content_type, await_timeout, trace
        )
    except ApiError as exc:
        response = JSONResponse(error_body(exc.code, exc.message, exc.field), exc.status)
    except InvalidInput as exc:
        response = JSONResponse(error_body("invalid_input", str(exc), exc.field), 400)
    response.headers.update(cors)
    return response


async def _call(
    service: HostService,
    match: MountMatch,
    query: dict[str, str],
    headers: dict[str, str],
    body: bytes,
    content_type: str,
    await_timeout: float,
    trace: TraceContext | None = None,
) -> Response:
    route = match.route

    def submit() -> tuple[str, str]:
        call = mount_call(service, match, query, headers, body, content_type)
        invocation = service.submit(call, None, trace)  # an ephemeral type's: a fresh agent
        return invocation.agent.name, invocation.invocation_id

    name, invocation_id = await in_thread(submit)
    view: InvocationView = await service.wait_async(invocation_id, await_timeout)
    if view.invocation.state != "done":
        return invocation_response(view, route.component.id, name)
    status, payload = await in_thread(lambda: mount_response(service, route, view.invocation))
    if status == 204:
        return Response(status_code=204)
    return JSONResponse(payload, status)


def _preflight(router: MountRouter, path: str, origin: str | None, request: Request) -> Response:
    routes = router.at(path)
    if not routes:
        raise ApiError(404, "not_found", f"no agent route matches {path}")
    wanted = request.headers.get("access-control-request-method", "").upper()
    methods = sorted({r.http_method for r in routes})
    patterns = tuple(p for r in routes if r.http_method == wanted for p in r.cors)
    allow = allowed_origin(patterns, origin)
    if allow is None:
        raise ApiError(403, "cors_refused", f"{path} does not allow {wanted} from {origin}")
    headers = {
        "access-control-allow-origin": allow,
        "access-control-allow-methods": ", ".join(methods),
        "access-control-max-age": "600",
        "vary": "Origin",
    }
    requested = request.headers.get("access-control-request-headers")
    if requested:
        headers["access-control-allow-headers"] = requested
    return Response(status_code=204, headers=headers)
