"""Agent-declared HTTP endpoints (spec section 5).

A component that exports ``agent-host:http/endpoints@0.1.0`` declares its agent
type, a mount path whose ``{vars}`` select the agent, and per-function HTTP routes.
The router reads every registered component's definition once, matches requests,
binds path, query, header and JSON-body values to the function's parameters by
name, and maps the result: no value -> 204, ``option`` none -> 404, ``result`` err
-> 500 with the error as JSON, anything else -> 200 with JSON.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from host.errors import HostError, InvalidComponent, InvalidInput
from host.ids import check_agent_name
from host.runtime.registry import Export
from host.server.errors import ApiError
from host.service import HostService
from host.store import ComponentRecord
from host.values import OptionT, ResultT, ValuesError, from_json, parse_value
from host.values.convert import value_from_text

INTERFACE = "agent-host:http/endpoints@0.1.0"
DEFINITION = f"{INTERFACE}.{{definition}}"


@dataclass(frozen=True)
class Route:
    component: ComponentRecord
    agent_type: str
    method: str  # GET, POST, ...
    mount: tuple[str, ...]  # segments; "{var}" for a variable
    path: tuple[str, ...]
    export: Export
    query: tuple[tuple[str, str], ...]  # (query name, parameter)
    headers: tuple[tuple[str, str], ...]  # (lower-case header name, parameter)

    @property
    def mount_vars(self) -> list[str]:
        return [s[1:-1] for s in self.mount if _is_var(s)]


@dataclass(frozen=True)
class Match:
    route: Route
    agent_name: str
    path_vars: dict[str, str]


def _is_var(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}") and len(segment) > 2


def _segments(path: str) -> tuple[str, ...]:
    return tuple(s for s in path.split("/") if s)


class EndpointRouter:
    def __init__(self, service: HostService) -> None:
        self.service = service
        self._routes: list[Route] = []
        self._seen: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self.problems: dict[str, str] = {}  # component id -> why its definition was refused

    def refresh(self) -> None:
        """Read the definitions of components registered since the last refresh."""
        records = self.service.list_components()
        key = frozenset(f"{r.id}:{r.hash}" for r in records)
        if key == self._seen:
            return
        with self._lock:
            routes = []
            for record in records:
                try:
                    routes.extend(self._load(record))
                    self.problems.pop(record.id, None)
                except HostError as exc:
                    self.problems[record.id] = str(exc)
            self._routes = routes
            self._seen = key

    def _load(self, record: ComponentRecord) -> list[Route]:
        exports = self.service.exports(record.hash)
        if DEFINITION not in exports:
            return []
        definition = self.service.call_scratch(record, DEFINITION)
        mount = _segments(definition["mount"])
        routes = []
        for method in definition["methods"]:
            export = self.service.resolve_export(record.hash, method["function"])
            params = {name for name, _ in export.sig.params}
            path = _segments(method["path"])
            for var in [s[1:-1] for s in path if _is_var(s)]:
                if var not in params:
                    raise InvalidComponent(
                        f"endpoint {method['path']} binds {{{var}}}, which is not a parameter "
                        f"of {export.name}"
                    )
            routes.append(
                Route(
                    component=record,
                    agent_type=definition["agent-type"],
                    method=method["method"].upper(),
                    mount=mount,
                    path=path,
                    export=export,
                    query=tuple((q, p) for q, p in method["query"]),
                    headers=tuple((h.lower(), p) for h, p in method["headers"]),
                )
            )
        return routes

    def match(self, method: str, path: str) -> Match:
        segments = _segments(path)
        allowed = set()
        for route in self._routes:
            full = route.mount + route.path
            if len(full) != len(segments):
                continue
            bound: dict[str, str] = {}
            for pattern, actual in zip(full, segments, strict=True):
                if _is_var(pattern):
                    bound[pattern[1:-1]] = actual
                elif pattern != actual:
                    break
            else:
                if route.method != method:
                    allowed.add(route.method)
                    continue
                names = [bound[v] for v in route.mount_vars]
                try:
                    agent = check_agent_name("~".join(names) if names else route.agent_type)
                except HostError as exc:
                    raise ApiError(400, "invalid_input", str(exc)) from None
                path_vars = {k: v for k, v in bound.items() if k not in route.mount_vars}
                return Match(route, agent, path_vars)
        if allowed:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{path} accepts {', '.join(sorted(allowed))}, not {method}",
            )
        raise ApiError(404, "not_found", f"no endpoint or agent route matches {path}")


def _from_text(text: str, ty: Any, where: str) -> Any:
    try:
        return value_from_text(text, ty, where)
    except InvalidInput as exc:
        raise ApiError(400, "invalid_params", str(exc), where) from None


def bind(match: Match, query: dict[str, str], headers: dict[str, str], body: bytes) -> list[Any]:
    """The function's arguments from the request, by parameter name."""
    route = match.route
    sources: dict[str, tuple[str, str]] = {}
    for name, value in match.path_vars.items():
        sources[name] = (value, f"path.{name}")
    for qname, pname in route.query:
        if qname in query:
            sources[pname] = (query[qname], f"query.{qname}")
    for hname, pname in route.headers:
        if hname in headers:
            sources[pname] = (headers[hname], f"header.{hname}")
    remaining = [(n, t) for n, t in route.export.sig.params if n not in sources]
    fields: dict[str, Any] = {}
    if remaining and body.strip():
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, "invalid_request", f"body is not JSON: {exc}", "body") from None
        if not isinstance(parsed, dict):
            raise ApiError(
                400, "invalid_request", "body must be a JSON object keyed by parameter name", "body"
            )
        fields = parsed
        unknown = sorted(set(fields) - {n for n, _ in remaining})
        if unknown:
            raise ApiError(
                400,
                "invalid_request",
                f"body has fields {unknown} that are not parameters of {route.export.name}",
                f"body.{unknown[0]}",
            )
    values = []
    for name, ty in route.export.sig.params:
        if name in sources:
            text, where = sources[name]
            values.append(_from_text(text, ty, where))
        elif name in fields:
            try:
                values.append(from_json(fields[name], ty, f"$.{name}"))
            except ValuesError as exc:
                raise ApiError(400, "invalid_params", str(exc), f"body.{name}") from None
        elif isinstance(ty, OptionT):
            values.append(None)
        else:
            raise ApiError(
                400,
                "invalid_params",
                f"missing parameter {name} (path, query, header or body field)",
                f"body.{name}",
            )
    return values


def result_response(export: Export, result_text: str | None) -> tuple[int, Any]:
    """(status, JSON body or None) for a finished invocation, by the result's type."""
    from host.values import Case, Some, to_json

    ty = export.sig.result
    if ty is None or result_text is None:
        return 204, None
    value = parse_value(result_text, ty)
    if isinstance(ty, OptionT):
        if value is None:
            return 404, {"error": {"code": "not_found", "message": f"{export.name} returned none"}}
        assert isinstance(value, Some)
        return 200, to_json(value.value, ty.payload)
    if isinstance(ty, ResultT):
        assert isinstance(value, Case)
        if value.name == "err":
            return 500, None if ty.err is None else to_json(value.value, ty.err)
        return (204, None) if ty.ok is None else (200, to_json(value.value, ty.ok))
    return 200, to_json(value, ty)
