"""Golem 1.5's agent-config tier of named retry policies (durability.rs,
collect_named_retry_policies): every config value of the agent that decodes as a
``golem:api/retry@1.5.0`` ``named-retry-policy``, or a list of them, is a policy.

Golem decodes by structure (FromValue over its untyped values: a record's fields by
position, a variant's case by index), so a declared type is accepted whatever its
record, field and case names are, as long as its shape is the policy's: a record of
(string, u32, record(list<predicate-node>), record(list<policy-node>)), the node
variants with the WIT's cases in their order and payloads of the same types. The value
is re-read with the WIT's names (:data:`NAMED_RETRY_POLICY`) and parsed as the guest's
set-retry-policy argument is (:func:`host.retry_policy_wit.named_from_wit`). A value of
another shape, or a malformed policy (a node index out of range), is not a policy.

Pure: the declared types and stored values in, policies out."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from host.agents.agenttypes import AgentType
from host.retry_policy import NamedPolicy, RetryPolicyError
from host.retry_policy_wit import named_from_wit
from host.values import Case, from_json
from host.values.types import ListT, Prim, RecordT, TupleT, ValuesError, VariantT, WitType

log = logging.getLogger(__name__)

# The shape, with the WIT's names: ("record", fields) / ("variant", cases) / ("list", t) /
# ("tuple", ts) / a primitive kind.
Spec = Any
_U64, _S32 = "u64", "s32"
_PAIR = ("tuple", (_S32, _S32))
_VALUE = ("variant", (("text", "string"), ("integer", "s64"), ("boolean", "bool")))
_COMPARISON = ("record", (("property-name", "string"), ("value", _VALUE)))
_PATTERN = ("record", (("property-name", "string"), ("pattern", "string")))
_PREDICATE_NODE = (
    "variant",
    (
        *((name, _COMPARISON) for name in ("prop-eq", "prop-neq", "prop-gt", "prop-gte")),
        ("prop-lt", _COMPARISON),
        ("prop-lte", _COMPARISON),
        ("prop-exists", "string"),
        ("prop-in", ("record", (("property-name", "string"), ("values", ("list", _VALUE))))),
        ("prop-matches", _PATTERN),
        ("prop-starts-with", _PATTERN),
        ("prop-contains", _PATTERN),
        ("pred-and", _PAIR),
        ("pred-or", _PAIR),
        ("pred-not", _S32),
        ("pred-true", None),
        ("pred-false", None),
    ),
)
_PREDICATE = ("record", (("nodes", ("list", _PREDICATE_NODE)),))


def _inner(*fields: tuple[str, Spec]) -> Spec:
    return ("record", (*fields, ("inner", _S32)))


_POLICY_NODE = (
    "variant",
    (
        ("periodic", _U64),
        ("exponential", ("record", (("base-delay", _U64), ("factor", "f64")))),
        ("fibonacci", ("record", (("first", _U64), ("second", _U64)))),
        ("immediate", None),
        ("never", None),
        ("count-box", _inner(("max-retries", "u32"))),
        ("time-box", _inner(("limit", _U64))),
        ("clamp-delay", _inner(("min-delay", _U64), ("max-delay", _U64))),
        ("add-delay", _inner(("delay", _U64))),
        ("jitter", _inner(("factor", "f64"))),
        ("filtered-on", _inner(("predicate", _PREDICATE))),
        ("and-then", _PAIR),
        ("policy-union", _PAIR),
        ("policy-intersect", _PAIR),
    ),
)
NAMED_RETRY_POLICY: Spec = (
    "record",
    (
        ("name", "string"),
        ("priority", "u32"),
        ("predicate", _PREDICATE),
        ("policy", ("record", (("nodes", ("list", _POLICY_NODE)),))),
    ),
)


class _Mismatch(Exception):
    pass


def fits(ty: WitType, spec: Spec) -> bool:
    """Whether a declared type has the shape ``spec`` (names aside)."""
    if isinstance(spec, str):
        return isinstance(ty, Prim) and ty.kind == spec
    kind, body = spec
    if kind == "list":
        return isinstance(ty, ListT) and fits(ty.elem, body)
    if kind == "tuple":
        return (
            isinstance(ty, TupleT)
            and len(ty.elems) == len(body)
            and all(fits(t, s) for t, s in zip(ty.elems, body, strict=True))
        )
    if kind == "record":
        return (
            isinstance(ty, RecordT)
            and len(ty.fields) == len(body)
            and all(fits(t, s) for (_, t), (_, s) in zip(ty.fields, body, strict=True))
        )
    return (  # variant
        isinstance(ty, VariantT)
        and len(ty.cases) == len(body)
        and all(
            (t is None) == (s is None) and (t is None or fits(t, s))
            for (_, t), (_, s) in zip(ty.cases, body, strict=True)
        )
    )


def _renamed(value: Any, ty: WitType, spec: Spec) -> Any:
    """``value`` of the declared type ``ty`` (which fits ``spec``) with the WIT's names."""
    if isinstance(spec, str):
        return value
    kind, body = spec
    if kind == "list":
        assert isinstance(ty, ListT)
        return [_renamed(v, ty.elem, body) for v in value]
    if kind == "tuple":
        assert isinstance(ty, TupleT)
        return tuple(_renamed(v, t, s) for v, t, s in zip(value, ty.elems, body, strict=True))
    if kind == "record":
        assert isinstance(ty, RecordT)
        return {
            name: _renamed(value[field], t, s)
            for (field, t), (name, s) in zip(ty.fields, body, strict=True)
        }
    assert isinstance(ty, VariantT) and isinstance(value, Case)
    names = [name for name, _ in ty.cases]
    index = names.index(value.name)
    payload_ty, (name, payload_spec) = ty.cases[index][1], body[index]
    if payload_spec is None or payload_ty is None:
        return Case(name, None)
    return Case(name, _renamed(value.value, payload_ty, payload_spec))


def _policies_of(value: Any, ty: WitType) -> list[NamedPolicy]:
    if isinstance(ty, ListT) and fits(ty.elem, NAMED_RETRY_POLICY):  # Vec<NamedRetryPolicy>
        return [named_from_wit(_renamed(v, ty.elem, NAMED_RETRY_POLICY)) for v in value]
    if fits(ty, NAMED_RETRY_POLICY):
        return [named_from_wit(_renamed(value, ty, NAMED_RETRY_POLICY))]
    return []


def config_policies(
    agent_type: AgentType | None, stored: Sequence[tuple[tuple[str, ...], str]]
) -> list[NamedPolicy]:
    """The named retry policies among the agent's config values, in key order."""
    if agent_type is None:
        return []
    declared = {d.path: d.value_type for d in agent_type.config}
    found: list[NamedPolicy] = []
    for path, text in stored:
        ty = declared.get(tuple(path))
        if ty is None:
            continue
        try:
            found.extend(_policies_of(from_json(json.loads(text), ty), ty))
        except (RetryPolicyError, ValuesError, ValueError, KeyError) as exc:
            log.warning("config %s is not a usable retry policy: %s", ".".join(path), exc)
    return found


__all__ = ["NAMED_RETRY_POLICY", "config_policies", "fits"]
