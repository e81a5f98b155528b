"""``@agent`` and ``@endpoint``: a Python class as a Golem agent type (no bindings needed).

The class name is the agent type's name (``WorkflowAgent``), ``__init__``'s parameters are
the constructor's, every public method (sync or ``async def``) is an agent method with
its name as written (``start_approval``), docstrings are descriptions, and the type hints
become the data-schemas (:mod:`agent_sdk.wit`). Everything is checked when the module
loads, i.e. when componentize-py builds the component: a hint with no WIT form, an
endpoint variable that is no parameter, or a mount that does not bind every constructor
parameter is an :class:`AgentDefinitionError` naming it.

The definitions are neutral Python data shaped like ``golem:agent/common@1.5.0``'s
``agent-type`` (records as dicts with the bindings' field names, variants as ``(case,
payload)``); :mod:`agent_sdk._convert` turns them into binding objects.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from .wit import EnumOf, Prim, Shape, UnsupportedType, ValueMismatch, shape_of

__all__ = [
    "AgentDefinitionError",
    "AgentType",
    "InputError",
    "Method",
    "Principal",
    "agent",
    "agent_types",
    "definition_of",
    "endpoint",
]

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

HTTP_METHODS = ("get", "head", "post", "put", "delete", "connect", "options", "trace", "patch")
RETURN_NAME = "return_value"  # golem-rust's name for a method's output element


class AgentDefinitionError(TypeError):
    """An agent class that cannot be described to Golem; raised when its module loads."""


class InputError(ValueError):
    """An input data-value that does not fit the schema (agent-error ``invalid-input``)."""


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who called (``golem:agent/common`` ``principal``): ``kind`` is ``anonymous``,
    ``agent`` (``detail`` the calling agent's id text), ``oidc`` (``detail`` the subject)
    or ``golem-user`` (``detail`` the account uuid). A parameter annotated ``Principal``
    receives it and is not part of the schema (golem-rust's auto-injected principal)."""

    kind: str = "anonymous"
    detail: str | None = None


ANONYMOUS = Principal()


@dataclasses.dataclass(frozen=True)
class Param:
    name: str
    shape: Shape | None  # None: the auto-injected Principal


@dataclasses.dataclass
class Method:
    """One agent method (or the constructor, named ``__init__``)."""

    name: str
    func: Callable[..., Any]
    params: list[Param]
    output: Shape | None  # None: returns nothing (an empty output tuple)
    description: str
    endpoints: list[dict[str, Any]]
    is_async: bool

    def input_schema(self) -> tuple[str, Any]:
        return _schema([(p.name, p.shape) for p in self.params if p.shape is not None])

    def output_schema(self) -> tuple[str, Any]:
        return _schema([] if self.output is None else [(RETURN_NAME, self.output)])

    def decode_input(self, data: tuple[str, Any], principal: Principal) -> dict[str, Any]:
        """Keyword arguments from a neutral data-value; InputError names the parameter."""
        case, elements = data
        wanted = [p for p in self.params if p.shape is not None]
        names = ", ".join(p.name for p in wanted) or "none"
        if case != "tuple":
            raise InputError(f"{self.name} takes a tuple data-value (parameters: {names})")
        if len(elements) != len(wanted):
            raise InputError(
                f"{self.name} takes {len(wanted)} parameter(s) ({names}), got {len(elements)}"
            )
        args: dict[str, Any] = {}
        given = iter(elements)
        for p in self.params:
            if p.shape is None:
                args[p.name] = principal
                continue
            kind, value = next(given)
            if kind != "component-model":
                raise InputError(f"parameter '{p.name}': expected a component-model value")
            try:
                args[p.name] = p.shape.decode(value["nodes"])
            except ValueMismatch as exc:
                raise InputError(f"parameter '{p.name}': {exc}") from None
        return args

    def encode_output(self, value: Any) -> tuple[str, Any]:
        """The neutral data-value of a return value; ValueMismatch if it does not fit."""
        if self.output is None:
            return ("tuple", [])
        nodes = self.output.encode(value)
        return ("tuple", [("component-model", {"nodes": nodes})])


def _schema(elements: list[tuple[str, Shape | None]]) -> tuple[str, Any]:
    return (
        "tuple",
        [(n, ("component-model", {"nodes": s.wit_type()})) for n, s in elements if s],
    )


@dataclasses.dataclass
class AgentType:
    """What ``@agent`` records about a class."""

    cls: type
    name: str
    description: str
    constructor: Method
    methods: dict[str, Method]
    mode: str
    mount: dict[str, Any] | None
    remote: bool
    config: tuple[tuple[str, Shape], ...] = ()
    snapshotting: tuple[str, Any] = ("disabled", None)

    def definition(self) -> dict[str, Any]:
        """The ``agent-type`` record, as neutral data."""
        ctor = self.constructor
        return {
            "type_name": self.name,
            "description": self.description,
            "source_language": "python",
            "constructor": {
                "name": None,
                "description": ctor.description,
                "prompt_hint": None,
                "input_schema": ctor.input_schema(),
            },
            "methods": [
                {
                    "name": m.name,
                    "description": m.description,
                    "http_endpoint": m.endpoints,
                    "prompt_hint": None,
                    "input_schema": m.input_schema(),
                    "output_schema": m.output_schema(),
                }
                for m in self.methods.values()
            ],
            "dependencies": [],
            "mode": self.mode,
            "http_mount": self.mount,
            "snapshotting": self.snapshotting,
            "config": [
                {
                    "source": "local",
                    "path": key.split("."),
                    "value_type": {"nodes": shape.wit_type()},
                }
                for key, shape in self.config
            ],
        }


_REGISTRY: dict[str, AgentType] = {}


def agent_types() -> list[AgentType]:
    """The agent types this component implements (``remote=True`` ones excluded)."""
    return [t for t in _REGISTRY.values() if not t.remote]


def definition_of(cls: type) -> AgentType:
    found = getattr(cls, "__agent_type__", None)
    if not isinstance(found, AgentType):
        raise TypeError(f"{getattr(cls, '__name__', cls)!r} is not an @agent class")
    return found


# -- paths -----------------------------------------------------------------------------
def parse_path(path: str, what: str) -> list[tuple[str, Any]]:
    """``/a/{b}/{*rest}`` as ``path-segment`` variants (golem-rust's rules)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise AgentDefinitionError(f"{what} {path!r} must start with '/'")
    if path == "/":
        return []
    segments = path.split("/")[1:]
    out: list[tuple[str, Any]] = []
    for n, seg in enumerate(segments):
        if not seg:
            raise AgentDefinitionError(f"{what} {path!r}: empty path segment")
        if seg != seg.strip():
            raise AgentDefinitionError(f"{what} {path!r}: whitespace in a path segment")
        if seg.startswith("{") and seg.endswith("}"):
            var = seg[1:-1]
            if var.startswith("*"):
                if n != len(segments) - 1 or not var[1:]:
                    raise AgentDefinitionError(
                        f"{what} {path!r}: {seg} must be the last segment and named"
                    )
                out.append(("remaining-path-variable", {"variable_name": var[1:]}))
            elif var in ("agent-type", "agent-version"):
                out.append(("system-variable", var))
            elif var:
                out.append(("path-variable", {"variable_name": var}))
            else:
                raise AgentDefinitionError(f"{what} {path!r}: empty variable name")
        elif "{" in seg or "}" in seg:
            raise AgentDefinitionError(
                f"{what} {path!r}: segment {seg!r} must be a whole variable like {{id}}"
            )
        else:
            out.append(("literal", seg))
    return out


def _parse_query(query: str, what: str) -> list[dict[str, str]]:
    out = []
    for pair in query.split("&") if query else []:
        key, _, value = pair.partition("=")
        if not key or not (value.startswith("{") and value.endswith("}")) or len(value) < 3:
            raise AgentDefinitionError(
                f"{what}: query part {pair!r} must be name={{variable}}, e.g. ?limit={{limit}}"
            )
        out.append({"query_param_name": key, "variable_name": value[1:-1]})
    return out


def _vars(segments: list[tuple[str, Any]]) -> list[str]:
    return [
        p["variable_name"] for c, p in segments if c in ("path-variable", "remaining-path-variable")
    ]


# -- decorators --------------------------------------------------------------------------
def endpoint(
    *,
    get: str | None = None,
    head: str | None = None,
    post: str | None = None,
    put: str | None = None,
    delete: str | None = None,
    patch: str | None = None,
    options: str | None = None,
    headers: dict[str, str] | None = None,
    auth: bool | None = None,
    cors: list[str] | None = None,
) -> Callable[[F], F]:
    """Serve the method at ``<mount><path>`` for one HTTP method, e.g.
    ``@endpoint(post="/approve")`` or ``@endpoint(get="/items/{id}?verbose={verbose}",
    headers={"X-Request-Id": "request_id"})``. ``{var}`` in the path and query and the
    header map's values name the method's parameters; the others come from the JSON body.
    Stack several to serve one method at several routes."""
    given = {
        "get": get, "head": head, "post": post, "put": put,
        "delete": delete, "patch": patch, "options": options,
    }  # fmt: skip
    chosen = [(m, p) for m, p in given.items() if p is not None]
    if len(chosen) != 1:
        raise AgentDefinitionError(
            "@endpoint takes exactly one of get=, post=, put=, delete=, patch=, head=, "
            f"options= (a path), got {len(chosen)}"
        )
    method, full = chosen[0]
    path, _, query = full.partition("?")
    what = f"@endpoint({method}={full!r})"
    details = {
        "http_method": (method, None),
        "path_suffix": parse_path(path, what),
        "header_vars": [{"header_name": h, "variable_name": v} for h, v in (headers or {}).items()],
        "query_vars": _parse_query(query, what),
        "auth_details": None if auth is None else {"required": auth},
        "cors_options": {"allowed_patterns": list(cors or [])},
    }

    def mark(func: F) -> F:
        func.__dict__.setdefault("__agent_endpoints__", []).insert(0, details)
        return func

    return mark


def agent(
    cls: C | None = None,
    *,
    mount: str | None = None,
    mode: Literal["durable", "ephemeral"] = "durable",
    name: str | None = None,
    phantom: bool = False,
    cors: list[str] | None = None,
    auth: bool = False,
    webhook_suffix: str | None = None,
    remote: bool = False,
    config: dict[str, Any] | None = None,
    snapshotting: str | int | datetime.timedelta | None = None,
) -> Any:
    """Declare a class as an agent type: ``@agent`` or ``@agent(mount="/workflows/{name}")``.

    ``mode="ephemeral"`` gives every call a fresh instance. ``name`` overrides the type
    name (the class name). ``remote=True`` describes a type another component implements,
    for :func:`agent_sdk.client` only (not announced by this component). ``config``
    declares the agent's config keys and their types (``{"greeting": str, "limits.max":
    int | None}``; a dotted key is a path), given when an agent is created and read with
    :func:`agent_sdk.get_config`.

    A class defining ``save_snapshot(self) -> bytes`` and ``load_snapshot(self, data:
    bytes)`` has snapshots (golem:api save-snapshot / load-snapshot): the host may save
    its state and later recover by loading it into a fresh instance (made without
    ``__init__``: the snapshot must hold everything) instead of replaying from the start.
    ``snapshotting`` says when: ``"default"`` (the host's default, the default for such a
    class), an int n (after every n invocations), a ``timedelta`` (periodically) or
    ``"disabled"``."""

    def declare(target: C) -> C:
        if not isinstance(target, type):
            raise AgentDefinitionError(f"@agent decorates a class, not {target!r}")
        if mode not in ("durable", "ephemeral"):
            raise AgentDefinitionError(f"{target.__name__}: mode must be 'durable' or 'ephemeral'")
        type_name = name or target.__name__
        init = next(vars(k)["__init__"] for k in target.__mro__ if "__init__" in vars(k))
        ctor = _method(target, "__init__", init)
        methods: dict[str, Method] = {}
        for klass in reversed(target.__mro__[:-1]):  # in definition order, bases first
            for attr, member in vars(klass).items():
                if (
                    inspect.isfunction(member)
                    and not attr.startswith("_")
                    and attr not in SNAPSHOT_HOOKS
                ):
                    methods[attr] = _method(target, attr, getattr(target, attr))
        http_mount = _mount(target, mount, ctor, phantom, cors, auth, webhook_suffix)
        for m in methods.values():
            _check_endpoints(target, m, http_mount)
        if type_name in _REGISTRY and _REGISTRY[type_name].cls is not target:
            raise AgentDefinitionError(f"two agent types are named {type_name!r}")
        snapshot_policy = _snapshotting(target, snapshotting)
        declared = []
        for key, hint in (config or {}).items():
            try:
                declared.append((key, shape_of(hint)))
            except UnsupportedType as exc:
                raise AgentDefinitionError(f"{target.__name__}: config {key!r}: {exc}") from None
        definition = AgentType(
            target, type_name, _doc(target), ctor, methods, mode, http_mount, remote,
            tuple(declared), snapshot_policy,
        )  # fmt: skip
        target.__agent_type__ = definition  # type: ignore[attr-defined]
        _REGISTRY[type_name] = definition
        if not remote:
            _install_guest(target)
        return target

    return declare if cls is None else declare(cls)


SNAPSHOT_HOOKS = ("save_snapshot", "load_snapshot")


def _snapshotting(cls: type, given: str | int | datetime.timedelta | None) -> tuple[str, Any]:
    """The ``snapshotting`` variant of the agent type (neutral data)."""
    hooks = [h for h in SNAPSHOT_HOOKS if callable(getattr(cls, h, None))]
    if given == "disabled" or (given is None and not hooks):
        return ("disabled", None)
    if len(hooks) != 2:
        raise AgentDefinitionError(
            f"{cls.__name__}: snapshots need both save_snapshot(self) -> bytes and "
            f"load_snapshot(self, data: bytes) (it defines {', '.join(hooks) or 'neither'})"
        )
    if given is None or given == "default":
        return ("enabled", ("default", None))
    if isinstance(given, datetime.timedelta):
        return ("enabled", ("periodic", int(given.total_seconds() * 1_000_000_000)))
    if isinstance(given, int) and not isinstance(given, bool) and 0 < given < 65536:
        return ("enabled", ("every-n-invocation", given))
    raise AgentDefinitionError(
        f"{cls.__name__}: snapshotting must be 'default', 'disabled', a count of "
        f"invocations (1-65535) or a timedelta, not {given!r}"
    )


def _install_guest(cls: type) -> None:
    """componentize-py looks for a ``Guest`` class in the app module: provide the SDK's
    (unless the module defines its own)."""
    import sys

    module = sys.modules.get(cls.__module__)
    if module is not None and not hasattr(module, "Guest"):
        from .guest import Guest, LoadSnapshot, SaveSnapshot

        module.Guest = Guest  # type: ignore[attr-defined]
        # The SDK's world exports golem:api save-snapshot / load-snapshot too.
        module.SaveSnapshot = SaveSnapshot  # type: ignore[attr-defined]
        module.LoadSnapshot = LoadSnapshot  # type: ignore[attr-defined]


def _doc(obj: Any) -> str:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _method(cls: type, name: str, func: Callable[..., Any]) -> Method:
    where = f"{cls.__name__}.{name}"
    if func is object.__init__:
        return Method(name, func, [], None, "", [], False)
    try:
        hints = typing.get_type_hints(func)
    except NameError as exc:
        raise AgentDefinitionError(f"{where}: cannot resolve a type hint: {exc}") from None
    params: list[Param] = []
    for n, p in enumerate(inspect.signature(func).parameters.values()):
        if n == 0:
            continue  # self
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            raise AgentDefinitionError(f"{where}: *{p.name} parameters are not supported")
        if p.name not in hints:
            raise AgentDefinitionError(f"{where}: parameter '{p.name}' has no type hint")
        params.append(Param(p.name, _shape(hints[p.name], f"{where}: parameter '{p.name}'")))
    output: Shape | None = None
    if name != "__init__":
        if "return" not in hints:
            raise AgentDefinitionError(f"{where}: no return type hint (write -> None if none)")
        if hints["return"] not in (None, type(None)):
            output = _shape(hints["return"], f"{where}: return type")
    return Method(
        name,
        func,
        params,
        output,
        _doc(func),
        list(func.__dict__.get("__agent_endpoints__", [])),
        inspect.iscoroutinefunction(func),
    )


def _shape(hint: Any, what: str) -> Shape | None:
    if hint is Principal:
        return None
    try:
        return shape_of(hint)
    except UnsupportedType as exc:
        raise AgentDefinitionError(f"{what}: {exc}") from None


def _http_safe(shape: Shape | None) -> bool:
    return isinstance(shape, Prim | EnumOf)


def _mount(
    cls: type,
    mount: str | None,
    ctor: Method,
    phantom: bool,
    cors: list[str] | None,
    auth: bool,
    webhook_suffix: str | None,
) -> dict[str, Any] | None:
    if mount is None:
        return None
    if "?" in mount:
        raise AgentDefinitionError(f"{cls.__name__}: the mount {mount!r} cannot have a query")
    segments = parse_path(mount, f"{cls.__name__}: mount")
    if any(c == "remaining-path-variable" for c, _ in segments):
        raise AgentDefinitionError(f"{cls.__name__}: the mount {mount!r} cannot have {{*var}}")
    params = {p.name: p for p in ctor.params if p.shape is not None}
    variables = _vars(segments)
    for var in variables:
        if var not in params:
            raise AgentDefinitionError(
                f"{cls.__name__}: mount {mount!r} names {{{var}}}, which is not a constructor "
                f"parameter (constructor parameters: {', '.join(params) or 'none'})"
            )
        if not _http_safe(params[var].shape):
            raise AgentDefinitionError(
                f"{cls.__name__}: constructor parameter '{var}' is bound from the mount path, "
                "so it must be a str, int, float, bool or enum"
            )
    missing = [p for p in params if p not in variables]
    if missing:
        suggestion = mount.rstrip("/") + "".join(f"/{{{p}}}" for p in missing)
        raise AgentDefinitionError(
            f"{cls.__name__}: mount {mount!r} does not bind constructor parameter(s) "
            f"{', '.join(repr(p) for p in missing)}: every constructor parameter must be a "
            f"{{variable}} of the mount; write mount={suggestion!r}"
        )
    return {
        "path_prefix": segments,
        "auth_details": {"required": auth},
        "phantom_agent": phantom,
        "cors_options": {"allowed_patterns": list(cors or [])},
        "webhook_suffix": parse_path(webhook_suffix, "webhook suffix") if webhook_suffix else [],
    }


def _check_endpoints(cls: type, method: Method, mount: dict[str, Any] | None) -> None:
    if not method.endpoints:
        return
    where = f"{cls.__name__}.{method.name}"
    if mount is None:
        raise AgentDefinitionError(
            f'{where} has an @endpoint but {cls.__name__} has no mount: write @agent(mount="/...")'
        )
    params = {p.name: p for p in method.params if p.shape is not None}
    for ep in method.endpoints:
        named = [("path", v) for v in _vars(ep["path_suffix"])]
        named += [("query", q["variable_name"]) for q in ep["query_vars"]]
        named += [("header", h["variable_name"]) for h in ep["header_vars"]]
        for where_from, var in named:
            if var not in params:
                raise AgentDefinitionError(
                    f"{where}: the {where_from} variable {{{var}}} is not a parameter "
                    f"(parameters: {', '.join(params) or 'none'})"
                )
            if not _http_safe(params[var].shape):
                raise AgentDefinitionError(
                    f"{where}: parameter '{var}' comes from the {where_from}, so it must be a "
                    f"str, int, float, bool or enum, not {params[var].shape.describe()}"  # type: ignore[union-attr]
                )
