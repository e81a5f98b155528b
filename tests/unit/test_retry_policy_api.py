"""Golem's public-oplog form of a named retry policy (host/retry_policy_api.py):
``PublicNamedRetryPolicy`` with ``ApiPredicate`` / ``ApiRetryPolicy`` objects."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host import retry_policy as rp
from host.errors import InvalidInput
from host.retry_policy_api import named_from_api, named_to_api, policy_to_api
from host.retry_policy_json import parse_named
from tests.unit.test_retry_policy_json import FULL

MS = 1_000_000


def test_golems_own_example_is_written_as_golem_writes_it() -> None:
    # integration-tests/tests/api/retry_policies.rs (v1.5.0): PropEq status "error",
    # CountBox 3 of Periodic 500 ms.
    named = rp.NamedPolicy(
        "update-me",
        20,
        ("prop-eq", "status", "error"),
        ("count-box", 3, ("periodic", 500 * MS)),
    )
    assert named_to_api(named) == {
        "name": "update-me",
        "priority": 20,
        "predicate": {
            "type": "PropEq",
            "property": "status",
            "value": {"type": "Text", "value": "error"},
        },
        "policy": {
            "type": "CountBox",
            "maxRetries": 3,
            "inner": {"type": "Periodic", "delayMs": 500},
        },
    }


def test_every_node_is_written_with_golems_field_names() -> None:
    api = named_to_api(parse_named(FULL))
    pred = api["predicate"]
    assert pred["type"] == "And"
    left = pred["left"]
    assert left["left"] == {
        "type": "PropEq",
        "property": "verb",
        "value": {"type": "Text", "value": "trap"},
    }
    assert left["right"] == {
        "type": "PropIn",
        "property": "status-code",
        "values": [
            {"type": "Integer", "value": 502},
            {"type": "Integer", "value": 503},
            {"type": "Boolean", "value": True},
        ],
    }
    negated = pred["right"]["predicate"]
    assert negated["left"] == {
        "type": "PropMatches",
        "property": "uri-host",
        "pattern": "*.example.com",
    }
    assert negated["right"]["left"] == {"type": "PropExists", "property": "x"}
    assert negated["right"]["right"]["value"] == {"type": "Integer", "value": -1}

    policy = api["policy"]
    assert policy["type"] == "AndThen"
    assert policy["first"] == {"type": "CountBox", "maxRetries": 2, "inner": {"type": "Immediate"}}
    union = policy["second"]
    assert union["type"] == "Union"
    assert union["first"] == {
        "type": "TimeBox",
        "limitMs": 10,
        "inner": {"type": "Jitter", "factor": 0.1, "inner": {"type": "Periodic", "delayMs": 1}},
    }
    filtered = union["second"]
    assert filtered["type"] == "FilteredOn" and filtered["predicate"] == {"type": "True"}
    # Durations under a millisecond are truncated, as Golem's Duration::as_millis does.
    assert filtered["inner"] == {
        "type": "Clamp",
        "minDelayMs": 0,
        "maxDelayMs": 0,
        "inner": {
            "type": "AddDelay",
            "delayMs": 0,
            "inner": {"type": "Fibonacci", "firstMs": 0, "secondMs": 0},
        },
    }


values = st.one_of(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1), st.booleans())
prop = st.sampled_from(["verb", "status-code", "uri-host"])
predicates = st.recursive(
    st.sampled_from([("pred-true",), ("pred-false",)])
    | st.builds(lambda p: ("prop-exists", p), prop)
    | st.builds(
        lambda op, p, v: (op, p, v),
        st.sampled_from(["prop-eq", "prop-neq", "prop-gt", "prop-gte", "prop-lt", "prop-lte"]),
        prop,
        values,
    )
    | st.builds(lambda p, vs: ("prop-in", p, tuple(vs)), prop, st.lists(values, max_size=3))
    | st.builds(
        lambda op, p, t: (op, p, t),
        st.sampled_from(["prop-matches", "prop-starts-with", "prop-contains"]),
        prop,
        st.text(max_size=5),
    ),
    lambda inner: (
        st.builds(
            lambda op, a, b: (op, a, b), st.sampled_from(["pred-and", "pred-or"]), inner, inner
        )
        | st.builds(lambda p: ("pred-not", p), inner)
    ),
    max_leaves=5,
)
ms = st.integers(0, 10**7).map(lambda n: n * MS)
policies = st.recursive(
    st.sampled_from([("immediate",), ("never",)])
    | st.builds(lambda d: ("periodic", d), ms)
    | st.builds(lambda d, f: ("exponential", d, f), ms, st.floats(0, 10))
    | st.builds(lambda a, b: ("fibonacci", a, b), ms, ms),
    lambda inner: (
        st.builds(lambda n, p: ("count-box", n, p), st.integers(0, 2**32 - 1), inner)
        | st.builds(lambda d, p: ("time-box", d, p), ms, inner)
        | st.builds(lambda a, b, p: ("clamp-delay", a, b, p), ms, ms, inner)
        | st.builds(lambda d, p: ("add-delay", d, p), ms, inner)
        | st.builds(lambda f, p: ("jitter", f, p), st.floats(0, 2), inner)
        | st.builds(lambda q, p: ("filtered-on", q, p), predicates, inner)
        | st.builds(
            lambda op, a, b: (op, a, b),
            st.sampled_from(["and-then", "policy-union", "policy-intersect"]),
            inner,
            inner,
        )
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    predicate=predicates,
    policy=policies,
    priority=st.integers(0, 2**32 - 1),
    name=st.text(min_size=1, max_size=8),
)
def test_whole_millisecond_policies_round_trip(
    predicate: rp.Tree, policy: rp.Tree, priority: int, name: str
) -> None:
    named = rp.NamedPolicy(name, priority, predicate, policy)
    assert named_from_api(named_to_api(named)) == named


def _valid() -> dict[str, Any]:
    return named_to_api(
        rp.NamedPolicy("p", 1, ("prop-in", "v", (1,)), ("count-box", 3, ("periodic", MS)))
    )


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.update(name=""), "name"),
        (lambda d: d.update(priority=-1), "priority"),
        (lambda d: d["policy"].update(type="Sometimes"), "policy"),
        (lambda d: d["policy"].pop("inner"), "policy"),
        (lambda d: d["policy"].update(maxRetries=2**32), "policy.maxRetries"),
        (lambda d: d["policy"]["inner"].update(delayMs=-5), "policy.inner.delayMs"),
        (lambda d: d["policy"]["inner"].update(delayMs=True), "policy.inner.delayMs"),
        (
            lambda d: d["predicate"].update(values=[{"type": "Float", "value": 1.5}]),
            "predicate.values.0",
        ),
        (
            lambda d: d["predicate"].update(values=[{"type": "Integer", "value": "1"}]),
            "predicate.values.0.value",
        ),
        (lambda d: d.update(predicate=["pred-true"]), "predicate"),
    ],
)
def test_malformed_golem_json_names_the_node(change: Any, where: str) -> None:
    data = _valid()
    change(data)
    with pytest.raises(InvalidInput) as caught:
        named_from_api(data)
    assert caught.value.field == where


def test_an_exponential_factor_is_a_float() -> None:
    assert policy_to_api(("exponential", 250 * MS, 2)) == {
        "type": "Exponential",
        "baseDelayMs": 250,
        "factor": 2.0,
    }
