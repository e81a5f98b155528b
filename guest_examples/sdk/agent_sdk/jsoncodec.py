"""Typed JSON for promise payloads (no bindings needed).

:func:`encode` turns a value into JSON bytes: dataclasses become objects (field names as
written), enums their values, tuples and sets lists; anything else must be what
:func:`json.dumps` takes. :func:`decode` parses bytes and checks them against a type:

- ``Any`` / ``object`` (the default): the parsed JSON as it is;
- ``str``, ``int`` (not ``bool``), ``float`` (an int is accepted), ``bool``, ``None``;
- ``list[T]``, ``tuple[T, ...]``, ``tuple[A, B]``, ``dict[str, T]``, bare ``list``/``dict``;
- ``T | None`` / ``Optional[T]`` and other unions (the first arm that fits), ``Literal[...]``;
- ``Enum`` subclasses (by value);
- dataclasses: a JSON object; every field without a default must be present; keys that
  are not fields are ignored (as serde does by default); nested types are checked too.

A mismatch raises :class:`JsonDecodeError` naming where (``$.items[2].price``), what was
expected and what was found.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import json
import types
import typing
from typing import Any

__all__ = ["JsonDecodeError", "decode", "decode_value", "encode", "describe_type"]


class JsonDecodeError(ValueError):
    """The bytes are not JSON, or the JSON does not have the expected type."""

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(f"at {path}: {reason}" if path != "$" else reason)
        self.reason = reason
        self.path = path


def encode(value: Any) -> bytes:
    """JSON bytes (UTF-8) for a value; TypeError names what cannot be encoded."""
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":")).encode()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_plain(v) for v in items]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot encode a {type(value).__name__} as JSON: {value!r}")


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, enum.Enum) and isinstance(key.value, str):
        return key.value
    raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}: {key!r}")


def decode(data: bytes, tp: Any = Any) -> Any:
    """Parse JSON bytes and check/convert them to ``tp``; JsonDecodeError if impossible."""
    try:
        value = json.loads(data)
    except UnicodeDecodeError as exc:
        raise JsonDecodeError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # json.JSONDecodeError
        raise JsonDecodeError(f"not JSON ({exc})") from None
    return decode_value(value, tp)


def decode_value(value: Any, tp: Any, path: str = "$") -> Any:
    """Check/convert an already parsed JSON value to ``tp``."""
    if tp is Any or tp is object:
        return value
    if tp is None or tp is type(None):
        if value is not None:
            _mismatch("null", value, path)
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        errors = []
        for arm in typing.get_args(tp):
            try:
                return decode_value(value, arm, path)
            except JsonDecodeError as exc:
                errors.append(exc)
        # The most specific explanation: the deepest path reached.
        deepest = max(errors, key=lambda e: e.path.count(".") + e.path.count("["))
        if deepest.path != path:
            raise deepest
        _mismatch(describe_type(tp), value, path)
    if origin is typing.Literal:
        options = typing.get_args(tp)
        if value in options and any(type(value) is type(o) for o in options if o == value):
            return value
        raise JsonDecodeError(
            f"expected one of {', '.join(json.dumps(o) for o in options)}, got {_show(value)}",
            path,
        )
    if tp is bool:
        if not isinstance(value, bool):
            _mismatch("a boolean", value, path)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _mismatch("an integer", value, path)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _mismatch("a number", value, path)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            _mismatch("a string", value, path)
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(json.dumps(m.value) for m in tp)
            raise JsonDecodeError(
                f"expected one of {allowed} ({tp.__name__}), got {_show(value)}", path
            ) from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(value, tp, path)
    if tp is list or origin in (list, collections.abc.Sequence):
        if not isinstance(value, list):
            _mismatch("an array", value, path)
        (item,) = typing.get_args(tp) or (Any,)
        return [decode_value(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if tp is tuple or origin is tuple:
        if not isinstance(value, list):
            _mismatch("an array", value, path)
        args = typing.get_args(tp)
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            item = args[0] if args else Any
            return tuple(decode_value(v, item, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise JsonDecodeError(f"expected an array of {len(args)} items, got {len(value)}", path)
        pairs = enumerate(zip(value, args, strict=True))
        return tuple(decode_value(v, a, f"{path}[{i}]") for i, (v, a) in pairs)
    if tp is dict or origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            _mismatch("an object", value, path)
        args = typing.get_args(tp)
        item = args[1] if len(args) == 2 else Any
        return {k: decode_value(v, item, f"{path}.{k}") for k, v in value.items()}
    raise TypeError(f"agent_sdk cannot decode JSON into {describe_type(tp)}")


def _decode_dataclass(value: Any, tp: type, path: str) -> Any:
    if not isinstance(value, dict):
        _mismatch(f"an object ({tp.__name__})", value, path)
    hints = typing.get_type_hints(tp)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(tp):
        if not field.init:
            continue
        if field.name in value:
            kwargs[field.name] = decode_value(
                value[field.name], hints.get(field.name, Any), f"{path}.{field.name}"
            )
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise JsonDecodeError(f"missing field {field.name!r} of {tp.__name__}", path)
    try:
        return tp(**kwargs)
    except (TypeError, ValueError) as exc:  # a __post_init__ that validates
        raise JsonDecodeError(f"not a valid {tp.__name__}: {exc}", path) from None


def describe_type(tp: Any) -> str:
    """A short readable name for a type: ``Decision``, ``list[int]``, ``str | None``,
    ``Literal["approved", "rejected"]``."""
    if tp is Any:
        return "any JSON"
    if tp is None or tp is type(None):
        return "None"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(describe_type(a) for a in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(json.dumps(a) for a in args)}]"
    if origin is not None and args:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join('...' if a is Ellipsis else describe_type(a) for a in args)}]"
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def _show(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _mismatch(expected: str, value: Any, path: str) -> typing.NoReturn:
    raise JsonDecodeError(f"expected {expected}, got {_kind(value)} {_show(value)}", path)
