"""The routes of Golem agent types: each type's ``http-mount`` + each method's
``http-endpoint``\\ s (Golem 1.5's code-first HTTP API; issue 12 item 5).

A request matching ``<mount path-prefix>/<endpoint path-suffix>`` calls the method on the
agent whose constructor parameters are the mount's path variables (a phantom agent, fresh
per request, for ``phantom-agent`` types). The method's parameters come, by name, from the
endpoint's path variables, its query and header variables, and the rest from the body: a
JSON object keyed by parameter name, or, when one unstructured text or binary parameter is
left, the raw body (text; or bytes typed by ``Content-Type``). A ``{*rest}`` variable takes
the remaining path. Results: no output element 204; an ``option`` none 404; a ``result``
err 500 with the error as JSON; anything else 200 with JSON. An agent-error from the
method is 500 (400 for invalid-input/invalid-method ones).

Routes are rebuilt whenever the set of registered components changes; a mount that does
not bind every constructor parameter, or two routes with the same method and path shape,
are reported in :attr:`MountRouter.problems` (``GET /v1/endpoints``) and not served.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from host.agents.agentid import make_agent_id
from host.agents.agenttypes import (
    AgentMethod,
    AgentType,
    ComponentModel,
    HttpEndpoint,
    PathSegment,
    UnstructuredBinary,
    UnstructuredText,
    render_path,
)
from host.agents.datavalue import data_value_from_json, element_from_json
from host.agents.wittype import value_from_wit_value, wit_value_from_value
from host.errors import HostError, InvalidInput
from host.ids import AgentId
from host.server.errors import ApiError
from host.service import Call, HostService
from host.store import ComponentRecord, InvocationRecord
from host.values import Case, OptionT, ResultT, Some, to_json
from host.values.convert import value_from_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MountRoute:
    component: ComponentRecord
    agent_type: AgentType
    method: AgentMethod
    endpoint: HttpEndpoint
    segments: tuple[PathSegment, ...]  # mount prefix + endpoint suffix

    @property
    def http_method(self) -> str:
        return self.endpoint.method.upper()

    @property
    def path(self) -> str:
        return render_path(self.segments)

    @property
    def cors(self) -> tuple[str, ...]:
        mount = self.agent_type.http_mount
        return (mount.cors_allowed if mount else ()) + self.endpoint.cors_allowed

    @property
    def auth_required(self) -> bool:
        mount = self.agent_type.http_mount
        if self.endpoint.auth_required is not None:
            return self.endpoint.auth_required
        return bool(mount and mount.auth_required)


@dataclass(frozen=True)
class MountMatch:
    route: MountRoute
    vars: dict[str, str]  # every path variable, mount and suffix


def _shape(route: MountRoute) -> tuple[str, tuple[str, ...]]:
    def seg(s: PathSegment) -> str:
        if s.kind == "literal":
            return s.value
        if s.kind == "system-variable" and s.value == "agent-type":
            return route.agent_type.type_name
        return "{*}" if s.kind == "remaining-path-variable" else "{}"

    return route.http_method, tuple(seg(s) for s in route.segments)


def _match(route: MountRoute, parts: list[str]) -> dict[str, str] | None:
    bound: dict[str, str] = {}
    for i, seg in enumerate(route.segments):
        if seg.kind == "remaining-path-variable":
            bound[seg.value] = "/".join(parts[i:])
            return bound
        if i >= len(parts):
            return None
        if seg.kind == "path-variable":
            bound[seg.value] = parts[i]
        elif seg.kind == "system-variable":
            if seg.value == "agent-type" and parts[i] != route.agent_type.type_name:
                return None
        elif seg.value != parts[i]:
            return None
    return bound if len(parts) == len(route.segments) else None


class MountRouter:
    def __init__(self, service: HostService) -> None:
        self.service = service
        self.routes: list[MountRoute] = []
        self.problems: dict[str, str] = {}  # "component/AgentType" -> why it is not served
        self._seen: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def refresh(self) -> None:
        records = self.service.list_components()
        key = frozenset(f"{r.id}:{r.hash}" for r in records)
        if key == self._seen:
            return
        with self._lock:
            routes: list[MountRoute] = []
            problems: dict[str, str] = {}
            taken: dict[tuple[str, tuple[str, ...]], MountRoute] = {}
            for record in sorted(records, key=lambda r: r.name):
                try:
                    types = self.service.registry.agent_types(record.hash) or []
                except HostError as exc:
                    problems[record.name] = str(exc)
                    continue
                for agent_type in types:
                    where = f"{record.name}/{agent_type.type_name}"
                    try:
                        for route in self._load(record, agent_type):
                            other = taken.get(_shape(route))
                            if other is not None:
                                raise InvalidInput(
                                    f"{route.http_method} {route.path} ({agent_type.type_name}."
                                    f"{route.method.name}) collides with {other.path} of "
                                    f"{other.component.name}/{other.agent_type.type_name}."
                                    f"{other.method.name}: give one of them another mount"
                                )
                            taken[_shape(route)] = route
                            routes.append(route)
                    except HostError as exc:
                        problems[where] = str(exc)
                        log.warning("agent routes of %s are not served: %s", where, exc)
            self.routes, self.problems, self._seen = routes, problems, key

    def _load(self, record: ComponentRecord, agent_type: AgentType) -> list[MountRoute]:
        mount = agent_type.http_mount
        if mount is None:
            return []
        bound = {s.value for s in mount.path_prefix if s.kind == "path-variable"}
        missing = [n for n in agent_type.constructor.input_schema.names if n not in bound]
        if missing:
            prefix = render_path(mount.path_prefix)
            fix = prefix.rstrip("/") + "".join(f"/{{{n}}}" for n in missing)
            raise InvalidInput(
                f"the mount {prefix} of {agent_type.type_name} does not bind its constructor "
                f"parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                f'write mount = "{fix}"'
            )
        out = []
        for method in agent_type.methods:
            for endpoint in method.http_endpoints:
                out.append(
                    MountRoute(
                        record,
                        agent_type,
                        method,
                        endpoint,
                        mount.path_prefix + endpoint.path_suffix,
                    )
                )
        return out

    def match(self, method: str, path: str) -> MountMatch | None:
        """The route for the request; None when no route has this path (ApiError 405 when
        one has it for other methods)."""
        parts = [p for p in path.split("/") if p]
        allowed = set()
        for route in self.routes:
            bound = _match(route, parts)
            if bound is None:
                continue
            if route.http_method == method or (method == "HEAD" and route.http_method == "GET"):
                return MountMatch(route, bound)
            allowed.add(route.http_method)
        if allowed:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{path} accepts {', '.join(sorted(allowed))}, not {method}",
            )
        return None

    def at(self, path: str) -> list[MountRoute]:
        parts = [p for p in path.split("/") if p]
        return [r for r in self.routes if _match(r, parts) is not None]


# -- CORS ---------------------------------------------------------------------------------
def allowed_origin(patterns: tuple[str, ...], origin: str | None) -> str | None:
    """The Access-Control-Allow-Origin for ``origin`` under ``patterns`` (None: not allowed)."""
    if origin is None:
        return "*" if "*" in patterns else None
    for p in patterns:
        if p == "*":
            return "*"
        if p == origin or fnmatch.fnmatchcase(origin, p):
            return origin
    return None


# -- binding ------------------------------------------------------------------------------
def _element_from_text(el: Any, text: str, field: str, name: str) -> Any:
    if isinstance(el, ComponentModel):
        try:
            value = value_from_text(text, el.wit_type, field)
        except InvalidInput as exc:
            raise InvalidInput(str(exc), field=field) from None
        return Case("component-model", wit_value_from_value(value, el.wit_type))
    return element_from_json(
        el, text if isinstance(el, UnstructuredText) else {"url": text}, field, name
    )


def agent_name(match: MountMatch) -> str:
    """The agent id the request addresses (a fresh phantom for phantom-agent types)."""
    agent_type = match.route.agent_type
    schema = agent_type.constructor.input_schema
    elements = []
    for name, el in schema.elements:
        if name not in match.vars:  # a phantom type's unbound parameter: checked at load
            raise InvalidInput(f"the mount binds no {name}", field=f"path.{name}")
        elements.append(_element_from_text(el, match.vars[name], f"path.{name}", name))
    mount = agent_type.http_mount
    phantom = uuid.uuid4() if mount is not None and mount.phantom_agent else None
    return make_agent_id(agent_type, Case("tuple", elements), phantom)


def method_input(
    match: MountMatch,
    query: dict[str, str],
    headers: dict[str, str],
    body: bytes,
    content_type: str,
) -> Any:
    """The method's input data-value from the request."""
    route = match.route
    schema = route.method.input_schema
    ctor = set(route.agent_type.constructor.input_schema.names)
    texts: dict[str, tuple[str, str]] = {}
    for seg in route.endpoint.path_suffix:
        if seg.kind in ("path-variable", "remaining-path-variable") and seg.value in match.vars:
            texts[seg.value] = (match.vars[seg.value], f"path.{seg.value}")
    for name, value in match.vars.items():
        if name not in ctor and name not in texts:
            texts[name] = (value, f"path.{name}")
    for qname, var in route.endpoint.query_vars:
        if qname in query:
            texts[var] = (query[qname], f"query.{qname}")
    for hname, var in route.endpoint.header_vars:
        if hname.lower() in headers:
            texts[var] = (headers[hname.lower()], f"header.{hname.lower()}")
    if schema.kind == "multimodal":
        return data_value_from_json(schema, _json_body(body) if body.strip() else {}, "body")
    rest = [(n, el) for n, el in schema.elements if n not in texts]
    raw: tuple[str, Any] | None = None
    if len(rest) == 1 and not isinstance(rest[0][1], ComponentModel):
        name, el = rest[0]
        if isinstance(el, UnstructuredBinary):
            mime = content_type.split(";")[0].strip() or "application/octet-stream"
            raw = (name, {"data": base64.b64encode(body).decode(), "mimeType": mime})
        else:
            try:
                raw = (name, {"data": body.decode()})
            except UnicodeDecodeError:
                raise InvalidInput("the body is not UTF-8 text", field="body") from None
    fields: dict[str, Any] = {}
    if raw is None and rest and body.strip():
        parsed = _json_body(body)
        if not isinstance(parsed, dict):
            raise InvalidInput(
                "the body must be a JSON object keyed by parameter name", field="body"
            )
        unknown = sorted(set(parsed) - {n for n, _ in rest})
        if unknown:
            raise InvalidInput(
                f"the body has {unknown[0]!r}, which is not a body parameter of "
                f"{route.method.name} ({', '.join(n for n, _ in rest) or 'none'})",
                field=f"body.{unknown[0]}",
            )
        fields = parsed
    elements = []
    for name, el in schema.elements:
        if name in texts:
            text, where = texts[name]
            elements.append(_element_from_text(el, text, where, name))
        elif raw is not None and raw[0] == name:
            elements.append(element_from_json(el, raw[1], "body", name))
        elif name in fields:
            elements.append(element_from_json(el, fields[name], f"body.{name}", name))
        elif isinstance(el, ComponentModel) and isinstance(el.wit_type, OptionT):
            elements.append(Case("component-model", wit_value_from_value(None, el.wit_type)))
        else:
            raise InvalidInput(
                f"missing parameter {name} (a path, query or header variable or a body field)",
                field=f"body.{name}",
            )
    return Case("tuple", elements)


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}", field="body") from None


def result_status(method: AgentMethod, value: Any, json_value: Any) -> tuple[int, Any]:
    """(status, JSON body or None) for a method's output data-value."""
    schema = method.output_schema
    if not schema.elements:
        return 204, None
    if schema.kind == "tuple" and len(schema.elements) == 1:
        (_, el), (ev,) = schema.elements[0], value.value
        if isinstance(el, ComponentModel) and isinstance(ev, Case):
            ty = el.wit_type
            v = value_from_wit_value(ev.value, ty)
            if isinstance(ty, OptionT):
                if v is None:
                    return 404, {
                        "error": {"code": "not_found", "message": f"{method.name} returned none"}
                    }
                assert isinstance(v, Some)
                return 200, to_json(v.value, ty.payload)
            if isinstance(ty, ResultT):
                assert isinstance(v, Case)
                if v.name == "err":
                    return 500, None if ty.err is None else to_json(v.value, ty.err)
                return (204, None) if ty.ok is None else (200, to_json(v.value, ty.ok))
    return 200, json_value


# -- one request ----------------------------------------------------------------------------
def mount_call(
    service: HostService,
    match: MountMatch,
    query: dict[str, str],
    headers: dict[str, str],
    body: bytes,
    content_type: str,
) -> Call:
    """The call a request for a matched route makes: on the agent its mount variables
    name (:func:`agent_name`), with the method's input bound from the request
    (:func:`method_input`). ``headers`` have lower-case names."""
    route = match.route
    agent = AgentId(uuid.UUID(route.component.id), agent_name(match))
    value = method_input(match, query, headers, body, content_type)
    return service._invoke_call(agent, route.agent_type, route.method.name, value)


def agent_error(message: str, caller: bool) -> ApiError:
    """A method's agent-error as an answer: 400 for the caller's mistakes
    (invalid-input, invalid-method), else 500."""
    if caller:
        return ApiError(400, "invalid_input", f"the agent refused the call: {message}")
    return ApiError(500, "agent_error", f"the method failed: {message}")


def mount_response(
    service: HostService, route: MountRoute, invocation: InvocationRecord
) -> tuple[int, Any]:
    """(status, JSON body or None) for a finished call of a route's method
    (:func:`result_status`); ApiError for an agent-error (:func:`agent_error`)."""
    result = service.agent_result(invocation)
    if result is None:
        raise ApiError(500, "agent_error", f"{route.method.name} answered no result")
    if result.error is not None:
        raise agent_error(result.error, result.caller_error)
    return result_status(route.method, result.value, result.json)
