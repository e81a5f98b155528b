"""Neutral WIT-shaped data <-> componentize-py binding objects, driven by the bindings' hints.

The SDK builds agent types, schemas and values as plain data (records as dicts keyed by
the bindings' field names, variants as ``(case, payload)`` with WIT case names, enums as
their WIT case name, options as ``None`` or the value, results as ``("ok" | "err",
payload)``). :func:`to_binding` turns such data into instances of the generated classes
(``wit_world.imports.types.WitType``...), reading the target's type hints, and
:func:`from_binding` goes back. One generic path instead of one function per WIT type:
a case ``prim-string`` of ``wit-node`` is the class ``WitNode_PrimString``, an enum case
``durable`` the member ``DURABLE``.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from functools import cache
from typing import Any

__all__ = ["from_binding", "to_binding"]


def _camel(case: str) -> str:
    return "".join(part.capitalize() for part in case.split("-"))


def _kebab(camel: str) -> str:
    out = []
    for n, ch in enumerate(camel):
        if ch.isupper() and n and not camel[n - 1].isupper():
            out.append("-")
        elif ch.isupper() and n and n + 1 < len(camel) and camel[n + 1].islower():
            out.append("-")
        out.append(ch.lower())
    return "".join(out).replace("--", "-")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_result(hint: Any) -> bool:
    args = typing.get_args(hint)
    return len(args) == 2 and all(getattr(typing.get_origin(a), "__name__", "") in ("Ok", "Err")
                                  for a in args)  # fmt: skip


def _optional(hint: Any) -> Any | None:
    """T when hint is Optional[T], else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if type(None) in args:
            rest = [a for a in args if a is not type(None)]
            return rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
    return None


@cache
def _cases(hint: Any) -> dict[str, type]:
    """A variant's cases: WIT case name -> class (``WitNode_PrimString`` -> prim-string)."""
    out = {}
    for cls in typing.get_args(hint):
        _, _, case = cls.__name__.partition("_")
        out[_kebab(case)] = cls
    return out


def to_binding(value: Any, hint: Any) -> Any:
    """Neutral data as the binding type ``hint``."""
    if hint in (str, int, float, bool) or hint is Any:
        return value
    inner = _optional(hint)
    if inner is not None:
        return None if value is None else to_binding(value, inner)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list:
        return [to_binding(v, args[0]) for v in value]
    if origin is tuple:
        return tuple(to_binding(v, a) for v, a in zip(value, args, strict=True))
    if origin in (typing.Union, types.UnionType):
        if _is_result(hint):
            ok_cls, err_cls = (typing.get_origin(a) for a in args)
            which, payload = value
            cls, arg = (ok_cls, args[0]) if which == "ok" else (err_cls, args[1])
            return cls(to_binding(payload, typing.get_args(arg)[0]))
        case, payload = value
        cls = _cases(hint).get(case)
        if cls is None:
            raise ValueError(f"no case {case!r} in {hint}")
        fields = _hints(cls)
        return cls(to_binding(payload, fields["value"])) if "value" in fields else cls()
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint[value.replace("-", "_").upper()]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        fields = _hints(hint)
        return hint(**{k: to_binding(value[k], h) for k, h in fields.items()})
    return value


def from_binding(obj: Any, hint: Any) -> Any:
    """A binding object of type ``hint`` as neutral data."""
    if hint in (str, int, float, bool) or hint is Any:
        return obj
    inner = _optional(hint)
    if inner is not None:
        return None if obj is None else from_binding(obj, inner)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list:
        if args[0] is int and isinstance(obj, bytes | bytearray):
            return list(obj)
        return [from_binding(v, args[0]) for v in obj]
    if origin is tuple:
        return tuple(from_binding(v, a) for v, a in zip(obj, args, strict=True))
    if origin in (typing.Union, types.UnionType):
        if _is_result(hint):
            ok = type(obj).__name__ == "Ok"
            arg = typing.get_args(args[0] if ok else args[1])[0]
            return ("ok" if ok else "err", from_binding(obj.value, arg))
        _, _, case = type(obj).__name__.partition("_")
        fields = _hints(type(obj))  # type: ignore[arg-type]
        payload = from_binding(obj.value, fields["value"]) if "value" in fields else None
        return (_kebab(case), payload)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return obj.name.lower().replace("_", "-")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return {k: from_binding(getattr(obj, k), h) for k, h in _hints(hint).items()}
    return obj
