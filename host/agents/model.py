"""Golem agent types as immutable dataclasses.

An agent component describes its agent types at run time (``discover-agent-types``): each
:class:`AgentType` has a constructor and methods whose inputs and outputs are
:class:`DataSchema`\\ s, a mode, and in Golem 1.5 an HTTP mount, snapshotting and config.

Conversions:

- :func:`agent_type_from_value` / :func:`agent_type_to_value`: the ``golem:agent/common``
  ``agent-type`` record as a host Value, for generation ``"1.5"`` (``golem:agent@1.5.0``)
  or ``"1.4"`` (unversioned ``golem:agent``: no source language, HTTP mount or endpoints,
  snapshotting or config; those read as empty and are not written).
- :func:`agent_types_to_json` / :func:`agent_types_from_json`: the JSON stored with a
  component (see :mod:`host.agents.modeljson` for its documented shape).
- :func:`describe`: lines for ``agent-host component show``; :func:`mount_problems`: why a
  type's HTTP mount cannot bind its constructor.
"""

from __future__ import annotations

from host.agents.agenttypes import (
    GENERATIONS,
    HTTP_METHODS,
    SEGMENT_KINDS,
    UNIT,
    AgentConstructor,
    AgentDependency,
    AgentMethod,
    AgentType,
    ComponentModel,
    ConfigDeclaration,
    DataSchema,
    ElementSchema,
    Generation,
    HttpEndpoint,
    HttpMount,
    PathSegment,
    SegmentKind,
    Snapshotting,
    UnstructuredBinary,
    UnstructuredText,
    render_path,
)
from host.agents.modeljson import types_from_json, types_to_json
from host.agents.wittype import wit_type_from_value, wit_type_to_value
from host.errors import InvalidComponent, InvalidInput
from host.values.types import Case, Some, Value, show
from host.values.types import describe as describe_type

__all__ = [
    "Generation",
    "GENERATIONS",
    "ComponentModel",
    "UnstructuredText",
    "UnstructuredBinary",
    "ElementSchema",
    "DataSchema",
    "UNIT",
    "SEGMENT_KINDS",
    "HTTP_METHODS",
    "SegmentKind",
    "PathSegment",
    "render_path",
    "HttpMount",
    "HttpEndpoint",
    "AgentConstructor",
    "AgentMethod",
    "AgentDependency",
    "Snapshotting",
    "ConfigDeclaration",
    "AgentType",
    "agent_type_from_value",
    "agent_type_to_value",
    "agent_types_from_json",
    "agent_types_to_json",
    "describe",
    "mount_problems",
    "schema_from_value",
    "schema_to_value",
]

# --- from and to host Values -------------------------------------------------------------


class _Reader:
    """Reads guest-provided records; every shape error is an InvalidComponent naming where."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, message: str) -> InvalidComponent:
        return InvalidComponent(f"{self.where}{path}: {message}")

    def rec(self, v: Value, path: str, *keys: str) -> dict[str, Value]:
        if not isinstance(v, dict) or any(k not in v for k in keys):
            raise self.fail(path, f"expected a record with {', '.join(keys)}, got {show(v)}")
        return v

    def str_(self, v: Value, path: str) -> str:
        if not isinstance(v, str):
            raise self.fail(path, f"expected a string, got {show(v)}")
        return v

    def opt_str(self, v: Value, path: str) -> str | None:
        if v is None:
            return None
        if not isinstance(v, Some):
            raise self.fail(path, f"expected an optional string, got {show(v)}")
        return self.str_(v.value, path)

    def list_(self, v: Value, path: str) -> list[Value]:
        if not isinstance(v, list):
            raise self.fail(path, f"expected a list, got {show(v)}")
        return v

    def case(self, v: Value, path: str, *names: str) -> tuple[str, Value]:
        if not isinstance(v, Case):
            raise self.fail(path, f"expected one of {', '.join(names)}, got {show(v)}")
        name, payload = v.name, v.value
        if name not in names:
            raise self.fail(path, f"expected one of {', '.join(names)}, got {name!r}")
        return name, payload

    def schema(self, v: Value, path: str) -> DataSchema:
        kind, payload = self.case(v, path, "tuple", "multimodal")
        elements: list[tuple[str, ElementSchema]] = []
        for i, item in enumerate(self.list_(payload, path)):
            p = f"{path}[{i}]"
            if not isinstance(item, tuple) or len(item) != 2:
                raise self.fail(p, f"expected (name, element-schema), got {show(item)}")
            elements.append((self.str_(item[0], p), self.element(item[1], p)))
        names = [n for n, _ in elements]
        if len(set(names)) != len(names):
            raise self.fail(path, f"element names repeat: {names}")
        return DataSchema(kind, tuple(elements))  # type: ignore[arg-type]

    def element(self, v: Value, path: str) -> ElementSchema:
        kind, payload = self.case(
            v, path, "component-model", "unstructured-text", "unstructured-binary"
        )
        if kind == "component-model":
            try:
                return ComponentModel(wit_type_from_value(payload, f"{self.where}{path}"))
            except InvalidInput as exc:
                raise InvalidComponent(str(exc)) from None
        key = "language-code" if kind == "unstructured-text" else "mime-type"
        restrictions = self.rec(payload, path, "restrictions")["restrictions"]
        allowed: tuple[str, ...] | None = None
        if restrictions is not None:
            if not isinstance(restrictions, Some):
                raise self.fail(path, f"expected optional restrictions, got {show(restrictions)}")
            allowed = tuple(
                self.str_(self.rec(r, path, key)[key], path)
                for r in self.list_(restrictions.value, path)
            )
        return (
            UnstructuredText(allowed)
            if kind == "unstructured-text"
            else UnstructuredBinary(allowed)
        )

    def constructor(self, v: Value, path: str) -> AgentConstructor:
        r = self.rec(v, path, "name", "description", "prompt-hint", "input-schema")
        return AgentConstructor(
            self.opt_str(r["name"], f"{path}.name"),
            self.str_(r["description"], f"{path}.description"),
            self.opt_str(r["prompt-hint"], f"{path}.prompt-hint"),
            self.schema(r["input-schema"], f"{path}.input-schema"),
        )

    def method(self, v: Value, path: str, gen: Generation) -> AgentMethod:
        keys = ["name", "description", "prompt-hint", "input-schema", "output-schema"]
        if gen == "1.5":
            keys.append("http-endpoint")
        r = self.rec(v, path, *keys)
        endpoints = (
            tuple(
                self.endpoint(e, f"{path}.http-endpoint[{i}]")
                for i, e in enumerate(self.list_(r["http-endpoint"], path))
            )
            if gen == "1.5"
            else ()
        )
        return AgentMethod(
            self.str_(r["name"], f"{path}.name"),
            self.str_(r["description"], f"{path}.description"),
            endpoints,
            self.opt_str(r["prompt-hint"], f"{path}.prompt-hint"),
            self.schema(r["input-schema"], f"{path}.input-schema"),
            self.schema(r["output-schema"], f"{path}.output-schema"),
        )

    def segments(self, v: Value, path: str) -> tuple[PathSegment, ...]:
        out = []
        for i, s in enumerate(self.list_(v, path)):
            p = f"{path}[{i}]"
            kind, payload = self.case(s, p, *SEGMENT_KINDS)
            if kind == "literal":
                value = self.str_(payload, p)
            elif kind == "system-variable":
                if payload not in ("agent-type", "agent-version"):
                    raise self.fail(p, f"unknown system variable {show(payload)}")
                value = str(payload)
            else:
                value = self.str_(self.rec(payload, p, "variable-name")["variable-name"], p)
            out.append(PathSegment(kind, value))  # type: ignore[arg-type]
        return tuple(out)

    def auth(self, v: Value, path: str) -> bool | None:
        if v is None:
            return None
        if not isinstance(v, Some):
            raise self.fail(path, f"expected optional auth-details, got {show(v)}")
        required = self.rec(v.value, path, "required")["required"]
        if not isinstance(required, bool):
            raise self.fail(path, f"expected a bool, got {show(required)}")
        return required

    def cors(self, v: Value, path: str) -> tuple[str, ...]:
        patterns = self.rec(v, path, "allowed-patterns")["allowed-patterns"]
        return tuple(self.str_(p, path) for p in self.list_(patterns, path))

    def endpoint(self, v: Value, path: str) -> HttpEndpoint:
        r = self.rec(
            v, path, "http-method", "path-suffix", "header-vars", "query-vars", "auth-details",
            "cors-options",
        )  # fmt: skip
        name, payload = self.case(r["http-method"], f"{path}.http-method", *HTTP_METHODS, "custom")
        method = self.str_(payload, path) if name == "custom" else name.upper()
        headers = tuple(
            (self.str_(h["header-name"], path), self.str_(h["variable-name"], path))
            for h in (self.rec(x, path, "header-name", "variable-name")
                      for x in self.list_(r["header-vars"], path))
        )  # fmt: skip
        queries = tuple(
            (self.str_(q["query-param-name"], path), self.str_(q["variable-name"], path))
            for q in (self.rec(x, path, "query-param-name", "variable-name")
                      for x in self.list_(r["query-vars"], path))
        )  # fmt: skip
        return HttpEndpoint(
            method,
            self.segments(r["path-suffix"], f"{path}.path-suffix"),
            headers,
            queries,
            self.auth(r["auth-details"], f"{path}.auth-details"),
            self.cors(r["cors-options"], f"{path}.cors-options"),
        )

    def mount(self, v: Value, path: str) -> HttpMount | None:
        if v is None:
            return None
        if not isinstance(v, Some):
            raise self.fail(path, f"expected optional http-mount-details, got {show(v)}")
        r = self.rec(
            v.value, path, "path-prefix", "auth-details", "phantom-agent", "cors-options",
            "webhook-suffix",
        )  # fmt: skip
        if not isinstance(r["phantom-agent"], bool):
            raise self.fail(
                f"{path}.phantom-agent", f"expected a bool, got {show(r['phantom-agent'])}"
            )
        return HttpMount(
            self.segments(r["path-prefix"], f"{path}.path-prefix"),
            self.auth(r["auth-details"], f"{path}.auth-details"),
            r["phantom-agent"],
            self.cors(r["cors-options"], f"{path}.cors-options"),
            self.segments(r["webhook-suffix"], f"{path}.webhook-suffix"),
        )

    def snapshotting(self, v: Value, path: str) -> Snapshotting:
        kind, payload = self.case(v, path, "disabled", "enabled")
        if kind == "disabled":
            return Snapshotting()
        sub, arg = self.case(payload, path, "default", "periodic", "every-n-invocation")
        if sub == "default":
            return Snapshotting("default")
        if not isinstance(arg, int) or isinstance(arg, bool) or arg < 0:
            raise self.fail(path, f"expected a non-negative integer, got {show(arg)}")
        return Snapshotting(sub, arg)  # type: ignore[arg-type]

    def config(self, v: Value, path: str) -> ConfigDeclaration:
        r = self.rec(v, path, "source", "path", "value-type")
        if r["source"] not in ("local", "secret"):
            raise self.fail(f"{path}.source", f"expected local or secret, got {show(r['source'])}")
        try:
            ty = wit_type_from_value(r["value-type"], f"{self.where}{path}.value-type")
        except InvalidInput as exc:
            raise InvalidComponent(str(exc)) from None
        return ConfigDeclaration(
            r["source"],  # type: ignore[arg-type]
            tuple(self.str_(p, path) for p in self.list_(r["path"], path)),
            ty,
        )


def agent_type_from_value(v: Value, generation: Generation) -> AgentType:
    """Read an ``agent-type`` record (from ``discover-agent-types`` or ``get-definition``).

    A guest may return anything: shape errors are :class:`InvalidComponent` naming the place.
    """
    if generation not in GENERATIONS:
        raise InvalidInput(f"unknown agent generation {generation!r}: use 1.5 or 1.4")
    rd = _Reader("agent-type")
    keys = ["type-name", "description", "constructor", "methods", "dependencies", "mode"]
    if generation == "1.5":
        keys += ["source-language", "http-mount", "snapshotting", "config"]
    r = rd.rec(v, "", *keys)
    name = rd.str_(r["type-name"], ".type-name")
    rd.where = f"agent type {name}: "
    if r["mode"] not in ("durable", "ephemeral"):
        raise rd.fail("mode", f"expected durable or ephemeral, got {show(r['mode'])}")
    deps = []
    for i, d in enumerate(rd.list_(r["dependencies"], "dependencies")):
        p = f"dependencies[{i}]"
        dr = rd.rec(d, p, "type-name", "description", "constructor", "methods")
        deps.append(
            AgentDependency(
                rd.str_(dr["type-name"], f"{p}.type-name"),
                rd.opt_str(dr["description"], f"{p}.description"),
                rd.constructor(dr["constructor"], f"{p}.constructor"),
                tuple(
                    rd.method(m, f"{p}.methods[{j}]", generation)
                    for j, m in enumerate(rd.list_(dr["methods"], f"{p}.methods"))
                ),
            )
        )
    methods = tuple(
        rd.method(m, f"methods[{i}]", generation)
        for i, m in enumerate(rd.list_(r["methods"], "methods"))
    )
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise rd.fail("methods", f"method names repeat: {names}")
    is15 = generation == "1.5"
    return AgentType(
        type_name=name,
        description=rd.str_(r["description"], "description"),
        source_language=rd.str_(r["source-language"], "source-language") if is15 else "",
        constructor=rd.constructor(r["constructor"], "constructor"),
        methods=methods,
        dependencies=tuple(deps),
        mode=r["mode"],  # type: ignore[arg-type]
        http_mount=rd.mount(r["http-mount"], "http-mount") if is15 else None,
        snapshotting=rd.snapshotting(r["snapshotting"], "snapshotting") if is15 else Snapshotting(),
        config=tuple(
            rd.config(c, f"config[{i}]") for i, c in enumerate(rd.list_(r["config"], "config"))
        )
        if is15
        else (),
    )


def _opt(v: Value) -> Value:
    return None if v is None else Some(v)


def schema_to_value(s: DataSchema) -> Value:
    """A :class:`DataSchema` as a ``data-schema`` Value."""
    items: list[Value] = []
    for name, el in s.elements:
        if isinstance(el, ComponentModel):
            ev = Case("component-model", wit_type_to_value(el.wit_type))
        else:
            text = isinstance(el, UnstructuredText)
            key = "language-code" if text else "mime-type"
            allowed = None if el.restrictions is None else Some([{key: r} for r in el.restrictions])
            ev = Case(
                "unstructured-text" if text else "unstructured-binary", {"restrictions": allowed}
            )
        items.append((name, ev))
    return Case(s.kind, items)


def schema_from_value(v: Value, where: str = "data-schema") -> DataSchema:
    """Read a ``data-schema`` Value (InvalidComponent on a bad shape)."""
    return _Reader(where).schema(v, "")


def _segments_value(segs: tuple[PathSegment, ...]) -> Value:
    out: list[Value] = []
    for s in segs:
        if s.kind in ("literal", "system-variable"):
            out.append(Case(s.kind, s.value))
        else:
            out.append(Case(s.kind, {"variable-name": s.value}))
    return out


def _auth(required: bool | None) -> Value:
    return None if required is None else Some({"required": required})


def _endpoint_value(e: HttpEndpoint) -> Value:
    low = e.method.lower()
    method = (
        Case(low) if low in HTTP_METHODS and e.method == low.upper() else Case("custom", e.method)
    )
    return {
        "http-method": method,
        "path-suffix": _segments_value(e.path_suffix),
        "header-vars": [{"header-name": h, "variable-name": n} for h, n in e.header_vars],
        "query-vars": [{"query-param-name": q, "variable-name": n} for q, n in e.query_vars],
        "auth-details": _auth(e.auth_required),
        "cors-options": {"allowed-patterns": list(e.cors_allowed)},
    }


def _constructor_value(c: AgentConstructor) -> Value:
    return {
        "name": _opt(c.name),
        "description": c.description,
        "prompt-hint": _opt(c.prompt_hint),
        "input-schema": schema_to_value(c.input_schema),
    }


def _method_value(m: AgentMethod, gen: Generation) -> Value:
    r: dict[str, Value] = {"name": m.name, "description": m.description}
    if gen == "1.5":
        r["http-endpoint"] = [_endpoint_value(e) for e in m.http_endpoints]
    r["prompt-hint"] = _opt(m.prompt_hint)
    r["input-schema"] = schema_to_value(m.input_schema)
    r["output-schema"] = schema_to_value(m.output_schema)
    return r


def agent_type_to_value(t: AgentType, generation: Generation) -> Value:
    """``t`` as an ``agent-type`` record Value of ``generation`` (for ``get-agent-type`` and
    friends). A 1.4 record has no place for the 1.5-only fields: they are left out."""
    r: dict[str, Value] = {"type-name": t.type_name, "description": t.description}
    if generation == "1.5":
        r["source-language"] = t.source_language
    r["constructor"] = _constructor_value(t.constructor)
    r["methods"] = [_method_value(m, generation) for m in t.methods]
    r["dependencies"] = [
        {
            "type-name": d.type_name,
            "description": _opt(d.description),
            "constructor": _constructor_value(d.constructor),
            "methods": [_method_value(m, generation) for m in d.methods],
        }
        for d in t.dependencies
    ]
    r["mode"] = t.mode
    if generation == "1.5":
        mount = t.http_mount
        r["http-mount"] = (
            None
            if mount is None
            else Some(
                {
                    "path-prefix": _segments_value(mount.path_prefix),
                    "auth-details": _auth(mount.auth_required),
                    "phantom-agent": mount.phantom_agent,
                    "cors-options": {"allowed-patterns": list(mount.cors_allowed)},
                    "webhook-suffix": _segments_value(mount.webhook_suffix),
                }
            )
        )
        snap = t.snapshotting
        r["snapshotting"] = (
            Case("disabled")
            if snap.kind == "disabled"
            else Case("enabled", Case(snap.kind, snap.value))
        )
        r["config"] = [
            {
                "source": c.source,
                "path": list(c.path),
                "value-type": wit_type_to_value(c.value_type),
            }
            for c in t.config
        ]
    return r


# --- describing --------------------------------------------------------------------------


def element_text(el: ElementSchema) -> str:
    """An element's type as ``agent-host component show`` writes it."""
    if isinstance(el, ComponentModel):
        return describe_type(el.wit_type)
    base = "text" if isinstance(el, UnstructuredText) else "binary"
    return base if el.restrictions is None else f"{base}[{', '.join(el.restrictions)}]"


def schema_params(s: DataSchema) -> str:
    """``name: string, count: u32`` (a multimodal schema: ``multimodal<a: text, ...>``)."""
    inner = ", ".join(f"{n}: {element_text(e)}" for n, e in s.elements)
    return inner if s.kind == "tuple" else f"multimodal<{inner}>"


def schema_result(s: DataSchema) -> str | None:
    """The result as WIT would write it; None for no result."""
    if s.kind == "tuple" and not s.elements:
        return None
    if s.kind == "tuple" and len(s.elements) == 1:
        return element_text(s.elements[0][1])
    return f"({schema_params(s)})"


def describe(t: AgentType) -> list[str]:
    """Lines for ``agent-host component show``::

    WorkflowAgent(name: string)  durable
      start_approval() -> string
      mount /workflows/{name}
      POST /workflows/{name}/approve -> approve
    """
    lines = [f"{t.type_name}({schema_params(t.constructor.input_schema)})  {t.mode}"]
    for m in t.methods:
        result = schema_result(m.output_schema)
        arrow = "" if result is None else f" -> {result}"
        lines.append(f"  {m.name}({schema_params(m.input_schema)}){arrow}")
    if t.http_mount is not None:
        prefix = render_path(t.http_mount.path_prefix)
        extra = "  (phantom agents)" if t.http_mount.phantom_agent else ""
        lines.append(f"  mount {prefix}{extra}")
        for m in t.methods:
            for e in m.http_endpoints:
                route = prefix.rstrip("/") + render_path(e.path_suffix)
                if e.path_suffix == ():
                    route = prefix
                lines.append(f"  {e.method} {route} -> {m.name}")
    for problem in mount_problems(t):
        lines.append(f"  problem: {problem}")
    return lines


def mount_problems(t: AgentType) -> list[str]:
    """Why the type's HTTP mount cannot create its agents (empty when it can, or when the type
    has no mount): Golem requires every constructor parameter to be a ``{var}`` of the mount,
    every mount variable to be a constructor parameter, no ``{*rest}`` in a mount, and no
    binary or multimodal constructor input."""
    mount = t.http_mount
    if mount is None:
        endpoints = [m.name for m in t.methods if m.http_endpoints]
        if endpoints:
            return [
                f"methods {', '.join(endpoints)} declare HTTP endpoints but agent type "
                f"{t.type_name} has no HTTP mount"
            ]
        return []
    problems: list[str] = []
    schema = t.constructor.input_schema
    params = list(schema.names)
    variables = [s.value for s in mount.path_prefix if s.kind == "path-variable"]
    prefix = render_path(mount.path_prefix)
    if schema.kind == "multimodal":
        problems.append(
            f"agent type {t.type_name}: a multimodal constructor cannot be used with an HTTP mount"
        )
    for name, el in schema.elements:
        if isinstance(el, UnstructuredBinary):
            problems.append(
                f"agent type {t.type_name}: constructor parameter {name!r} is binary, which "
                "an HTTP mount cannot carry in its path"
            )
    if any(s.kind == "remaining-path-variable" for s in mount.path_prefix):
        problems.append(
            f"agent type {t.type_name}: mount {prefix} cannot contain a {{*rest}} variable"
        )
    for v in variables:
        if v not in params:
            problems.append(
                f"agent type {t.type_name}: mount {prefix} has the variable {{{v}}}, which is "
                f"not a constructor parameter (they are: {', '.join(params) or 'none'})"
            )
    missing = [p for p in params if p not in variables]
    if missing:
        fixed = prefix.rstrip("/") + "".join(f"/{{{p}}}" for p in missing)
        which = ", ".join(repr(p) for p in missing)
        problems.append(
            f"agent type {t.type_name}: constructor parameter{'s' if len(missing) > 1 else ''} "
            f"{which} not in the HTTP mount {prefix}: every constructor parameter must be a "
            f"path variable of the mount; write the mount as {fixed}"
        )
    return problems


def agent_types_to_json(types: list[AgentType] | tuple[AgentType, ...]) -> str:
    """The stable JSON stored with a component (shape: :mod:`host.agents.modeljson`)."""
    return types_to_json(types)


def agent_types_from_json(text: str) -> list[AgentType]:
    """Read :func:`agent_types_to_json`'s JSON back exactly (InvalidInput when malformed)."""
    return types_from_json(text)
