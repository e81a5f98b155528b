"""The named retry policy model (host/retry_policy.py, host/retry_policy_wit.py): Golem 1.5's
predicate and policy semantics (golem-common's retry_policy model), the WIT node lists
and the trap decision of host/runtime/named_retry.py."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host import retry_policy as rp
from host.oplog import InvocationFailed, Retried
from host.retry_policy_wit import named_from_wit, named_to_wit, policy_from_wit
from host.runtime import named_retry
from host.values import Case

MS = 1_000_000
GOLEM_DEFAULT = {
    "max-attempts": 3,
    "min-delay": 100 * MS,
    "max-delay": 1000 * MS,
    "multiplier": 3.0,
    "max-jitter-factor": 0.15,
}


def run(
    policy: rp.Tree, n: int, props: dict[str, rp.Value] | None = None, **kw: int
) -> list[float | None]:
    """The first ``n`` verdicts of ``policy`` (delays in ms, None for give up)."""
    state = rp.initial_state(policy)
    out: list[float | None] = []
    for _ in range(n):
        state, delay = rp.step(policy, state, kw.get("elapsed", 0), props or {}, random.Random(0))
        out.append(None if delay is None else delay / MS)
    return out


# -- base policies and combinators, Golem's numbers -----------------------------------------
def test_base_policies() -> None:
    assert run(("periodic", 5 * MS), 3) == [5, 5, 5]
    assert run(("exponential", 10 * MS, 2.0), 4) == [10, 20, 40, 80]
    # Fibonacci: the nth delay of first, second, first+second, ...
    assert run(("fibonacci", 1 * MS, 2 * MS), 5) == [1, 2, 3, 5, 8]
    assert run(("immediate",), 2) == [0, 0]
    assert run(("never",), 2) == [None, None]


def test_count_box_time_box_clamp_add_delay() -> None:
    assert run(("count-box", 2, ("immediate",)), 4) == [0, 0, None, None]
    assert run(("count-box", 0, ("immediate",)), 1) == [None]
    limit = ("time-box", 50 * MS, ("periodic", MS))
    assert run(limit, 1, elapsed=49 * MS) == [1] and run(limit, 1, elapsed=50 * MS) == [None]
    clamp = ("clamp-delay", 20 * MS, 50 * MS, ("exponential", 10 * MS, 2.0))
    assert run(clamp, 5) == [20, 20, 40, 50, 50]
    assert run(("add-delay", 7 * MS, ("immediate",)), 1) == [7]
    assert run(("add-delay", 7 * MS, ("never",)), 1) == [None]


def test_and_then_union_intersect() -> None:
    then = ("and-then", ("count-box", 2, ("immediate",)), ("periodic", 9 * MS))
    assert run(then, 4) == [0, 0, 9, 9]
    # Union: either wants to retry, the shorter delay; intersect: both, the longer one.
    short = ("count-box", 1, ("periodic", 2 * MS))
    long_ = ("count-box", 3, ("periodic", 8 * MS))
    assert run(("policy-union", short, long_), 4) == [2, 8, 8, None]
    assert run(("policy-intersect", short, long_), 2) == [8, None]


def test_the_default_is_golems_3_retries_clamped_exponential_with_jitter() -> None:
    policy = rp.from_config(GOLEM_DEFAULT)
    assert policy == (
        "count-box",
        3,
        ("jitter", 0.15, ("clamp-delay", 100 * MS, 1000 * MS, ("exponential", 100 * MS, 3.0))),
    )
    rng = random.Random(3)
    for _ in range(30):
        state, delays = rp.initial_state(policy), []
        for _ in range(4):
            state, delay = rp.step(policy, state, 0, {}, rng)
            delays.append(delay)
        assert delays[3] is None
        for delay, base in zip(delays[:3], (100, 300, 900), strict=True):
            assert delay is not None and base * MS <= delay <= base * MS * 1.15
    assert rp.retry_count(state) == 3


def test_filtered_on_gives_up_when_the_predicate_does_not_hold() -> None:
    policy = ("filtered-on", ("prop-eq", "status-code", 503), ("immediate",))
    assert run(policy, 1, {"status-code": 503}) == [0]
    assert run(policy, 1, {"status-code": 404}) == [None]
    with pytest.raises(rp.EvaluationError, match="Property not found: status-code"):
        run(policy, 1, {})


# -- predicates ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "predicate,expected",
    [
        (("prop-eq", "code", 503), True),
        (("prop-eq", "code", "503"), True),  # integer vs text: the integer's decimal text
        (("prop-eq", "text-code", 503), True),  # text vs integer: the text parsed
        (("prop-neq", "code", 500), True),
        (("prop-gt", "code", 500), True),
        (("prop-gte", "code", 503), True),
        (("prop-lt", "code", 503), False),
        (("prop-lte", "code", 503), True),
        (("prop-exists", "missing"), False),
        (("prop-in", "code", (502, 503)), True),
        (("prop-in", "code", (502, 504)), False),
        (("prop-matches", "uri", "https://*.example.com/**"), True),
        (("prop-matches", "uri", "https://*.com/*"), False),  # * does not cross a /
        (("prop-matches", "uri", "https://{api,www}.example.?om/v[0-9]/*"), True),
        (("prop-matches", "uri", "[z-a]*"), False),  # a bad class matches nothing
        (("prop-starts-with", "uri", "https://api."), True),
        (("prop-contains", "uri", "example"), True),
        (("prop-contains", "code", "50"), True),  # an integer is matched as its text
        (("pred-and", ("pred-true",), ("prop-eq", "idem", True)), True),
        (("pred-or", ("pred-false",), ("pred-not", ("pred-true",))), False),
    ],
)
def test_predicates(predicate: rp.Tree, expected: bool) -> None:
    props: dict[str, rp.Value] = {
        "code": 503,
        "text-code": "503",
        "uri": "https://api.example.com/v1/items",
        "idem": True,
    }
    assert rp.matches(predicate, props) is expected


@pytest.mark.parametrize(
    "predicate",
    [
        ("prop-eq", "missing", 1),
        ("prop-eq", "name", 1),  # "abc" does not parse as an integer
        ("prop-eq", "flag", 1),  # boolean vs integer
        ("prop-contains", "flag", "t"),  # a boolean is not text
        ("prop-in", "name", (1, 2)),
        ("prop-eq", "spaced", 1),  # " 1" is not an i64 for Rust's parse
    ],
)
def test_predicate_errors(predicate: rp.Tree) -> None:
    with pytest.raises(rp.EvaluationError):
        rp.matches(predicate, {"name": "abc", "flag": True, "spaced": " 1"})


def test_resolve_takes_the_highest_priority_match() -> None:
    low = rp.NamedPolicy("low", 1, ("pred-true",), ("never",))
    high = rp.NamedPolicy("high", 9, ("prop-eq", "verb", "trap"), ("immediate",))
    assert rp.resolve([low, high], {"verb": "trap"}) == high
    assert rp.resolve([low, high], {"verb": "GET"}) == low
    assert rp.resolve([high], {"verb": "GET"}) is None
    default = rp.default_policy(GOLEM_DEFAULT)
    listed = rp.effective(default, {"high": high, "low": low, "default": None})
    assert [p.name for p in listed] == ["high", "low"]


def test_context_decomposes_the_noun_uri() -> None:
    assert rp.context("GET", "https://API.example.com:8443/a?q") == {
        "verb": "GET",
        "noun-uri": "https://API.example.com:8443/a?q",
        "uri-scheme": "https",
        "uri-host": "api.example.com",
        "uri-port": 8443,
        "uri-path": "/a",
    }
    assert "uri-port" not in rp.context("GET", "https://x.org/")  # the scheme's default
    props = rp.trap_context("deterministic-trap", "run")
    assert props["noun-uri"] == "wasm://run" and props["trap-type"] == "deterministic-trap"


# -- WIT node lists -------------------------------------------------------------------------
def test_wit_round_trip_and_root_at_zero() -> None:
    named = rp.NamedPolicy(
        "n",
        4,
        ("pred-and", ("prop-in", "code", (502, "x", True)), ("pred-not", ("pred-false",))),
        (
            "and-then",
            ("count-box", 2, ("filtered-on", ("prop-exists", "a"), ("immediate",))),
            ("time-box", 9, ("add-delay", 1, ("fibonacci", 1, 2))),
        ),
    )
    wit = named_to_wit(named)
    assert wit["policy"]["nodes"][0].name == "and-then"
    assert named_from_wit(wit) == named


@pytest.mark.parametrize(
    "nodes,message",
    [
        ([], "empty"),
        ([Case("count-box", {"max-retries": 1, "inner": 5})], "refers to node 5"),
        ([Case("count-box", {"max-retries": 1, "inner": 0})], "refers back to node 0"),
        (
            [Case("and-then", (1, 1)), Case("jitter", {"factor": 0.1, "inner": 0})],
            "refers back",
        ),
        ([Case("clamp-delay", {"min-delay": 1, "max-delay": 2, "inner": -1})], "node -1"),
    ],
)
def test_bad_node_lists_are_refused(nodes: list[Case], message: str) -> None:
    with pytest.raises(rp.RetryPolicyError, match=message):
        policy_from_wit({"nodes": nodes})


# -- properties -----------------------------------------------------------------------------
leaf = st.sampled_from([("immediate",), ("never",)]) | st.builds(
    lambda ms: ("periodic", ms * MS), st.integers(0, 1000)
)
policies = st.recursive(
    leaf,
    lambda inner: (
        st.builds(lambda n, p: ("count-box", n, p), st.integers(0, 5), inner)
        | st.builds(
            lambda a, b, p: ("clamp-delay", min(a, b), max(a, b), p),
            st.integers(0, 10**9),
            st.integers(0, 10**9),
            inner,
        )
        | st.builds(lambda f, p: ("jitter", f, p), st.floats(0, 2), inner)
        | st.builds(lambda a, b: ("policy-union", a, b), inner, inner)
        | st.builds(lambda a, b: ("policy-intersect", a, b), inner, inner)
        | st.builds(lambda a, b: ("and-then", a, b), inner, inner)
    ),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(policy=policies, n=st.integers(0, 6), seed=st.integers(0, 1000))
def test_count_box_stops_after_n_and_clamp_bounds(policy: rp.Tree, n: int, seed: int) -> None:
    boxed = ("count-box", n, ("clamp-delay", 5 * MS, 50 * MS, policy))
    state, rng = rp.initial_state(boxed), random.Random(seed)
    for i in range(n + 3):
        state, delay = rp.step(boxed, state, 0, {}, rng)
        if i >= n:
            assert delay is None
        elif delay is not None:
            assert 5 * MS <= delay <= 50 * MS
    assert named_from_wit(named_to_wit(rp.NamedPolicy("p", 0, ("pred-true",), boxed))).policy == (
        boxed
    )


plain = st.recursive(  # without jitter: deterministic, so halves and pair compare exactly
    leaf,
    lambda inner: (
        st.builds(lambda n, p: ("count-box", n, p), st.integers(0, 5), inner)
        | st.builds(lambda d, p: ("add-delay", d * MS, p), st.integers(0, 50), inner)
        | st.builds(lambda a, b: ("and-then", a, b), inner, inner)
    ),
    max_leaves=5,
)


@settings(max_examples=200, deadline=None)
@given(a=plain, b=plain)
def test_union_is_the_shorter_and_intersect_the_longer(a: rp.Tree, b: rp.Tree) -> None:
    sa, sb = rp.initial_state(a), rp.initial_state(b)
    union, inter = ("policy-union", a, b), ("policy-intersect", a, b)
    su, si = rp.initial_state(union), rp.initial_state(inter)
    for _ in range(5):
        sa, da = rp.step(a, sa, 0, {})
        sb, db = rp.step(b, sb, 0, {})
        su, du = rp.step(union, su, 0, {})
        si, di = rp.step(inter, si, 0, {})
        wanted = [d for d in (da, db) if d is not None]
        assert du == (min(wanted) if wanted else None)
        assert di == (None if da is None or db is None else max(da, db))


# -- the trap decision ------------------------------------------------------------------------
def test_trap_decision_steps_from_the_recorded_state() -> None:
    named = rp.NamedPolicy(
        "two", 5, ("prop-eq", "trap-type", "deterministic-trap"), ("count-box", 2, ("immediate",))
    )
    props = named_retry.trap_properties("deterministic-trap", "run", 'counter("a")', True)
    assert props["agent-type"] == "counter" and props["is-idempotent"] is True
    failures: list[InvocationFailed] = []
    decisions = []
    for attempt in (1, 2, 3):
        decision = named_retry.decide([named], props, failures, None, attempt)
        decisions.append(decision.delay_ns)
        failures.append(InvocationFailed("i", "boom", retry_state=decision.state))
    assert decisions == [0, 0, None]
    # No named policy matches: a deterministic trap is not retried (Golem's legacy rule),
    # an unknown one is, by the retry-policy record.
    assert named_retry.decide([], props, [], None, 1).delay_ns is None
    unknown = named_retry.trap_properties("unknown", "run", "a", True)
    assert (
        named_retry.decide(
            [], unknown, [], {"max-attempts": 1, "min-delay": 0, "max-jitter-factor": None}, 1
        ).delay_ns
        == 0
    )


def test_a_failure_that_gave_up_starts_the_count_afresh() -> None:
    a = InvocationFailed("i", "x", retry_state=["count-box", 1, ["counter", 1]])
    b = InvocationFailed("i", "x", retry_state=["count-box", 2, ["counter", 2]])
    gave_up = InvocationFailed("i", "x")
    assert named_retry.previous_failures([a, Retried("i"), b, Retried("i")], "i") == [a, b]
    assert named_retry.previous_failures([a, Retried("i"), gave_up], "i") == []
    assert named_retry.trap_type("wasm trap: wasm `unreachable` instruction executed") == (
        "deterministic-trap"
    )
    assert named_retry.trap_type("call stack exhausted") == "stack-overflow"
    assert named_retry.trap_type("the guest trapped: something else") == "unknown"


@pytest.mark.parametrize("limit", [0, 1])
def test_a_time_box_at_a_trap_is_stepped_with_golems_zero_elapsed(limit: int) -> None:
    """Golem's executor steps a trap's policy with elapsed zero (evaluate_named_policy_step):
    a 1 ns time-box around count-box 2 retries twice even when the first failure is far in
    the past (elapsed since it would give up at the second attempt); a zero one never
    retries (0 >= 0)."""
    named = rp.NamedPolicy(
        "boxed", 5, ("pred-true",), ("time-box", limit, ("count-box", 2, ("immediate",)))
    )
    props = named_retry.trap_properties("deterministic-trap", "run", "a", True)
    failures: list[InvocationFailed] = []
    decisions = []
    for attempt in (1, 2, 3):
        decision = named_retry.decide([named], props, failures, None, attempt)
        decisions.append(decision.delay_ns)
        # Recorded at the epoch: elapsed since the first failure would exceed any box.
        failures.append(InvocationFailed("i", "boom", retry_state=decision.state, timestamp=1))
    assert decisions == ([0, 0, None] if limit else [None, None, None])
