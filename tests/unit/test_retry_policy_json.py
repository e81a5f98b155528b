"""Host-wide named retry policies: their JSON form (host/retry_policy_json.py), checked
node by node, and the order an agent sees them in (host/retry_policy.py's effective:
Golem's executor overlays default, environment, then the agent's own by name)."""

from __future__ import annotations

from typing import Any

import pytest

from host import retry_policy as rp
from host.errors import InvalidInput
from host.retry_policy_json import parse_named, to_json
from host.retry_policy_wit import named_from_wit, named_to_wit

MS = 1_000_000
FULL: dict[str, Any] = {
    "name": "every-node",
    "priority": 7,
    "predicate": [
        "pred-and",
        ["pred-or", ["prop-eq", "verb", "trap"], ["prop-in", "status-code", [502, 503, True]]],
        [
            "pred-not",
            [
                "pred-and",
                ["prop-matches", "uri-host", "*.example.com"],
                ["pred-or", ["prop-exists", "x"], ["prop-lte", "status-code", -1]],
            ],
        ],
    ],
    "policy": [
        "and-then",
        ["count-box", 2, ["immediate"]],
        [
            "policy-union",
            ["time-box", 10 * MS, ["jitter", 0.1, ["periodic", MS]]],
            [
                "filtered-on",
                ["pred-true"],
                ["clamp-delay", 1, 5, ["add-delay", 2, ["fibonacci", 1, 2]]],
            ],
        ],
    ],
}


def test_a_full_form_round_trips_through_json_and_wit() -> None:
    named = parse_named(FULL)
    assert to_json(named) == {**FULL, "policy": to_json(named)["policy"]}
    assert named.policy[2][1][2][1] == 0.1  # jitter factor kept a float
    assert named_from_wit(named_to_wit(named)) == named
    # The path's name is the policy's; the body may leave it out.
    assert parse_named({k: v for k, v in FULL.items() if k != "name"}, "other").name == "other"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"policy": ["count-box", -1, ["immediate"]]}, "policy.1", "count from 0"),
        ({"policy": ["count-box", 1]}, "policy", "takes 2 argument"),
        ({"policy": ["forever"]}, "policy", "unknown policy node"),
        ({"policy": ["periodic", "1s"]}, "policy.1", "nanoseconds"),
        ({"policy": ["jitter", True, ["never"]]}, "policy.1", "non-negative number"),
        ({"policy": ["and-then", ["never"], []]}, "policy.2", "first item is its name"),
        ({"predicate": ["prop-eq", "verb"]}, "predicate", "takes 2 argument"),
        ({"predicate": ["prop-in", "code", 5]}, "predicate.2", "array of values"),
        ({"predicate": ["prop-eq", "code", 1.5]}, "predicate.2", "64-bit integer"),
        ({"predicate": ["prop-eq", 3, 1]}, "predicate.1", "expected a string"),
        ({"predicate": "true"}, "predicate", "first item is its name"),
        ({"priority": -1}, "priority", "from 0 to"),
        ({"priority": "high"}, "priority", "from 0 to"),
        ({"name": ""}, "name", "non-empty"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_a_malformed_form_is_refused_naming_the_node(
    change: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_named({**FULL, **change})
    assert caught.value.field == field and words in str(caught.value)


def test_missing_parts_and_a_disagreeing_name_are_refused() -> None:
    for missing in ("predicate", "policy"):
        with pytest.raises(InvalidInput, match="missing"):
            parse_named({k: v for k, v in FULL.items() if k != missing})
    with pytest.raises(InvalidInput, match="the body names"):
        parse_named(FULL, "another")
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_named([FULL])


def test_the_agent_sees_default_then_host_wide_then_its_own_by_name() -> None:
    default = rp.default_policy(
        {"max-attempts": 3, "min-delay": MS, "max-delay": MS, "multiplier": 2.0}
    )
    host_default = rp.NamedPolicy("default", 0, ("pred-true",), ("never",))
    host_wide = [host_default, rp.NamedPolicy("b", 5, ("pred-true",), ("immediate",))]
    own = rp.NamedPolicy("b", 1, ("pred-false",), ("periodic", MS))
    # A host-wide "default" replaces the built-in one; the agent's own "b" replaces the
    # host's; order: priority descending, then name.
    assert rp.effective(default, {"b": own}, host_wide) == [own, host_default]
    assert rp.effective(default, {}, host_wide) == [host_wide[1], host_default]
    # The agent's remove drops a host-wide policy too (Golem: the overlay is last).
    assert rp.effective(default, {"b": None}, host_wide) == [host_default]
    assert rp.effective(default, {}, ()) == [default]
