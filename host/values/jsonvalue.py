"""Values as JSON, Golem style, driven by their WIT types.

=====================  ===============================================================
WIT type               JSON
=====================  ===============================================================
``bool``               ``true`` / ``false``
integers               numbers (``u64``/``s64`` too: Python's ``json`` keeps them exact)
``f32``, ``f64``       numbers; nan and infinities as ``"NaN"``, ``"Infinity"``,
                       ``"-Infinity"``; integers are accepted on input
``char``, ``string``   strings (a char is a one-character string)
``list<u8>``           array of numbers 0..255
``list``, ``tuple``    arrays
``record``             object with kebab-case keys; an option field may be left out on
                       input (none) and is ``null`` on output
``variant``            ``{"<case>": payload}``, payload ``null`` for a case without one
``result``             ``{"ok": v}`` / ``{"err": e}``, ``null`` where the side has no type
``enum``               the case name as a string
``flags``              array of the set flag names (declaration order on output)
``option<T>``          ``null`` for none, the payload itself for some; but when ``T`` is
                       itself an option, some is wrapped: ``{"some": ...}``, so
                       ``option<option<u32>>`` is ``null`` / ``{"some": null}`` /
                       ``{"some": 5}``
resources              an exported resource's instance (``ResourceRef``) as Golem's
                       handle string ``"urn:worker:<component>/<agent>/<id>"``; live
                       handles are refused: they cannot be written as values
=====================  ===============================================================

Errors from :func:`from_json` are :class:`ValueJsonError` with a JSON path such as
``$.params[1].name`` and what was expected.

The oplog records host-call requests and responses in this JSON too, with one
difference (``compact_bytes=True``): a ``list<u8>`` is ``{"$bytes": <bytes>}``, the raw
Python bytes, rather than an array of numbers (guest stdout, random bytes, promise
payloads, HTTP bodies). The store keeps those bytes in the entry's BLOB column
(:mod:`host.oplog_codec`); the oplog's text form (``oplog.encode``, golden files, the
REST API's oplog pages) writes them as ``{"$bytes": "<base64>"}``. Reading with
``compact_bytes=True`` accepts all three (bytes, base64, an array of numbers), so
oplogs written before still replay. The REST API's JSON (invocation parameters and
results) keeps Golem's arrays.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import TypeAlias

from host.values.types import (
    FLOAT_KINDS,
    INT_RANGES,
    U8,
    Case,
    EnumT,
    FlagsT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResourceRef,
    ResultT,
    Some,
    TupleT,
    Value,
    ValuesError,
    VariantT,
    WitType,
    check,
    describe,
    is_scalar_char,
    is_scalar_string,
    round_f32,
    variant_cases,
)
from host.values.wave_print import format_float

Json: TypeAlias = None | bool | int | float | str | bytes | list["Json"] | dict[str, "Json"]
# (bytes only in the oplog's compact form: ``{"$bytes": <bytes>}``)

_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class ValueJsonError(ValuesError):
    """JSON that does not fit a WIT type; ``path`` locates it (``$.params[1].name``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _show(obj: object, limit: int = 60) -> str:
    try:
        text = json.dumps(obj, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- to JSON -----------------------------------------------------------------------------


BYTES_KEY = "$bytes"


def bytes_to_json(data: bytes) -> Json:
    """A ``list<u8>`` as the oplog records it: ``{"$bytes": <the bytes>}`` (stored as a
    BLOB, written as base64 in the oplog's text form)."""
    return {BYTES_KEY: bytes(data)}


def to_json(value: Value, ty: WitType, *, compact_bytes: bool = False) -> Json:
    """Encode ``value`` of type ``ty`` as a JSON-compatible Python object; with
    ``compact_bytes``, each ``list<u8>`` as :func:`bytes_to_json` (the oplog's form).

    Raises :class:`~host.values.types.ValueTypeError` if the value does not fit the type.
    """
    check(value, ty, handles=False)
    return _to(value, ty, compact_bytes)


def _float_to_json(value: float, kind: str) -> Json:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    # An f32 is written as its shortest decimal (0.1, not 0.10000000149011612); reading it
    # back rounds to the same f32.
    return float(format_float(value, kind)) if kind == "f32" else value


def _to(value: Value, ty: WitType, cb: bool = False) -> Json:
    if isinstance(value, ResourceRef):
        return value.text  # Golem's JSON for a handle
    if isinstance(ty, Prim):
        if isinstance(value, float):
            return _float_to_json(value, ty.kind)
        assert isinstance(value, bool | int | str)
        return value
    if isinstance(ty, ListT):
        if isinstance(value, bytes):
            return bytes_to_json(value) if cb else list(value)
        assert isinstance(value, list)
        if cb and ty.elem == U8:
            return bytes_to_json(bytes(value))  # type: ignore[arg-type]
        return [_to(v, ty.elem, cb) for v in value]
    if isinstance(ty, TupleT):
        assert isinstance(value, tuple)
        return [_to(v, t, cb) for v, t in zip(value, ty.elems, strict=True)]
    if isinstance(ty, RecordT):
        assert isinstance(value, dict)
        return {name: _to(value[name], t, cb) for name, t in ty.fields}
    if isinstance(ty, OptionT):
        if value is None:
            return None
        assert isinstance(value, Some)
        inner = _to(value.value, ty.payload, cb)
        return {"some": inner} if isinstance(ty.payload, OptionT) else inner
    if isinstance(ty, EnumT):
        assert isinstance(value, str)
        return value
    if isinstance(ty, FlagsT):
        assert isinstance(value, frozenset)
        return [name for name in ty.names if name in value]
    assert isinstance(value, Case) and isinstance(ty, VariantT | ResultT)
    payload_ty = dict(variant_cases(ty))[value.name]
    return {value.name: None if payload_ty is None else _to(value.value, payload_ty, cb)}


# --- from JSON ---------------------------------------------------------------------------


def from_json(obj: object, ty: WitType, path: str = "$", *, compact_bytes: bool = False) -> Value:
    """Decode JSON ``obj`` (as ``json.loads`` returns it) into a value of ``ty``.

    ``path`` names ``obj`` in error messages, e.g. ``"$.params[1]"`` for an argument.
    With ``compact_bytes`` (the oplog's JSON), a ``list<u8>`` may also be
    ``{"$bytes": <bytes>}`` or ``{"$bytes": "<base64>"}``.
    """
    cb = compact_bytes
    if isinstance(ty, Prim):
        return _prim(obj, ty.kind, path)
    if cb and isinstance(ty, ListT) and ty.elem == U8 and isinstance(obj, dict):
        return _bytes(obj, path)
    if isinstance(ty, ListT | TupleT):
        if not isinstance(obj, list):
            raise ValueJsonError(path, f"expected {describe(ty)} as an array, got {_show(obj)}")
        if isinstance(ty, TupleT):
            if len(obj) != len(ty.elems):
                raise ValueJsonError(
                    path, f"expected {describe(ty)} with {len(ty.elems)} elements, got {len(obj)}"
                )
            return tuple(
                from_json(o, t, f"{path}[{i}]", compact_bytes=cb)
                for i, (o, t) in enumerate(zip(obj, ty.elems, strict=True))
            )
        items = [from_json(o, ty.elem, f"{path}[{i}]", compact_bytes=cb) for i, o in enumerate(obj)]
        return bytes(items) if ty.elem == U8 else items  # type: ignore[arg-type]
    if isinstance(ty, RecordT):
        return _record(obj, ty, path, cb)
    if isinstance(ty, OptionT):
        if obj is None:
            return None
        if isinstance(ty.payload, OptionT):
            if not isinstance(obj, dict) or set(obj) != {"some"}:
                raise ValueJsonError(
                    path, f'expected {describe(ty)} as null or {{"some": ...}}, got {_show(obj)}'
                )
            return Some(from_json(obj["some"], ty.payload, f"{path}.some", compact_bytes=cb))
        return Some(from_json(obj, ty.payload, path, compact_bytes=cb))
    if isinstance(ty, VariantT | ResultT):
        return _case(obj, ty, path, cb)
    if isinstance(ty, EnumT):
        if not isinstance(obj, str) or obj not in ty.names:
            raise ValueJsonError(path, f"expected one of {describe(ty)}, got {_show(obj)}")
        return obj
    if isinstance(ty, FlagsT):
        return _flags(obj, ty, path)
    if isinstance(obj, str):  # Golem's JSON for a handle: "<uri>/<id>"
        try:
            return ResourceRef.parse(obj)
        except ValueError as exc:
            raise ValueJsonError(path, f"{describe(ty)}: {exc}") from None
    raise ValueJsonError(
        path, f'expected {describe(ty)} as a handle string "<uri>/<id>", got {_show(obj)}'
    )


def _bytes(obj: dict[str, object], path: str) -> bytes:
    text = obj.get(BYTES_KEY)
    if isinstance(text, bytes) and len(obj) == 1:
        return text
    if set(obj) != {BYTES_KEY} or not isinstance(text, str):
        raise ValueJsonError(
            path, f'expected list<u8> as {{"$bytes": "<base64>"}}, got {_show(obj)}'
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueJsonError(path, f"list<u8>: invalid base64 {_show(text)}") from None


def _prim(obj: object, kind: str, path: str) -> Value:
    if kind == "bool":
        if isinstance(obj, bool):
            return obj
    elif kind in INT_RANGES:
        if isinstance(obj, int) and not isinstance(obj, bool):
            lo, hi = INT_RANGES[kind]
            if not lo <= obj <= hi:
                raise ValueJsonError(path, f"{kind} out of range ({lo}..={hi}): {obj}")
            return obj
    elif kind in FLOAT_KINDS:
        number: float | None = None
        if isinstance(obj, int | float) and not isinstance(obj, bool):
            try:
                number = float(obj)
            except OverflowError:  # an integer beyond any float
                raise ValueJsonError(path, f"{kind} out of range: {obj}") from None
        elif isinstance(obj, str) and obj in _SPECIAL_FLOATS:
            number = _SPECIAL_FLOATS[obj]
        if number is not None:
            if kind == "f64":
                return number
            try:
                return round_f32(number)
            except OverflowError:
                raise ValueJsonError(path, f"f32 out of range: {obj}") from None
    elif kind == "char":
        if isinstance(obj, str) and is_scalar_char(obj):
            return obj
    elif isinstance(obj, str):
        if not is_scalar_string(obj):
            raise ValueJsonError(path, "expected string, got text with a lone surrogate")
        return obj
    expected = "char (a one-character string)" if kind == "char" else kind
    raise ValueJsonError(path, f"expected {expected}, got {_show(obj)}")


def _record(obj: object, ty: RecordT, path: str, cb: bool = False) -> Value:
    if not isinstance(obj, dict):
        raise ValueJsonError(path, f"expected {describe(ty)} as an object, got {_show(obj)}")
    types = dict(ty.fields)
    for key in obj:
        if key not in types:
            raise ValueJsonError(path, f"unknown field {key!r} for {describe(ty)}")
    out: dict[str, Value] = {}
    for name, field_ty in ty.fields:
        if name in obj:
            out[name] = from_json(obj[name], field_ty, f"{path}.{name}", compact_bytes=cb)
        elif isinstance(field_ty, OptionT):
            out[name] = None
        else:
            raise ValueJsonError(path, f"missing field {name!r} of {describe(ty)}")
    return out


def _case(obj: object, ty: VariantT | ResultT, path: str, cb: bool = False) -> Value:
    cases = dict(variant_cases(ty))
    if not isinstance(obj, dict) or len(obj) != 1 or next(iter(obj)) not in cases:
        names = ", ".join(f'{{"{n}": ...}}' for n in cases)
        raise ValueJsonError(path, f"expected {describe(ty)} as one of {names}, got {_show(obj)}")
    ((name, payload),) = obj.items()
    payload_ty = cases[name]
    if payload_ty is None:
        if payload is not None:
            raise ValueJsonError(
                f"{path}.{name}",
                f"case {name!r} has no payload: expected null, got {_show(payload)}",
            )
        return Case(name)
    return Case(name, from_json(payload, payload_ty, f"{path}.{name}", compact_bytes=cb))


def _flags(obj: object, ty: FlagsT, path: str) -> Value:
    if not isinstance(obj, list):
        raise ValueJsonError(
            path, f"expected {describe(ty)} as an array of names, got {_show(obj)}"
        )
    names: set[str] = set()
    for i, name in enumerate(obj):
        if not isinstance(name, str) or name not in ty.names:
            raise ValueJsonError(
                f"{path}[{i}]", f"expected a flag of {describe(ty)}, got {_show(name)}"
            )
        if name in names:
            raise ValueJsonError(f"{path}[{i}]", f"flag {name!r} given twice")
        names.add(name)
    return frozenset(names)
