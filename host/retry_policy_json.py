"""The JSON form of a named retry policy, as the host-wide policies (REST, CLI, the store)
take it, checked node by node.

It is the tree of :mod:`host.retry_policy` written as nested JSON arrays, the form the
``set-retry-policy`` oplog entry already keeps::

    {"name": "http-5xx", "priority": 30,
     "predicate": ["prop-gte", "status-code", 500],
     "policy": ["count-box", 5, ["exponential", 100000000, 2.0]]}

Durations are nanoseconds (integers); a predicate value is a string, an integer or a
boolean. Node names are the WIT cases of ``golem:api/retry@1.5.0`` (``prop-eq`` ...
``pred-false``; ``periodic`` ... ``policy-intersect``). A malformed form is
:class:`~host.errors.InvalidInput` naming the node at fault (``policy.2.1``), so REST
answers 400 and the CLI exits 2; nothing reaches the store unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from host.errors import InvalidInput, NotFound
from host.retry_policy import MAX_NS, NamedPolicy, Tree, named_from_json, named_to_json

_COMPARISONS = ("prop-eq", "prop-neq", "prop-gt", "prop-gte", "prop-lt", "prop-lte")
_PATTERNS = ("prop-matches", "prop-starts-with", "prop-contains")
_U32 = (1 << 32) - 1
# Policy nodes: their arguments' kinds, then whether the last is an inner policy.
_POLICY_ARGS: dict[str, tuple[str, ...]] = {
    "periodic": ("ns",),
    "exponential": ("ns", "float"),
    "fibonacci": ("ns", "ns"),
    "immediate": (),
    "never": (),
    "count-box": ("u32", "policy"),
    "time-box": ("ns", "policy"),
    "clamp-delay": ("ns", "ns", "policy"),
    "add-delay": ("ns", "policy"),
    "jitter": ("float", "policy"),
    "filtered-on": ("predicate", "policy"),
    "and-then": ("policy", "policy"),
    "policy-union": ("policy", "policy"),
    "policy-intersect": ("policy", "policy"),
}


class RetryPolicyNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"no host-wide retry policy {name!r} (list them with `agent-host retry-policy list`)"
        )
        self.name = name


def _bad(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"retry policy {where}: {message}", where)


def _node(data: Any, where: str) -> tuple[str, list[Any]]:
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise _bad(where, f"a node is an array whose first item is its name, not {data!r:.64}")
    return data[0], data[1:]


def _value(data: Any, where: str) -> Any:
    if isinstance(data, bool | str) or (isinstance(data, int) and -(1 << 63) <= data < 1 << 63):
        return data
    raise _bad(where, f"a predicate value is a string, a 64-bit integer or a boolean: {data!r:.64}")


def _text(data: Any, where: str) -> str:
    if not isinstance(data, str):
        raise _bad(where, f"expected a string, not {data!r:.64}")
    return data


def predicate(data: Any, where: str = "predicate") -> Tree:
    name, args = _node(data, where)

    def arity(n: int) -> None:
        if len(args) != n:
            raise _bad(where, f"{name} takes {n} argument(s), not {len(args)}")

    if name in _COMPARISONS:
        arity(2)
        return (name, _text(args[0], f"{where}.1"), _value(args[1], f"{where}.2"))
    if name == "prop-exists":
        arity(1)
        return (name, _text(args[0], f"{where}.1"))
    if name == "prop-in":
        arity(2)
        if not isinstance(args[1], list):
            raise _bad(f"{where}.2", "prop-in takes an array of values")
        values = tuple(_value(v, f"{where}.2.{i}") for i, v in enumerate(args[1]))
        return (name, _text(args[0], f"{where}.1"), values)
    if name in _PATTERNS:
        arity(2)
        return (name, _text(args[0], f"{where}.1"), _text(args[1], f"{where}.2"))
    if name in ("pred-and", "pred-or"):
        arity(2)
        return (name, predicate(args[0], f"{where}.1"), predicate(args[1], f"{where}.2"))
    if name == "pred-not":
        arity(1)
        return (name, predicate(args[0], f"{where}.1"))
    if name in ("pred-true", "pred-false"):
        arity(0)
        return (name,)
    raise _bad(where, f"unknown predicate node {name!r:.64}")


def policy(data: Any, where: str = "policy") -> Tree:
    name, args = _node(data, where)
    kinds = _POLICY_ARGS.get(name)
    if kinds is None:
        raise _bad(where, f"unknown policy node {name!r:.64}")
    if len(args) != len(kinds):
        raise _bad(where, f"{name} takes {len(kinds)} argument(s), not {len(args)}")
    out: list[Any] = [name]
    for i, (kind, arg) in enumerate(zip(kinds, args, strict=True), start=1):
        at = f"{where}.{i}"
        if kind == "policy":
            out.append(policy(arg, at))
        elif kind == "predicate":
            out.append(predicate(arg, at))
        elif kind == "float":
            if isinstance(arg, bool) or not isinstance(arg, int | float) or arg < 0:
                raise _bad(at, f"expected a non-negative number, not {arg!r:.64}")
            out.append(float(arg))
        else:
            top = _U32 if kind == "u32" else MAX_NS
            if isinstance(arg, bool) or not isinstance(arg, int) or not 0 <= arg <= top:
                unit = "count" if kind == "u32" else "duration in nanoseconds"
                raise _bad(at, f"expected a {unit} from 0 to {top}, not {arg!r:.64}")
            out.append(arg)
    return tuple(out)


def parse_named(data: Any, name: str | None = None) -> NamedPolicy:
    """A named policy from its JSON form; ``name``, when given (a REST path, a CLI
    argument), is the policy's and the body's own, if any, must agree."""
    if not isinstance(data, Mapping):
        raise InvalidInput("a retry policy is a JSON object", None)
    extra = set(data) - {"name", "priority", "predicate", "policy"}
    if extra:
        raise _bad(sorted(extra)[0], "unknown field (name, priority, predicate, policy)")
    given = data.get("name", name)
    if name is not None and given != name:
        raise _bad("name", f"the body names {given!r:.64}, the request {name!r:.64}")
    if not isinstance(given, str) or not given:
        raise _bad("name", "a retry policy needs a non-empty name")
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= _U32:
        raise _bad("priority", f"expected an integer from 0 to {_U32}, not {priority!r:.64}")
    for key in ("predicate", "policy"):
        if key not in data:
            raise _bad(key, "missing")
    return NamedPolicy(given, priority, predicate(data["predicate"]), policy(data["policy"]))


def to_json(named: NamedPolicy) -> dict[str, Any]:
    return named_to_json(named)


class _PolicyStore(Protocol):
    def list_retry_policies(self) -> list[dict[str, object]]: ...


def stored_policies(store: _PolicyStore) -> list[NamedPolicy]:
    """The host-wide policies a store keeps, by name (each was checked when it was set)."""
    return [named_from_json(data) for data in store.list_retry_policies()]


__all__ = [
    "RetryPolicyNotFound",
    "parse_named",
    "policy",
    "predicate",
    "stored_policies",
    "to_json",
]
