"""The one conversion path from what callers send (JSON, WAVE text) to an invocation's
parameters, and from its recorded result back to JSON.

An invocation's parameters travel and are stored as canonical WAVE text, one string per
parameter, typed by the function's signature. Every front end (CLI, REST, agent-declared
endpoints, the conformance adapters) converts through here, so a value is accepted or
refused with the same message whichever way it arrives.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from host.errors import InvalidInput
from host.values.jsonvalue import Json, from_json, to_json
from host.values.types import FuncSig, OptionT, Prim, Some, ValuesError, WitType
from host.values.wave import parse_args, parse_call, parse_value
from host.values.wave_print import format_value

Params = tuple[str, ...]


def split_call(call: str) -> tuple[str, str, int]:
    """``fn(args)`` -> (function name, argument text, offset of the arguments in ``call``)."""
    try:
        name, argtext = parse_call(call)
    except ValuesError as exc:
        raise InvalidInput(f"invalid call {call!r}: {exc}", field="call") from None
    return name, argtext, len(name) + 1


def params_from_wave(sig: FuncSig, argtext: str, base: int = 0) -> Params:
    """Canonical parameters from WAVE argument text (``1, "x", {a: 1}``)."""
    try:
        values = parse_args(argtext, sig.param_types, base=base)
    except ValuesError as exc:
        raise InvalidInput(f"invalid arguments for {sig.name}: {exc}", field="call") from None
    return canonical(sig, values)


def params_from_json(sig: FuncSig, values: Sequence[Any], where: str = "$.params") -> Params:
    """Canonical parameters from a JSON array typed by the function's parameter types."""
    _check_arity(sig, len(values))
    out = []
    for i, (value, (pname, ty)) in enumerate(zip(values, sig.params, strict=True)):
        try:
            out.append(format_value(from_json(value, ty, f"{where}[{i}]"), ty))
        except ValuesError as exc:
            raise InvalidInput(f"parameter {pname}: {exc}", field=f"params.{i}") from None
    return tuple(out)


def params_from_values(sig: FuncSig, values: Sequence[Any]) -> Params:
    """Canonical parameters from typed values (:mod:`host.values`)."""
    _check_arity(sig, len(values))
    return canonical(sig, values)


def canonical(sig: FuncSig, values: Sequence[Any]) -> Params:
    return tuple(format_value(v, t) for v, t in zip(values, sig.param_types, strict=True))


def check_params(sig: FuncSig, params: Sequence[str]) -> None:
    """Refuse parameters that are not WAVE values of the function's types (the durable
    queue's boundary: nothing undecodable is ever queued)."""
    _check_arity(sig, len(params))
    for text, (pname, ty) in zip(params, sig.params, strict=True):
        try:
            parse_value(text, ty)
        except ValuesError as exc:
            raise InvalidInput(f"invalid value for parameter {pname}: {exc}") from None


def result_to_json(sig: FuncSig, text: str | None) -> Json:
    """A recorded result (canonical WAVE) as JSON typed by the function's result type."""
    if sig.result is None or text is None:
        return None
    return to_json(parse_value(text, sig.result), sig.result)


def value_from_text(text: str, ty: WitType, where: str) -> Any:
    """A value given as bare text (a path, query or header variable): the text itself for
    strings, else JSON (numbers, booleans, ...) or WAVE."""
    if isinstance(ty, Prim) and ty.kind in ("string", "char"):
        return from_json(text, ty)
    if isinstance(ty, OptionT) and isinstance(ty.payload, Prim) and ty.payload.kind == "string":
        return Some(text)
    try:
        return from_json(json.loads(text), ty)
    except (ValueError, ValuesError):
        pass
    try:
        return parse_value(text, ty)
    except ValuesError as exc:
        raise InvalidInput(f"{where}: {exc}", field=where) from None


def _check_arity(sig: FuncSig, given: int) -> None:
    if given != len(sig.params):
        raise InvalidInput(
            f"{sig.name} takes {len(sig.params)} parameters, {given} given", field="params"
        )
