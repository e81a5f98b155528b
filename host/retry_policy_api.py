"""A named retry policy as Golem's public oplog writes it: ``PublicNamedRetryPolicy``,
whose ``predicate`` is an ``ApiPredicate`` and whose ``policy`` is an ``ApiRetryPolicy``
(golem-common's base_model/retry_policy.rs, the schemas of Golem 1.5's worker-service
OpenAPI document).

Both are internally tagged objects (``{"type": "CountBox", "maxRetries": 3, "inner":
{...}}``); durations are whole milliseconds (``delayMs``, ``baseDelayMs``, ``limitMs``
...), truncated from the tree's nanoseconds as Golem's ``Duration::as_millis`` does; a
predicate value is ``{"type": "Text"|"Integer"|"Boolean", "value": ...}``.

:func:`named_to_api` writes the form (the REST oplog's set-retry-policy entries);
:func:`named_from_api` reads it back, for clients and tests that hold Golem's JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from host.errors import InvalidInput
from host.retry_policy import NamedPolicy, Tree

Json = dict[str, Any]

_NS_PER_MS = 1_000_000
_I64 = (-(1 << 63), 1 << 63)

# Tree node name <-> ApiPredicate tag.
_PREDICATES = {
    "prop-eq": "PropEq",
    "prop-neq": "PropNeq",
    "prop-gt": "PropGt",
    "prop-gte": "PropGte",
    "prop-lt": "PropLt",
    "prop-lte": "PropLte",
    "prop-exists": "PropExists",
    "prop-in": "PropIn",
    "prop-matches": "PropMatches",
    "prop-starts-with": "PropStartsWith",
    "prop-contains": "PropContains",
    "pred-and": "And",
    "pred-or": "Or",
    "pred-not": "Not",
    "pred-true": "True",
    "pred-false": "False",
}
# The text argument's field of the pattern predicates.
_TEXT_FIELD = {
    "prop-matches": "pattern",
    "prop-starts-with": "prefix",
    "prop-contains": "substring",
}

# Tree node name -> (ApiRetryPolicy tag, its fields in the tree's argument order); a field
# ending in "Ms" is a duration, "inner"/"first"/"second" a policy, "predicate" a predicate.
_POLICIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "periodic": ("Periodic", ("delayMs",)),
    "exponential": ("Exponential", ("baseDelayMs", "factor")),
    "fibonacci": ("Fibonacci", ("firstMs", "secondMs")),
    "immediate": ("Immediate", ()),
    "never": ("Never", ()),
    "count-box": ("CountBox", ("maxRetries", "inner")),
    "time-box": ("TimeBox", ("limitMs", "inner")),
    "clamp-delay": ("Clamp", ("minDelayMs", "maxDelayMs", "inner")),
    "add-delay": ("AddDelay", ("delayMs", "inner")),
    "jitter": ("Jitter", ("factor", "inner")),
    "filtered-on": ("FilteredOn", ("predicate", "inner")),
    "and-then": ("AndThen", ("first", "second")),
    "policy-union": ("Union", ("first", "second")),
    "policy-intersect": ("Intersect", ("first", "second")),
}
_PREDICATE_NODES = {tag: node for node, tag in _PREDICATES.items()}
_POLICY_NODES = {tag: node for node, (tag, _) in _POLICIES.items()}


def value_to_api(value: str | int | bool) -> Json:
    """An ``ApiPredicateValue``."""
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value}
    if isinstance(value, int):
        return {"type": "Integer", "value": value}
    return {"type": "Text", "value": value}


def predicate_to_api(tree: Tree) -> Json:
    """An ``ApiPredicate`` from a predicate tree of :mod:`host.retry_policy`."""
    op = tree[0]
    out: Json = {"type": _PREDICATES[op]}
    if op in ("pred-and", "pred-or"):
        out.update(left=predicate_to_api(tree[1]), right=predicate_to_api(tree[2]))
    elif op == "pred-not":
        out["predicate"] = predicate_to_api(tree[1])
    elif op in ("pred-true", "pred-false"):
        pass
    elif op == "prop-exists":
        out["property"] = tree[1]
    elif op == "prop-in":
        out.update(property=tree[1], values=[value_to_api(v) for v in tree[2]])
    elif op in _TEXT_FIELD:
        out.update({"property": tree[1], _TEXT_FIELD[op]: tree[2]})
    else:
        out.update(property=tree[1], value=value_to_api(tree[2]))
    return out


def policy_to_api(tree: Tree) -> Json:
    """An ``ApiRetryPolicy`` from a policy tree of :mod:`host.retry_policy`."""
    tag, fields = _POLICIES[tree[0]]
    out: Json = {"type": tag}
    for field, arg in zip(fields, tree[1:], strict=True):
        if field.endswith("Ms"):
            out[field] = int(arg) // _NS_PER_MS
        elif field == "predicate":
            out[field] = predicate_to_api(arg)
        elif field in ("inner", "first", "second"):
            out[field] = policy_to_api(arg)
        elif field == "factor":
            out[field] = float(arg)
        else:
            out[field] = int(arg)
    return out


def named_to_api(policy: NamedPolicy) -> Json:
    """Golem's ``PublicNamedRetryPolicy``."""
    return {
        "name": policy.name,
        "priority": policy.priority,
        "predicate": predicate_to_api(policy.predicate),
        "policy": policy_to_api(policy.policy),
    }


def _bad(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"retry policy {where}: {message}", where)


def _object(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping) or not isinstance(data.get("type"), str):
        raise _bad(where, 'expected an object with a "type"')
    return data


def _field(data: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in data:
        raise _bad(where, f'{data["type"]} needs "{name}"')
    return data[name]


def _text(data: Mapping[str, Any], name: str, where: str) -> str:
    value = _field(data, name, where)
    if not isinstance(value, str):
        raise _bad(f"{where}.{name}", "expected a string")
    return value


def _uint(data: Mapping[str, Any], name: str, where: str, bits: int) -> int:
    value = _field(data, name, where)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise _bad(f"{where}.{name}", f"expected an integer from 0 to 2^{bits}-1")
    return value


def value_from_api(data: Any, where: str) -> str | int | bool:
    """A predicate value from an ``ApiPredicateValue``."""
    obj = _object(data, where)
    value = _field(obj, "value", where)
    kind = obj["type"]
    if kind == "Integer":
        if isinstance(value, bool) or not isinstance(value, int) or not _I64[0] <= value < _I64[1]:
            raise _bad(f"{where}.value", "expected a 64-bit integer")
        return value
    if kind == "Text":
        if not isinstance(value, str):
            raise _bad(f"{where}.value", "expected a string")
        return value
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise _bad(f"{where}.value", "expected a boolean")
        return value
    raise _bad(where, f"unknown predicate value type {kind!r}")


def predicate_from_api(data: Any, where: str = "predicate") -> Tree:
    """A predicate tree from an ``ApiPredicate``; InvalidInput names the node at fault."""
    obj = _object(data, where)
    op = _PREDICATE_NODES.get(obj["type"])
    if op is None:
        raise _bad(where, f"unknown predicate type {obj['type']!r}")
    if op in ("pred-and", "pred-or"):
        return (
            op,
            predicate_from_api(_field(obj, "left", where), f"{where}.left"),
            predicate_from_api(_field(obj, "right", where), f"{where}.right"),
        )
    if op == "pred-not":
        return (op, predicate_from_api(_field(obj, "predicate", where), f"{where}.predicate"))
    if op in ("pred-true", "pred-false"):
        return (op,)
    prop = _text(obj, "property", where)
    if op == "prop-exists":
        return (op, prop)
    if op == "prop-in":
        values = _field(obj, "values", where)
        if not isinstance(values, list):
            raise _bad(f"{where}.values", "expected an array")
        return (
            op,
            prop,
            tuple(value_from_api(v, f"{where}.values.{i}") for i, v in enumerate(values)),
        )
    if op in _TEXT_FIELD:
        return (op, prop, _text(obj, _TEXT_FIELD[op], where))
    return (op, prop, value_from_api(_field(obj, "value", where), f"{where}.value"))


def policy_from_api(data: Any, where: str = "policy") -> Tree:
    """A policy tree from an ``ApiRetryPolicy``; InvalidInput names the node at fault."""
    obj = _object(data, where)
    node = _POLICY_NODES.get(obj["type"])
    if node is None:
        raise _bad(where, f"unknown policy type {obj['type']!r}")
    args: list[Any] = []
    for field in _POLICIES[node][1]:
        at = f"{where}.{field}"
        if field.endswith("Ms"):
            args.append(_uint(obj, field, where, 64) * _NS_PER_MS)
        elif field == "predicate":
            args.append(predicate_from_api(_field(obj, field, where), at))
        elif field in ("inner", "first", "second"):
            args.append(policy_from_api(_field(obj, field, where), at))
        elif field == "factor":
            factor = _field(obj, field, where)
            if isinstance(factor, bool) or not isinstance(factor, int | float):
                raise _bad(at, "expected a number")
            args.append(float(factor))
        else:
            args.append(_uint(obj, field, where, 32))
    return (node, *args)


def named_from_api(data: Any) -> NamedPolicy:
    """A named policy from Golem's ``PublicNamedRetryPolicy`` JSON."""
    if not isinstance(data, Mapping):
        raise _bad("", "expected an object")
    name = data.get("name")
    priority = data.get("priority")
    if not isinstance(name, str) or not name:
        raise _bad("name", "expected a non-empty string")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority < 1 << 32:
        raise _bad("priority", "expected an integer from 0 to 2^32-1")
    return NamedPolicy(
        name,
        priority,
        predicate_from_api(data.get("predicate")),
        policy_from_api(data.get("policy")),
    )


__all__ = [
    "named_from_api",
    "named_to_api",
    "policy_from_api",
    "policy_to_api",
    "predicate_from_api",
    "predicate_to_api",
    "value_from_api",
    "value_to_api",
]
