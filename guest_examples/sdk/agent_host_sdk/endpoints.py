"""Declaring an agent's HTTP endpoints with decorators (spec section 5).

    @agent(mount="/workflows/{name}")
    class WitWorld(wit_world.WitWorld):
        @post("/approve")
        def approve(self, by: str | None, comment: str | None) -> str | None: ...

        @get("/items/{item-id}", query=["verbose"], headers={"X-Request-Id": "request-id"})
        def item(self, item_id: int, verbose: bool, request_id: str) -> str | None: ...

``@agent`` collects the routes of the class's methods into an :class:`AgentDefinition`
and, when the world exports ``agent-host:http/endpoints@0.1.0``, puts the ``Endpoints``
class componentize-py looks for into the module that defines the class (unless that
module defines its own). Its ``definition()`` returns the routes to agent-host when the
component is registered; agent-host then serves them: the mount's ``{vars}`` select the
agent, a method's ``{var}`` path segments, query and header bindings fill parameters by
name, the other parameters come from a JSON body.

Names: an exported WIT function ``pending-promise`` is the Python method
``pending_promise``; the decorators turn method and parameter names into WIT names
(``_`` -> ``-``) unless ``function=`` names the WIT function explicitly. Parameter
names in paths and bindings may be written either way. Mistakes (a path variable that
is not a parameter, a mount without a leading ``/``...) raise
:class:`AgentDefinitionError` when the module is imported, that is, at build time.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "AgentDefinition",
    "AgentDefinitionError",
    "MethodEndpoint",
    "agent",
    "definition_of",
    "delete",
    "get",
    "patch",
    "post",
    "put",
    "route",
]

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

_ROUTE_ATTR = "__agent_host_route__"
_DEFINITION_ATTR = "__agent_host_definition__"
_VAR_RE = re.compile(r"\{([^{}]*)\}")
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
METHODS = ("get", "post", "put", "patch", "delete")


class AgentDefinitionError(ValueError):
    """The decorators describe endpoints agent-host would refuse."""


@dataclass(frozen=True)
class MethodEndpoint:
    function: str
    method: str  # one of METHODS
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AgentDefinition:
    agent_type: str
    mount: str
    methods: tuple[MethodEndpoint, ...] = field(default_factory=tuple)

    def to_wit(self, ep: Any) -> Any:
        """The ``agent-definition`` record of the bindings module ``ep``
        (``wit_world.exports.endpoints``)."""
        return ep.AgentDefinition(
            agent_type=self.agent_type,
            mount=self.mount,
            methods=[
                ep.MethodEndpoint(
                    m.function,
                    getattr(ep.HttpMethod, m.method.upper()),
                    m.path,
                    list(m.query),
                    list(m.headers),
                )
                for m in self.methods
            ],
        )


@dataclass(frozen=True)
class _Route:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    function: str | None


def wit_name(python_name: str) -> str:
    """``pending_promise`` -> ``pending-promise``."""
    return python_name.strip("_").replace("_", "-")


def _bindings(
    given: Mapping[str, str] | Iterable[str] | None, what: str
) -> tuple[tuple[str, str], ...]:
    if given is None:
        return ()
    if isinstance(given, str):
        raise AgentDefinitionError(f"{what} bindings must be a mapping or a list of names")
    pairs = given.items() if isinstance(given, Mapping) else ((n, n) for n in given)
    return tuple((str(outer), wit_name(str(param))) for outer, param in pairs)


def route(
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | Iterable[str] | None = None,
    headers: Mapping[str, str] | Iterable[str] | None = None,
    function: str | None = None,
) -> Callable[[F], F]:
    """Serve the decorated method at ``METHOD <mount><path>``.

    ``query`` / ``headers``: ``{"query-or-header-name": "parameter"}`` (or a list of
    names that are both); ``function``: the WIT function name, if it is not the method
    name with ``_`` turned into ``-``."""
    verb = method.lower()
    if verb not in METHODS:
        raise AgentDefinitionError(f"unknown HTTP method {method!r}: use one of {METHODS}")
    spec = _Route(verb, path, _bindings(query, "query"), _bindings(headers, "header"), function)

    def mark(func: F) -> F:
        if hasattr(func, _ROUTE_ATTR):
            raise AgentDefinitionError(f"{func.__name__} has two routes; one per method")
        setattr(func, _ROUTE_ATTR, spec)
        return func

    return mark


def _verb(method: str) -> Callable[..., Callable[[F], F]]:
    def decorator(
        path: str = "",
        *,
        query: Mapping[str, str] | Iterable[str] | None = None,
        headers: Mapping[str, str] | Iterable[str] | None = None,
        function: str | None = None,
    ) -> Callable[[F], F]:
        return route(method, path, query=query, headers=headers, function=function)

    decorator.__name__ = method
    decorator.__doc__ = f"Serve the decorated method at ``{method.upper()} <mount><path>``."
    return decorator


get = _verb("get")
post = _verb("post")
put = _verb("put")
patch = _verb("patch")
delete = _verb("delete")


def agent(mount: str, *, agent_type: str | None = None) -> Callable[[C], C]:
    """Declare the class (componentize-py's ``WitWorld``) an agent type mounted at
    ``mount``, e.g. ``/workflows/{name}``: its ``{vars}`` name the agent. The routes are
    the class's methods decorated with :func:`get`, :func:`post`, :func:`put`,
    :func:`patch`, :func:`delete` (or :func:`route`). ``agent_type`` defaults to the
    mount's first fixed segment."""

    def declare(cls: C) -> C:
        definition = _build(cls, mount, agent_type)
        setattr(cls, _DEFINITION_ATTR, definition)
        _install_endpoints(cls, definition)
        return cls

    return declare


def definition_of(cls: type) -> AgentDefinition:
    """The definition ``@agent`` made for a class."""
    found = getattr(cls, _DEFINITION_ATTR, None)
    if not isinstance(found, AgentDefinition):
        raise AgentDefinitionError(f"{cls.__name__} is not decorated with @agent(mount=...)")
    return found


def _path_vars(path: str) -> list[str]:
    return _VAR_RE.findall(path)


def _check_path(path: str, what: str, *, allow_empty: bool) -> None:
    if path == "" and allow_empty:
        return
    if not path.startswith("/") or (path != "/" and path.endswith("/")):
        raise AgentDefinitionError(f"{what} {path!r} must start with '/' and not end with one")
    if "//" in path or path.count("{") != path.count("}"):
        raise AgentDefinitionError(f"{what} {path!r} is not a valid path")
    for var in _path_vars(path):
        if not _NAME_RE.match(var):
            raise AgentDefinitionError(
                f"{what} {path!r}: {{{var}}} is not a WIT name (lower-case words joined by '-')"
            )


def _build(cls: type, mount: str, agent_type: str | None) -> AgentDefinition:
    _check_path(mount, "mount", allow_empty=False)
    mount_vars = _path_vars(mount)
    if not mount_vars:
        raise AgentDefinitionError(
            f"mount {mount!r} has no {{var}}: one is needed to select the agent"
        )
    if agent_type is None:
        fixed = [s for s in mount.split("/") if s and "{" not in s]
        agent_type = fixed[0] if fixed else mount_vars[0]
    methods: list[MethodEndpoint] = []
    seen: dict[tuple[str, str], str] = {}
    for attr, func in inspect.getmembers(cls, callable):
        spec = getattr(func, _ROUTE_ATTR, None)
        if not isinstance(spec, _Route):
            continue
        function = spec.function or wit_name(attr)
        where = f"{cls.__name__}.{attr} ({spec.method.upper()} {spec.path or '/'})"
        _check_path(spec.path, f"{where}: path", allow_empty=True)
        params = _params(func)
        for var in _path_vars(spec.path):
            if var in mount_vars:
                raise AgentDefinitionError(
                    f"{where}: {{{var}}} is already a mount variable (it selects the agent)"
                )
            if var not in params:
                raise AgentDefinitionError(
                    f"{where}: path variable {{{var}}} is not a parameter; parameters: "
                    + (", ".join(params) or "none")
                )
        for kind, pairs in (("query", spec.query), ("header", spec.headers)):
            for outer, param in pairs:
                if param not in params:
                    raise AgentDefinitionError(
                        f"{where}: {kind} {outer!r} binds to {param!r}, which is not a "
                        "parameter; parameters: " + (", ".join(params) or "none")
                    )
        key = (spec.method, _shape(spec.path))
        if key in seen:
            raise AgentDefinitionError(f"{where}: the same route as {seen[key]}")
        seen[key] = where
        methods.append(MethodEndpoint(function, spec.method, spec.path, spec.query, spec.headers))
    methods.sort(key=lambda m: (m.path, METHODS.index(m.method)))
    return AgentDefinition(agent_type, mount, tuple(methods))


def _shape(path: str) -> str:
    return _VAR_RE.sub("{}", path)


def _params(func: Callable[..., Any]) -> list[str]:
    names = list(inspect.signature(func).parameters)
    if names and names[0] == "self":
        names = names[1:]
    return [wit_name(n) for n in names]


def _install_endpoints(cls: type, definition: AgentDefinition) -> None:
    """Give the class's module the ``Endpoints`` export class, if the world exports
    agent-host:http/endpoints and the module does not define its own."""
    module = sys.modules.get(cls.__module__)
    if module is None or "Endpoints" in vars(module):
        return
    try:
        from wit_world import exports  # type: ignore[import-not-found, unused-ignore]
        from wit_world.exports import (  # type: ignore[import-not-found, unused-ignore]
            endpoints as ep,
        )
    except ImportError:
        return  # not a component build, or a world without the endpoints export
    base = getattr(exports, "Endpoints", None)
    if base is None:
        return

    class Endpoints(base):  # type: ignore[misc, valid-type]
        """agent-host:http/endpoints, as declared with @agent and the route decorators."""

        def definition(self) -> Any:
            return definition.to_wit(ep)

    Endpoints.__module__ = module.__name__
    module.Endpoints = Endpoints  # type: ignore[attr-defined]
