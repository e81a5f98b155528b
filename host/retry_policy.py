"""Golem 1.5's named retry policies (``golem:api/retry@1.5.0``): the model, no wasmtime.

A named policy is (name, priority, predicate, policy). The predicate is evaluated over a
property map (``verb``, ``noun-uri``, ``trap-type``, ...); named policies are tried in
descending priority and the first whose predicate matches is the one applied. A policy is
a tree of delay nodes and combinators, stepped once per retry with a state that carries
counters between attempts (Golem's ``RetryPolicyState``, persisted with each failure so
another process computes the same next step).

Trees are plain nested tuples, which are also their JSON form (as lists):

* predicate: ``("prop-eq", name, value)`` .. ``("prop-lte", ...)``, ``("prop-exists",
  name)``, ``("prop-in", name, (values...))``, ``("prop-matches"|"prop-starts-with"|
  "prop-contains", name, text)``, ``("pred-and"|"pred-or", left, right)``, ``("pred-not",
  p)``, ``("pred-true",)``, ``("pred-false",)``; a value is a ``str``, ``int`` or ``bool``;
* policy: ``("periodic", ns)``, ``("exponential", base_ns, factor)``, ``("fibonacci",
  first_ns, second_ns)``, ``("immediate",)``, ``("never",)``, ``("count-box", n, inner)``,
  ``("time-box", limit_ns, inner)``, ``("clamp-delay", min_ns, max_ns, inner)``,
  ``("add-delay", ns, inner)``, ``("jitter", factor, inner)``, ``("filtered-on", predicate,
  inner)``, ``("and-then"|"policy-union"|"policy-intersect", left, right)``.

The WIT shape (flattened node lists, root at index 0) is converted in
:mod:`host.retry_policy_wit`. Semantics are Golem 1.5's (golem-common's
``retry_policy`` model): see :func:`step` and :func:`matches`.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from host.errors import HostError

Value = str | int | bool
Tree = tuple[Any, ...]
State = list[Any]  # JSON-able: ["counter", n], ["terminal"], ["wrapper", s], ...

MAX_NS = (1 << 64) - 1  # Golem's durations saturate at u64 nanoseconds in its WIT form


class RetryPolicyError(HostError):
    """A retry policy or predicate the guest passed is malformed (a bad index, a cycle)."""


class EvaluationError(Exception):
    """Golem's RetryEvaluationError: a property the predicate needs is missing or of a type
    it cannot be compared as. Resolution fails; at a trap the host falls back."""


@dataclass(frozen=True)
class NamedPolicy:
    name: str
    priority: int
    predicate: Tree
    policy: Tree


# -- predicates ---------------------------------------------------------------------------
def _kind(value: Value) -> str:
    if type(value) is bool:
        return "boolean"
    return "integer" if isinstance(value, int) else "text"


def _required(props: Mapping[str, Value], name: str) -> Value:
    if name not in props:
        raise EvaluationError(f"Property not found: {name}")
    return props[name]


def _compare(actual: Value, expected: Value, name: str) -> int:
    """Golem's coerce_cmp: same types compare directly; text vs integer parses the text as
    an integer; integer vs text compares the integer's decimal text; else an error."""
    a, e = _kind(actual), _kind(expected)
    left: Any = actual
    right: Any = expected
    if a != e:
        if (a, e) == ("text", "integer"):
            # Rust's i64 parse: an optional sign and digits, no blanks or underscores.
            if not re.fullmatch(r"[+-]?[0-9]+", str(actual)) or not (
                -(2**63) <= int(str(actual)) < 2**63
            ):
                raise EvaluationError(
                    f"Cannot coerce property {name!r} value {actual!r} to integer"
                )
            left = int(str(actual))
        elif (a, e) == ("integer", "text"):
            left = str(actual)
        else:
            raise EvaluationError(f"Cannot coerce property {name!r} value {actual!r} to {e}")
    return int(left > right) - int(left < right)


def _as_text(value: Value, name: str) -> str:
    if type(value) is bool:
        raise EvaluationError(f"Cannot coerce property {name!r} value {value!r} to text")
    return str(value)


def matches(predicate: Tree, props: Mapping[str, Value]) -> bool:
    """Whether ``predicate`` holds for ``props`` (EvaluationError as Golem's errors)."""
    op = predicate[0]
    if op == "pred-true":
        return True
    if op == "pred-false":
        return False
    if op == "pred-and":
        return matches(predicate[1], props) and matches(predicate[2], props)
    if op == "pred-or":
        return matches(predicate[1], props) or matches(predicate[2], props)
    if op == "pred-not":
        return not matches(predicate[1], props)
    name = predicate[1]
    if op == "prop-exists":
        return name in props
    actual = _required(props, name)
    if op == "prop-in":
        first: EvaluationError | None = None
        for candidate in predicate[2]:
            try:
                if _compare(actual, candidate, name) == 0:
                    return True
            except EvaluationError as exc:
                first = first or exc
        if first is not None:
            raise first
        return False
    if op in ("prop-matches", "prop-starts-with", "prop-contains"):
        text, arg = _as_text(actual, name), predicate[2]
        if op == "prop-matches":
            return _glob(arg).fullmatch(text) is not None
        return text.startswith(arg) if op == "prop-starts-with" else arg in text
    order = _compare(actual, predicate[2], name)
    return {
        "prop-eq": order == 0,
        "prop-neq": order != 0,
        "prop-gt": order > 0,
        "prop-gte": order >= 0,
        "prop-lt": order < 0,
        "prop-lte": order <= 0,
    }[op]


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """A glob (the glob-match crate's syntax, which Golem uses): ``*`` any run without
    ``/``, ``**`` any run, ``?`` one character but ``/``, ``[...]``/``[!...]`` a class,
    ``{a,b}`` alternatives, ``\\`` escapes."""
    out: list[str] = []
    i, depth = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                neg = body[:1] in ("!", "^")
                body = body[1:] if neg else body
                out.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
                i = end
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    out.extend(")" * depth)
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:  # a class such as [z-a]: no match rather than a host error
        return re.compile(r"(?!)")


# -- policies -----------------------------------------------------------------------------
def initial_state(policy: Tree) -> State:
    op = policy[0]
    if op in ("periodic", "exponential", "fibonacci", "immediate"):
        return ["counter", 0]
    if op == "never":
        return ["terminal"]
    if op == "count-box":
        return ["count-box", 0, initial_state(policy[2])]
    if op == "and-then":
        return ["and-then", initial_state(policy[1]), initial_state(policy[2]), False]
    if op in ("policy-union", "policy-intersect"):
        return ["pair", initial_state(policy[1]), initial_state(policy[2])]
    return ["wrapper", initial_state(policy[-1])]


def retry_count(state: State) -> int:
    """How many retries ``state`` has counted (Golem's RetryPolicyState::retry_count)."""
    tag = state[0]
    if tag in ("counter", "count-box"):
        return int(state[1])
    if tag == "wrapper":
        return retry_count(state[1])
    if tag == "and-then":
        left = retry_count(state[1])
        return left + retry_count(state[2]) if state[3] else left
    if tag == "pair":
        return max(retry_count(state[1]), retry_count(state[2]))
    return 0


def _scale(ns: int, factor: float) -> int:
    if not math.isfinite(factor) or factor <= 0.0:
        return 0
    value = ns * factor
    return MAX_NS if not math.isfinite(value) or value >= MAX_NS else int(value)


def _add(a: int, b: int) -> int:
    return min(MAX_NS, a + b)


def _fibonacci(first: int, second: int, nth: int) -> int:
    if nth <= 1:
        return first if nth == 1 else 0
    left, right = first, second
    for _ in range(3, nth + 1):
        left, right = right, _add(left, right)
    return right


GIVE_UP = None


def step(
    policy: Tree,
    state: State,
    elapsed_ns: int,
    props: Mapping[str, Value],
    rng: random.Random | None = None,
) -> tuple[State, int | None]:
    """One retry decision: (the next state, the delay in ns or None to give up). Raises
    EvaluationError where Golem's verdict is Error (a filtered-on predicate failed to
    evaluate, or a state that does not fit the policy)."""
    op, tag = policy[0], state[0]
    rand = rng or random
    delay: int | None
    if op in ("periodic", "exponential", "fibonacci", "immediate") and tag == "counter":
        n = int(state[1])
        if op == "periodic":
            delay = int(policy[1])
        elif op == "exponential":
            delay = _scale(int(policy[1]), float(policy[2]) ** n)
        elif op == "fibonacci":
            delay = _fibonacci(int(policy[1]), int(policy[2]), n + 1)
        else:
            delay = 0
        return ["counter", n + 1], delay
    if op == "never" and tag == "terminal":
        return state, GIVE_UP
    if op == "count-box" and tag == "count-box":
        attempts = int(state[1])
        if attempts >= int(policy[1]):
            return state, GIVE_UP
        inner, delay = step(policy[2], state[2], elapsed_ns, props, rng)
        return ["count-box", attempts + 1, inner], delay
    if op == "and-then" and tag == "and-then":
        left, right, on_right = state[1], state[2], bool(state[3])
        if not on_right:
            left, delay = step(policy[1], left, elapsed_ns, props, rng)
            if delay is not None:
                return ["and-then", left, right, False], delay
        right, delay = step(policy[2], right, elapsed_ns, props, rng)
        return ["and-then", left, right, True], delay
    if op in ("policy-union", "policy-intersect") and tag == "pair":
        left, a = step(policy[1], state[1], elapsed_ns, props, rng)
        right, b = step(policy[2], state[2], elapsed_ns, props, rng)
        new = ["pair", left, right]
        if op == "policy-union":  # either wants to retry: the shorter delay
            wanted = [d for d in (a, b) if d is not None]
            return new, min(wanted) if wanted else GIVE_UP
        return new, GIVE_UP if a is None or b is None else max(a, b)
    if tag == "wrapper" and op in _WRAPPERS:
        return _wrapped(policy, state, elapsed_ns, props, rand, rng)
    raise EvaluationError(f"Invalid retry policy state: {state!r} does not fit {op}")


_WRAPPERS = ("time-box", "clamp-delay", "add-delay", "jitter", "filtered-on")


def _wrapped(
    policy: Tree,
    state: State,
    elapsed_ns: int,
    props: Mapping[str, Value],
    rand: Any,
    rng: random.Random | None,
) -> tuple[State, int | None]:
    op = policy[0]
    if op == "time-box" and elapsed_ns >= int(policy[1]):
        return state, GIVE_UP
    if op == "filtered-on" and not matches(policy[1], props):
        return state, GIVE_UP
    inner, delay = step(policy[-1], state[1], elapsed_ns, props, rng)
    new = ["wrapper", inner]
    if delay is None:
        return new, delay
    if op == "clamp-delay":
        delay = max(int(policy[1]), min(int(policy[2]), delay))
    elif op == "add-delay":
        delay = _add(delay, int(policy[1]))
    elif op == "jitter" and float(policy[1]) > 0.0:
        delay = _add(delay, _scale(delay, rand.uniform(0.0, float(policy[1]))))
    return new, delay


# -- named policies, the default, trap properties -----------------------------------------
def resolve(policies: Sequence[NamedPolicy], props: Mapping[str, Value]) -> NamedPolicy | None:
    """The highest-priority policy whose predicate matches (ties: the given order)."""
    for named in sorted(policies, key=lambda p: -p.priority):
        if matches(named.predicate, props):
            return named
    return None


def step_resolved(
    policies: Sequence[NamedPolicy],
    props: Mapping[str, Value],
    state: State | None,
    rng: random.Random | None = None,
) -> tuple[NamedPolicy, State, int | None] | None:
    """Golem's evaluate_named_policy_step: the policy that matches ``props``, stepped from
    ``state`` (None: its initial state) with zero elapsed, as Golem's executor passes
    Duration::ZERO at a trap and in a host call's in-function retry. None when no policy
    matches; raises EvaluationError as :func:`step` does."""
    named = resolve(policies, props)
    if named is None:
        return None
    start = initial_state(named.policy) if state is None else state
    new, delay = step(named.policy, start, 0, props, rng)
    return named, new, delay


def from_config(config: Mapping[str, object]) -> Tree:
    """The policy tree of a golem:api/host retry-policy record (Golem's From<RetryConfig>):
    count-box(max-attempts, jitter?(clamp(min, max, exponential(min, multiplier))))."""
    low, high = int(str(config["min-delay"])), int(str(config["max-delay"]))
    tree: Tree = ("exponential", low, float(str(config["multiplier"])))
    tree = ("clamp-delay", low, high, tree)
    jitter = config.get("max-jitter-factor")
    factor = getattr(jitter, "value", jitter)
    if factor is not None:
        tree = ("jitter", float(str(factor)), tree)
    return ("count-box", int(str(config["max-attempts"])), tree)


def default_policy(config: Mapping[str, object]) -> NamedPolicy:
    """Golem's catch-all: named ``default``, priority 0, matching everything."""
    return NamedPolicy("default", 0, ("pred-true",), from_config(config))


def effective(
    default: NamedPolicy,
    mutations: Mapping[str, NamedPolicy | None],
    environment: Sequence[NamedPolicy] = (),
) -> list[NamedPolicy]:
    """The agent's policies as Golem's executor lists them (named_retry_policies): the
    default, overlaid by name with the environment's (here: the host-wide ones), then
    with what the guest set (a name mapped to None was removed, whichever tier it came
    from), by descending priority then name."""
    by_name: dict[str, NamedPolicy] = {default.name: default}
    for shared in environment:
        by_name[shared.name] = shared
    for name, policy in mutations.items():
        if policy is None:
            by_name.pop(name, None)
        else:
            by_name[name] = policy
    return sorted(by_name.values(), key=lambda p: (-p.priority, p.name))


_SPECIAL = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21, "file": None}


def context(verb: str, noun_uri: str) -> dict[str, Value]:
    """Golem's RetryContext base: ``verb``, ``noun-uri`` and, if the URI parses, its
    ``uri-scheme``, ``uri-host``, ``uri-port`` (when not the scheme's default) and
    ``uri-path``."""
    props: dict[str, Value] = {"verb": verb, "noun-uri": noun_uri}
    try:
        parts = urlsplit(noun_uri)
        port = parts.port
    except ValueError:
        return props
    scheme = parts.scheme.lower()
    if not scheme or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme) or ":" not in noun_uri:
        return props
    props["uri-scheme"] = scheme
    if parts.netloc or "//" in noun_uri[: len(scheme) + 3]:
        host = parts.hostname or ""
        if host or scheme not in _SPECIAL:
            props["uri-host"] = host.lower() if scheme in _SPECIAL else (parts.hostname or "")
    if port is not None and _SPECIAL.get(scheme) != port:
        props["uri-port"] = port
    path = parts.path
    props["uri-path"] = "/" if not path and scheme in _SPECIAL else path
    return props


def trap_context(trap_type: str, function: str | None) -> dict[str, Value]:
    """Golem's RetryContext::trap: verb ``trap``, noun ``wasm://<function>``, ``trap-type``."""
    props = context("trap", f"wasm://{function or 'unknown'}")
    props["trap-type"] = trap_type
    return props


# -- JSON form (session state, snapshots) ----------------------------------------------------
def tree_from_json(data: Any) -> Any:
    """A tree from its JSON form (lists back into tuples)."""
    if isinstance(data, list):
        return tuple(tree_from_json(item) for item in data)
    return data


def tree_to_json(tree: Any) -> Any:
    if isinstance(tree, tuple | list):
        return [tree_to_json(item) for item in tree]
    return tree


def named_to_json(policy: NamedPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "priority": policy.priority,
        "predicate": tree_to_json(policy.predicate),
        "policy": tree_to_json(policy.policy),
    }


def named_from_json(data: Mapping[str, Any]) -> NamedPolicy:
    return NamedPolicy(
        str(data["name"]),
        int(data["priority"]),
        tree_from_json(data["predicate"]),
        tree_from_json(data["policy"]),
    )


__all__ = [
    "EvaluationError",
    "NamedPolicy",
    "RetryPolicyError",
    "context",
    "default_policy",
    "effective",
    "from_config",
    "initial_state",
    "matches",
    "resolve",
    "retry_count",
    "step",
    "trap_context",
]
