"""WAVE printing: one canonical form (explicit ``some``/``ok``, every record field) that
:mod:`host.values.wave`'s parser reads back to the same value."""

from __future__ import annotations

import math
from collections.abc import Sequence

from host.values.types import (
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
    VariantT,
    WitType,
    check,
    round_f32,
    variant_cases,
)

# Labels that are WAVE keywords are written with a leading ``%`` (the parser accepts both).
KEYWORDS = frozenset({"true", "false", "inf", "nan", "some", "none", "ok", "err"})
_SQUOTE, _DQUOTE = "'", '"'


def _label(name: str) -> str:
    return f"%{name}" if name in KEYWORDS else name


def _escape(text: str, quote: str) -> str:
    out: list[str] = []
    for c in text:
        if c == "\\" or c == quote:
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return "".join(out)


def format_float(value: float, kind: str = "f64") -> str:
    """A float as WAVE: ``nan``, ``inf``, ``-inf``, or the shortest text that reads back."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "f32":
        # The shortest decimal that rounds to the same f32, not the f64 expansion.
        for digits in range(1, 10):
            text = f"{value:.{digits}g}"
            try:
                if round_f32(float(text)) == value:
                    return text
            except OverflowError:  # a short rounding of a value near the f32 maximum
                continue
    return repr(value)


def _fmt(value: Value, ty: WitType) -> str:
    if isinstance(ty, Prim):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return format_float(value, ty.kind)
        if ty.kind == "char":
            return _SQUOTE + _escape(str(value), _SQUOTE) + _SQUOTE
        if ty.kind == "string":
            return _DQUOTE + _escape(str(value), _DQUOTE) + _DQUOTE
        return str(value)
    if isinstance(ty, ListT):
        assert isinstance(value, bytes | list)
        return "[" + ", ".join(_fmt(v, ty.elem) for v in value) + "]"
    if isinstance(ty, TupleT):
        assert isinstance(value, tuple)
        return "(" + ", ".join(_fmt(v, t) for v, t in zip(value, ty.elems, strict=True)) + ")"
    if isinstance(ty, RecordT):
        assert isinstance(value, dict)
        if not ty.fields:
            return "{:}"
        return "{" + ", ".join(f"{n}: {_fmt(value[n], t)}" for n, t in ty.fields) + "}"
    if isinstance(ty, FlagsT):
        assert isinstance(value, frozenset)
        return "{" + ", ".join(_label(n) for n in ty.names if n in value) + "}"
    if isinstance(ty, EnumT):
        return _label(str(value))
    if isinstance(ty, OptionT):
        if value is None:
            return "none"
        assert isinstance(value, Some)
        return f"some({_fmt(value.value, ty.payload)})"
    if isinstance(value, ResourceRef):
        return _DQUOTE + _escape(value.text, _DQUOTE) + _DQUOTE
    assert isinstance(value, Case) and isinstance(ty, VariantT | ResultT)
    label = value.name if isinstance(ty, ResultT) else _label(value.name)
    payload_ty = dict(variant_cases(ty))[value.name]
    return label if payload_ty is None else f"{label}({_fmt(value.value, payload_ty)})"


def format_value(value: Value, ty: WitType) -> str:
    """Write ``value`` of type ``ty`` as WAVE; :func:`parse_value` reads it back equal.

    Raises :class:`~host.values.types.ValueTypeError` if the value does not fit the type.
    """
    check(value, ty, handles=False)
    return _fmt(value, ty)


def format_call(name: str, values: Sequence[Value], types: Sequence[WitType]) -> str:
    """Write ``name(arg, ...)``; the inverse of :func:`parse_call` + :func:`parse_args`."""
    if len(values) != len(types):
        raise ValueError(f"{name}: {len(types)} parameter types but {len(values)} values")
    for i, (value, ty) in enumerate(zip(values, types, strict=True)):
        check(value, ty, f"$.params[{i}]", handles=False)
    return f"{name}(" + ", ".join(_fmt(v, t) for v, t in zip(values, types, strict=True)) + ")"
