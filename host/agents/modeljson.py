"""The JSON form of agent types stored with a component in the database.

Stable and exact: ``types_from_json(types_to_json(ts)) == ts``. The document is::

    {"version": 1, "agentTypes": [AgentType, ...]}

    AgentType   {"typeName", "description", "sourceLanguage", "constructor", "methods",
                 "dependencies", "mode": "durable"|"ephemeral", "httpMount": Mount|null,
                 "snapshotting": {"kind": "disabled"|"default"|"periodic"|
                                  "every-n-invocation", "value": int|null},
                 "config": [{"source": "local"|"secret", "path": [str], "valueType": Type}]}
    Constructor {"name": str|null, "description", "promptHint": str|null, "inputSchema"}
    Method      {"name", "description", "httpEndpoints": [Endpoint], "promptHint",
                 "inputSchema", "outputSchema"}
    Dependency  {"typeName", "description": str|null, "constructor", "methods"}
    Schema      {"kind": "tuple"|"multimodal", "elements": [{"name", "schema": Element}]}
    Element     {"componentModel": Type} | {"unstructuredText": {"restrictions": [str]|null}}
                | {"unstructuredBinary": {"restrictions": [str]|null}}
    Mount       {"pathPrefix": [Segment], "authRequired": bool|null, "phantomAgent": bool,
                 "corsAllowed": [str], "webhookSuffix": [Segment]}
    Endpoint    {"method": "GET"|..., "pathSuffix": [Segment], "headerVars": [[header, var]],
                 "queryVars": [[param, var]], "authRequired": bool|null, "corsAllowed": [str]}
    Segment     {"kind": "literal"|"system-variable"|"path-variable"|
                 "remaining-path-variable", "value": str}
    Type        "u32" | "string" | ... (primitives by name) | {"list": Type}
                | {"option": Type} | {"tuple": [Type]} | {"record": [[name, Type]]}
                | {"variant": [[name, Type|null]]} | {"enum": [str]} | {"flags": [str]}
                | {"result": {"ok": Type|null, "err": Type|null}}
                | {"resource": name, "own": bool}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from host.agents.agenttypes import (
    SEGMENT_KINDS,
    AgentConstructor,
    AgentDependency,
    AgentMethod,
    AgentType,
    ComponentModel,
    ConfigDeclaration,
    DataSchema,
    ElementSchema,
    HttpEndpoint,
    HttpMount,
    PathSegment,
    Snapshotting,
    UnstructuredBinary,
    UnstructuredText,
)
from host.errors import InvalidInput
from host.values.types import (
    PRIM_KINDS,
    EnumT,
    FlagsT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResourceT,
    ResultT,
    TupleT,
    VariantT,
    WitType,
)

VERSION = 1


# --- writing -----------------------------------------------------------------------------


def type_to_json(t: WitType) -> Any:
    if isinstance(t, Prim):
        return t.kind
    if isinstance(t, ListT):
        return {"list": type_to_json(t.elem)}
    if isinstance(t, OptionT):
        return {"option": type_to_json(t.payload)}
    if isinstance(t, TupleT):
        return {"tuple": [type_to_json(e) for e in t.elems]}
    if isinstance(t, RecordT):
        return {"record": [[n, type_to_json(f)] for n, f in t.fields]}
    if isinstance(t, VariantT):
        return {"variant": [[n, None if c is None else type_to_json(c)] for n, c in t.cases]}
    if isinstance(t, EnumT):
        return {"enum": list(t.names)}
    if isinstance(t, FlagsT):
        return {"flags": list(t.names)}
    if isinstance(t, ResultT):
        ok = None if t.ok is None else type_to_json(t.ok)
        err = None if t.err is None else type_to_json(t.err)
        return {"result": {"ok": ok, "err": err}}
    return {"resource": t.name, "own": t.own}


def _segs(segs: tuple[PathSegment, ...]) -> Any:
    return [{"kind": s.kind, "value": s.value} for s in segs]


def schema_to_json(s: DataSchema) -> Any:
    elements = []
    for name, el in s.elements:
        if isinstance(el, ComponentModel):
            ej: Any = {"componentModel": type_to_json(el.wit_type)}
        else:
            key = "unstructuredText" if isinstance(el, UnstructuredText) else "unstructuredBinary"
            r = None if el.restrictions is None else list(el.restrictions)
            ej = {key: {"restrictions": r}}
        elements.append({"name": name, "schema": ej})
    return {"kind": s.kind, "elements": elements}


def _ctor(c: AgentConstructor) -> Any:
    return {
        "name": c.name,
        "description": c.description,
        "promptHint": c.prompt_hint,
        "inputSchema": schema_to_json(c.input_schema),
    }


def _method(m: AgentMethod) -> Any:
    return {
        "name": m.name,
        "description": m.description,
        "httpEndpoints": [
            {
                "method": e.method,
                "pathSuffix": _segs(e.path_suffix),
                "headerVars": [list(h) for h in e.header_vars],
                "queryVars": [list(q) for q in e.query_vars],
                "authRequired": e.auth_required,
                "corsAllowed": list(e.cors_allowed),
            }
            for e in m.http_endpoints
        ],
        "promptHint": m.prompt_hint,
        "inputSchema": schema_to_json(m.input_schema),
        "outputSchema": schema_to_json(m.output_schema),
    }


def agent_type_to_json(t: AgentType) -> Any:
    mount = t.http_mount
    return {
        "typeName": t.type_name,
        "description": t.description,
        "sourceLanguage": t.source_language,
        "constructor": _ctor(t.constructor),
        "methods": [_method(m) for m in t.methods],
        "dependencies": [
            {
                "typeName": d.type_name,
                "description": d.description,
                "constructor": _ctor(d.constructor),
                "methods": [_method(m) for m in d.methods],
            }
            for d in t.dependencies
        ],
        "mode": t.mode,
        "httpMount": None
        if mount is None
        else {
            "pathPrefix": _segs(mount.path_prefix),
            "authRequired": mount.auth_required,
            "phantomAgent": mount.phantom_agent,
            "corsAllowed": list(mount.cors_allowed),
            "webhookSuffix": _segs(mount.webhook_suffix),
        },
        "snapshotting": {"kind": t.snapshotting.kind, "value": t.snapshotting.value},
        "config": [
            {"source": c.source, "path": list(c.path), "valueType": type_to_json(c.value_type)}
            for c in t.config
        ],
    }


def types_to_json(types: Sequence[AgentType]) -> str:
    doc = {"version": VERSION, "agentTypes": [agent_type_to_json(t) for t in types]}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# --- reading -----------------------------------------------------------------------------


class _Bad(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def _get(obj: Any, key: str, path: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise _Bad(path, f"missing {key!r}")
    v = obj[key]
    if not isinstance(v, kind) or (isinstance(v, bool) and kind is int):
        raise _Bad(f"{path}.{key}", f"unexpected value {v!r:.60}")
    return v


def _opt(obj: Any, key: str, path: str, kind: type) -> Any:
    if isinstance(obj, dict) and obj.get(key) is None:
        return None
    return _get(obj, key, path, kind)


def _strs(v: Any, path: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _Bad(path, "expected a list of strings")
    return tuple(v)


def type_from_json(obj: Any, path: str = "$") -> WitType:
    if isinstance(obj, str):
        if obj not in PRIM_KINDS:
            raise _Bad(path, f"unknown primitive type {obj!r}")
        return Prim(obj)  # type: ignore[arg-type]
    if not isinstance(obj, dict) or len(obj) not in (1, 2):
        raise _Bad(path, "expected a type")
    if "resource" in obj:
        return ResourceT(_get(obj, "resource", path, str), _get(obj, "own", path, bool))
    ((key, v),) = obj.items()
    p = f"{path}.{key}"
    if key == "list":
        return ListT(type_from_json(v, p))
    if key == "option":
        return OptionT(type_from_json(v, p))
    if key == "tuple":
        return TupleT(tuple(type_from_json(e, f"{p}[{i}]") for i, e in enumerate(_list(v, p))))
    if key in ("record", "variant"):
        pairs: list[tuple[str, WitType | None]] = []
        for i, item in enumerate(_list(v, p)):
            if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
                raise _Bad(f"{p}[{i}]", "expected [name, type]")
            if key == "record" or item[1] is not None:
                pairs.append((item[0], type_from_json(item[1], f"{p}[{i}]")))
            else:
                pairs.append((item[0], None))
        if key == "variant":
            return VariantT(tuple(pairs))
        return RecordT(tuple((n, t) for n, t in pairs if t is not None))
    if key == "enum":
        return EnumT(_strs(v, p))
    if key == "flags":
        return FlagsT(_strs(v, p))
    if key == "result":
        ok, err = _opt(v, "ok", p, (str, dict)), _opt(v, "err", p, (str, dict))  # type: ignore[arg-type]
        return ResultT(
            None if ok is None else type_from_json(ok, f"{p}.ok"),
            None if err is None else type_from_json(err, f"{p}.err"),
        )
    raise _Bad(path, f"unknown type kind {key!r}")


def _list(v: Any, path: str) -> list[Any]:
    if not isinstance(v, list):
        raise _Bad(path, "expected a list")
    return v


def _segs_from(v: Any, path: str) -> tuple[PathSegment, ...]:
    out = []
    for i, s in enumerate(_list(v, path)):
        p = f"{path}[{i}]"
        kind = _get(s, "kind", p, str)
        if kind not in SEGMENT_KINDS:
            raise _Bad(p, f"unknown segment kind {kind!r}")
        out.append(PathSegment(kind, _get(s, "value", p, str)))
    return tuple(out)


def schema_from_json(obj: Any, path: str) -> DataSchema:
    kind = _get(obj, "kind", path, str)
    if kind not in ("tuple", "multimodal"):
        raise _Bad(f"{path}.kind", f"unknown schema kind {kind!r}")
    elements: list[tuple[str, ElementSchema]] = []
    for i, e in enumerate(_get(obj, "elements", path, list)):
        p = f"{path}.elements[{i}]"
        name = _get(e, "name", p, str)
        s = _get(e, "schema", p, dict)
        el: ElementSchema
        if "componentModel" in s:
            el = ComponentModel(type_from_json(s["componentModel"], f"{p}.schema.componentModel"))
        elif "unstructuredText" in s or "unstructuredBinary" in s:
            text = "unstructuredText" in s
            body = s["unstructuredText" if text else "unstructuredBinary"]
            r = _opt(body, "restrictions", p, list)
            allowed = None if r is None else _strs(r, p)
            el = UnstructuredText(allowed) if text else UnstructuredBinary(allowed)
        else:
            raise _Bad(f"{p}.schema", "unknown element schema")
        elements.append((name, el))
    return DataSchema(kind, tuple(elements))


def _ctor_from(obj: Any, path: str) -> AgentConstructor:
    return AgentConstructor(
        _opt(obj, "name", path, str),
        _get(obj, "description", path, str),
        _opt(obj, "promptHint", path, str),
        schema_from_json(_get(obj, "inputSchema", path, dict), f"{path}.inputSchema"),
    )


def _pairs(v: Any, path: str) -> tuple[tuple[str, str], ...]:
    items = _list(v, path)
    if not all(isinstance(x, list) and len(x) == 2 and all(isinstance(y, str) for y in x)
               for x in items):  # fmt: skip
        raise _Bad(path, "expected [[name, variable], ...]")
    return tuple((x[0], x[1]) for x in items)


def _method_from(obj: Any, path: str) -> AgentMethod:
    endpoints = []
    for i, e in enumerate(_get(obj, "httpEndpoints", path, list)):
        p = f"{path}.httpEndpoints[{i}]"
        endpoints.append(
            HttpEndpoint(
                _get(e, "method", p, str),
                _segs_from(_get(e, "pathSuffix", p, list), f"{p}.pathSuffix"),
                _pairs(_get(e, "headerVars", p, list), f"{p}.headerVars"),
                _pairs(_get(e, "queryVars", p, list), f"{p}.queryVars"),
                _opt(e, "authRequired", p, bool),
                _strs(_get(e, "corsAllowed", p, list), f"{p}.corsAllowed"),
            )
        )
    return AgentMethod(
        _get(obj, "name", path, str),
        _get(obj, "description", path, str),
        tuple(endpoints),
        _opt(obj, "promptHint", path, str),
        schema_from_json(_get(obj, "inputSchema", path, dict), f"{path}.inputSchema"),
        schema_from_json(_get(obj, "outputSchema", path, dict), f"{path}.outputSchema"),
    )


def agent_type_from_json(obj: Any, path: str) -> AgentType:
    mount_obj = _opt(obj, "httpMount", path, dict)
    mp = f"{path}.httpMount"
    mount = (
        None
        if mount_obj is None
        else HttpMount(
            _segs_from(_get(mount_obj, "pathPrefix", mp, list), f"{mp}.pathPrefix"),
            _opt(mount_obj, "authRequired", mp, bool),
            _get(mount_obj, "phantomAgent", mp, bool),
            _strs(_get(mount_obj, "corsAllowed", mp, list), f"{mp}.corsAllowed"),
            _segs_from(_get(mount_obj, "webhookSuffix", mp, list), f"{mp}.webhookSuffix"),
        )
    )
    snap = _get(obj, "snapshotting", path, dict)
    kind = _get(snap, "kind", f"{path}.snapshotting", str)
    if kind not in ("disabled", "default", "periodic", "every-n-invocation"):
        raise _Bad(f"{path}.snapshotting.kind", f"unknown snapshotting {kind!r}")
    mode = _get(obj, "mode", path, str)
    if mode not in ("durable", "ephemeral"):
        raise _Bad(f"{path}.mode", f"unknown mode {mode!r}")
    config = []
    for i, c in enumerate(_get(obj, "config", path, list)):
        p = f"{path}.config[{i}]"
        source = _get(c, "source", p, str)
        if source not in ("local", "secret"):
            raise _Bad(f"{p}.source", f"unknown config source {source!r}")
        config.append(
            ConfigDeclaration(
                source,
                _strs(_get(c, "path", p, list), f"{p}.path"),
                type_from_json(c.get("valueType"), f"{p}.valueType"),
            )
        )
    deps = []
    for i, d in enumerate(_get(obj, "dependencies", path, list)):
        p = f"{path}.dependencies[{i}]"
        deps.append(
            AgentDependency(
                _get(d, "typeName", p, str),
                _opt(d, "description", p, str),
                _ctor_from(_get(d, "constructor", p, dict), f"{p}.constructor"),
                tuple(
                    _method_from(m, f"{p}.methods[{j}]")
                    for j, m in enumerate(_get(d, "methods", p, list))
                ),
            )
        )
    return AgentType(
        type_name=_get(obj, "typeName", path, str),
        description=_get(obj, "description", path, str),
        source_language=_get(obj, "sourceLanguage", path, str),
        constructor=_ctor_from(_get(obj, "constructor", path, dict), f"{path}.constructor"),
        methods=tuple(
            _method_from(m, f"{path}.methods[{i}]")
            for i, m in enumerate(_get(obj, "methods", path, list))
        ),
        dependencies=tuple(deps),
        mode=mode,
        http_mount=mount,
        snapshotting=Snapshotting(kind, _opt(snap, "value", f"{path}.snapshotting", int)),
        config=tuple(config),
    )


def types_from_json(text: str) -> list[AgentType]:
    try:
        doc = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"stored agent types are not JSON: {exc}", field="agent_types") from None
    try:
        version = _get(doc, "version", "$", int)
        if version != VERSION:
            raise _Bad("$.version", f"unknown version {version} (this host reads {VERSION})")
        items = _get(doc, "agentTypes", "$", list)
        return [agent_type_from_json(t, f"$.agentTypes[{i}]") for i, t in enumerate(items)]
    except _Bad as exc:
        raise InvalidInput(f"stored agent types are malformed: {exc}", field=exc.path) from None
