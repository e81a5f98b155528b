"""Values inside case files: references to what the run learned, and matchers.

Anywhere a case gives a JSON value (invocation arguments, payloads, expected results,
HTTP bodies), an object with exactly one ``$`` key (plus its options) stands for
something only known while the case runs:

==================================  =================================================
``{"$step": N}``                    the value step N produced (its result); options
                                    ``"path": [key or index, ...]`` and ``"plus": k``
``{"$agent": "alice"}``             the real name of the case's agent ``alice``
``{"$component": "high"}``          the case component's UUID: ``"high"``/``"low"``
                                    (u64 halves, as the WIT records carry it) or ``"id"``
``{"$pending": "alice"}``           the oplog index of alice's pending promise (exactly
                                    one, or ``"nth": i`` of the listing)
``{"$bytes": "text"}``              the UTF-8 bytes of the text, as a list of numbers
``{"$json_bytes": value}``          the bytes of ``value`` as compact JSON
``{"$unique": "acme"}``             a text unique to the run and the case instance,
                                    ``acme-<12 hex digits>`` (constructor parameters
                                    of agents a mount addresses without a phantom id)
==================================  =================================================

In expectations only, matchers: ``{"$type": "integer"}`` (any value of that JSON type),
``{"$regex": "..."}`` (a string that the pattern is found in), ``{"$not": value}``,
``{"$contains": value}`` (an array with an element that matches ``value``).

:func:`check` validates the structure when a case is loaded (errors name the JSON
path); :func:`resolve` substitutes references at run time; :func:`matches` compares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from host.conformance.errors import CaseError

JSON_TYPES = ("integer", "number", "string", "boolean", "null", "array", "object", "any")
AGENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
_REFS = {"$step", "$agent", "$component", "$pending", "$bytes", "$json_bytes", "$unique"}
_MATCHERS = {"$type", "$regex", "$not", "$contains"}
_OPTIONS = {"$step": {"path", "plus"}, "$pending": {"nth"}}


def is_int(value: Any, low: int | None = None, high: int | None = None) -> bool:
    """Whether ``value`` is a JSON integer (not a boolean) within [low, high]."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (low is None or value >= low)
        and (high is None or value <= high)
    )


@dataclass
class Facts:
    """What ``check`` learned about a value: the steps it refers to and whether it lists
    pending promises (which needs the ``promise-listing`` capability)."""

    steps: set[int] = field(default_factory=set)
    pending: bool = False
    kinds: set[str] = field(default_factory=set)  # the $-keys met


def check(value: Any, path: str, step_index: int | None, matchers: bool, facts: Facts) -> None:
    """Validate the references (and, where allowed, matchers) inside ``value``."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            check(item, f"{path}[{i}]", step_index, matchers, facts)
        return
    if not isinstance(value, dict):
        return
    dollar = [k for k in value if isinstance(k, str) and k.startswith("$")]
    if not dollar:
        for key, item in value.items():
            check(item, f"{path}.{key}", step_index, matchers, facts)
        return
    if len(dollar) > 1:
        raise CaseError(path, f"an object may hold one $-key, found {sorted(dollar)}")
    key = dollar[0]
    facts.kinds.add(key)
    allowed = _REFS | (_MATCHERS if matchers else set())
    if key not in allowed:
        where = "" if matchers or key not in _MATCHERS else " (matchers only in expectations)"
        raise CaseError(f"{path}.{key}", f"unknown reference{where}; known: {sorted(allowed)}")
    extra = set(value) - {key} - _OPTIONS.get(key, set())
    if extra:
        raise CaseError(f"{path}.{sorted(extra)[0]}", f"not an option of {key}")
    arg = value[key]
    at = f"{path}.{key}"
    if key == "$step":
        if not is_int(arg, 0):
            raise CaseError(at, "must be a step index (an integer >= 0)")
        if step_index is not None and arg >= step_index:
            raise CaseError(at, f"refers to step {arg}, which does not come before this one")
        facts.steps.add(arg)
        plus = value.get("plus", 0)
        if not is_int(plus):
            raise CaseError(f"{path}.plus", "must be an integer")
        parts = value.get("path", [])
        if not isinstance(parts, list):
            raise CaseError(f"{path}.path", "must be a list")
        for i, part in enumerate(parts):
            if not isinstance(part, str | int) or isinstance(part, bool):
                raise CaseError(f"{path}.path[{i}]", "must be an object key or an array index")
    elif key in ("$agent", "$pending", "$unique"):
        if not isinstance(arg, str) or not AGENT_NAME.match(arg):
            raise CaseError(at, f"must be an agent name matching {AGENT_NAME.pattern}")
        if key == "$pending":
            facts.pending = True
            nth = value.get("nth", 0)
            if not is_int(nth, 0):
                raise CaseError(f"{path}.nth", "must be an integer >= 0")
    elif key == "$component":
        if arg not in ("high", "low", "id"):
            raise CaseError(at, 'must be "high", "low" or "id"')
    elif key == "$bytes":
        if not isinstance(arg, str):
            raise CaseError(at, "must be a string")
    elif key == "$json_bytes":
        check(arg, at, step_index, False, facts)
    elif key == "$type":
        if arg not in JSON_TYPES:
            raise CaseError(at, f"must be one of {list(JSON_TYPES)}")
    elif key == "$regex":
        if not isinstance(arg, str):
            raise CaseError(at, "must be a string")
        try:
            re.compile(arg)
        except re.error as exc:
            raise CaseError(at, f"is not a regular expression: {exc}") from None
    elif key in ("$not", "$contains"):
        check(arg, at, step_index, matchers, facts)


class Unresolved(Exception):  # noqa: N818
    """A reference could not be resolved (a step without a value, no pending promise)."""


@dataclass
class Context:
    """What references resolve against while a case runs."""

    values: dict[int, Any]
    agent_name: Callable[[str], str]
    component_id: Callable[[], str]
    pending: Callable[[str], list[int]]
    unique: Callable[[str], str]


def resolve(value: Any, ctx: Context) -> Any:
    """``value`` with every reference replaced; matchers are kept for :func:`matches`."""
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    if not isinstance(value, dict):
        return value
    if "$step" in value:
        index = value["$step"]
        if index not in ctx.values:
            raise Unresolved(f"step {index} produced no value")
        found = ctx.values[index]
        for part in value.get("path", []):
            try:
                found = found[part]
            except (KeyError, IndexError, TypeError):
                raise Unresolved(f"step {index}'s value {found!r} has no {part!r}") from None
        plus = value.get("plus", 0)
        if plus:
            if not isinstance(found, int):
                raise Unresolved(f"step {index}'s value {found!r} is not an integer to add to")
            found = found + plus
        return found
    if "$agent" in value:
        return ctx.agent_name(value["$agent"])
    if "$unique" in value:
        return ctx.unique(value["$unique"])
    if "$component" in value:
        import uuid

        cid = uuid.UUID(ctx.component_id())
        part = value["$component"]
        if part == "id":
            return str(cid)
        return cid.int >> 64 if part == "high" else cid.int & 0xFFFF_FFFF_FFFF_FFFF
    if "$pending" in value:
        listed = ctx.pending(value["$pending"])
        nth = value.get("nth")
        if nth is None:
            if len(listed) != 1:
                raise Unresolved(
                    f"agent {value['$pending']} has {len(listed)} pending promises "
                    f"{listed}, not exactly one"
                )
            return listed[0]
        if nth >= len(listed):
            raise Unresolved(f"agent {value['$pending']} has no pending promise #{nth}: {listed}")
        return listed[nth]
    if "$bytes" in value:
        return list(value["$bytes"].encode("utf-8"))
    if "$json_bytes" in value:
        text = json.dumps(resolve(value["$json_bytes"], ctx), separators=(",", ":"))
        return list(text.encode("utf-8"))
    for matcher in ("$not", "$contains"):
        if matcher in value:
            return {matcher: resolve(value[matcher], ctx)}
    return {k: resolve(v, ctx) for k, v in value.items()}


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def matches(actual: Any, expected: Any, subset: bool = False) -> bool:
    """Whether ``actual`` equals the resolved ``expected`` (matchers evaluated). With
    ``subset``, an expected object needs only the keys it names (at every depth)."""
    if isinstance(expected, dict):
        if "$type" in expected:
            kind = expected["$type"]
            found = _type_of(actual)
            return kind == "any" or found == kind or (kind == "number" and found == "integer")
        if "$regex" in expected:
            return isinstance(actual, str) and re.search(expected["$regex"], actual) is not None
        if "$not" in expected:
            return not matches(actual, expected["$not"], subset)
        if "$contains" in expected:
            return isinstance(actual, list) and any(
                matches(a, expected["$contains"], subset) for a in actual
            )
        if not isinstance(actual, dict):
            return False
        if not subset and set(actual) != set(expected):
            return False
        return all(k in actual and matches(actual[k], v, subset) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(matches(a, e, subset) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(actual == expected)


def show(value: Any, limit: int = 200) -> str:
    """A value for a failure message: compact JSON, clipped."""
    try:
        text = json.dumps(value, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
