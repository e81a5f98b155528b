"""``golem:api/retry@1.5.0`` values <-> the trees of :mod:`host.retry_policy`.

The WIT form flattens each tree into a node list whose root is index 0 and whose
children are ``s32`` indices into the same list (a ``filtered-on`` node embeds a whole
predicate list of its own). Values are as :mod:`host.values` lifts them: a variant is a
``Case``, a record a dict with the WIT field names, a tuple a tuple (or list).

Golem indexes the lists unchecked; here an index out of range, a cycle or an empty list is
a :class:`~host.retry_policy.RetryPolicyError` naming the node, so the guest's call fails
with a message instead of the host looping or crashing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from host.retry_policy import NamedPolicy, RetryPolicyError, Tree, Value
from host.values import Case

_COMPARISONS = ("prop-eq", "prop-neq", "prop-gt", "prop-gte", "prop-lt", "prop-lte")
_PATTERNS = ("prop-matches", "prop-starts-with", "prop-contains")
_PAIRS = ("and-then", "policy-union", "policy-intersect")


def value_from_wit(case: Case) -> Value:
    if case.name == "boolean":
        return bool(case.value)
    if case.name == "integer":
        return int(case.value)  # type: ignore[arg-type]
    return str(case.value)


def value_to_wit(value: Value) -> Case:
    if type(value) is bool:
        return Case("boolean", value)
    return Case("integer", value) if isinstance(value, int) else Case("text", value)


def _payload(node: Case) -> Any:
    return node.value


class _Nodes:
    """Walks one flattened list from index 0, refusing bad indices and cycles."""

    def __init__(self, what: str, nodes: Sequence[Case]) -> None:
        if not nodes:
            raise RetryPolicyError(f"{what}: the node list is empty (the root is index 0)")
        self.what, self.nodes, self.path = what, nodes, [0]

    def child(self, index: Any, build: Any) -> Tree:
        i = int(index)
        if not 0 <= i < len(self.nodes):
            raise RetryPolicyError(
                f"{self.what}: node {self.path[-1]} refers to node {i}, but there are "
                f"{len(self.nodes)} nodes"
            )
        if i in self.path:
            raise RetryPolicyError(f"{self.what}: node {self.path[-1]} refers back to node {i}")
        self.path.append(i)
        try:
            tree: Tree = build(self, self.nodes[i])
        finally:
            self.path.pop()
        return tree


def _predicate_node(walk: _Nodes, node: Case) -> Tree:
    name, body = node.name, _payload(node)
    if name in _COMPARISONS:
        return (name, body["property-name"], value_from_wit(body["value"]))
    if name == "prop-exists":
        return (name, str(body))
    if name == "prop-in":
        return (name, body["property-name"], tuple(value_from_wit(v) for v in body["values"]))
    if name in _PATTERNS:
        return (name, body["property-name"], body["pattern"])
    if name in ("pred-and", "pred-or"):
        left, right = body
        return (name, walk.child(left, _predicate_node), walk.child(right, _predicate_node))
    if name == "pred-not":
        return (name, walk.child(body, _predicate_node))
    if name in ("pred-true", "pred-false"):
        return (name,)
    raise RetryPolicyError(f"{walk.what}: unknown predicate node {name!r}")


def predicate_from_wit(value: Mapping[str, Any], what: str = "retry-predicate") -> Tree:
    walk = _Nodes(what, value["nodes"])
    return _predicate_node(walk, walk.nodes[0])


def _policy_node(walk: _Nodes, node: Case) -> Tree:
    name, body = node.name, _payload(node)

    def inner() -> Tree:
        return walk.child(body["inner"], _policy_node)

    if name == "periodic":
        return (name, int(body))
    if name == "exponential":
        return (name, int(body["base-delay"]), float(body["factor"]))
    if name == "fibonacci":
        return (name, int(body["first"]), int(body["second"]))
    if name in ("immediate", "never"):
        return (name,)
    if name == "count-box":
        return (name, int(body["max-retries"]), inner())
    if name == "time-box":
        return (name, int(body["limit"]), inner())
    if name == "clamp-delay":
        return (name, int(body["min-delay"]), int(body["max-delay"]), inner())
    if name == "add-delay":
        return (name, int(body["delay"]), inner())
    if name == "jitter":
        return (name, float(body["factor"]), inner())
    if name == "filtered-on":
        where = f"{walk.what}: node {walk.path[-1]}'s predicate"
        return (name, predicate_from_wit(body["predicate"], where), inner())
    if name in _PAIRS:
        left, right = body
        return (name, walk.child(left, _policy_node), walk.child(right, _policy_node))
    raise RetryPolicyError(f"{walk.what}: unknown policy node {name!r}")


def policy_from_wit(value: Mapping[str, Any], what: str = "retry-policy") -> Tree:
    walk = _Nodes(what, value["nodes"])
    return _policy_node(walk, walk.nodes[0])


def named_from_wit(value: Mapping[str, Any]) -> NamedPolicy:
    name = str(value["name"])
    return NamedPolicy(
        name,
        int(value["priority"]),
        predicate_from_wit(value["predicate"], f"retry policy {name!r}: predicate"),
        policy_from_wit(value["policy"], f"retry policy {name!r}: policy"),
    )


# -- to WIT: pre-order, a node's slot taken before its children's ---------------------------
def _flatten_predicate(tree: Tree, nodes: list[Any]) -> int:
    index = len(nodes)
    nodes.append(None)
    name = tree[0]
    node: Case
    if name in _COMPARISONS:
        node = Case(name, {"property-name": tree[1], "value": value_to_wit(tree[2])})
    elif name == "prop-exists":
        node = Case(name, tree[1])
    elif name == "prop-in":
        values: list[Any] = [value_to_wit(v) for v in tree[2]]
        node = Case(name, {"property-name": tree[1], "values": values})
    elif name in _PATTERNS:
        node = Case(name, {"property-name": tree[1], "pattern": tree[2]})
    elif name in ("pred-and", "pred-or"):
        left = _flatten_predicate(tree[1], nodes)
        node = Case(name, (left, _flatten_predicate(tree[2], nodes)))
    elif name == "pred-not":
        node = Case(name, _flatten_predicate(tree[1], nodes))
    else:
        node = Case(name, None)
    nodes[index] = node
    return index


def predicate_to_wit(tree: Tree) -> dict[str, Any]:
    nodes: list[Any] = []
    _flatten_predicate(tree, nodes)
    return {"nodes": nodes}


def _flatten_policy(tree: Tree, nodes: list[Any]) -> int:
    index = len(nodes)
    nodes.append(None)
    name = tree[0]

    def inner() -> int:
        return _flatten_policy(tree[-1], nodes)

    body: Any
    if name == "periodic":
        body = tree[1]
    elif name == "exponential":
        body = {"base-delay": tree[1], "factor": tree[2]}
    elif name == "fibonacci":
        body = {"first": tree[1], "second": tree[2]}
    elif name in ("immediate", "never"):
        body = None
    elif name == "count-box":
        body = {"max-retries": tree[1], "inner": inner()}
    elif name == "time-box":
        body = {"limit": tree[1], "inner": inner()}
    elif name == "clamp-delay":
        body = {"min-delay": tree[1], "max-delay": tree[2], "inner": inner()}
    elif name == "add-delay":
        body = {"delay": tree[1], "inner": inner()}
    elif name == "jitter":
        body = {"factor": tree[1], "inner": inner()}
    elif name == "filtered-on":
        body = {"predicate": predicate_to_wit(tree[1]), "inner": inner()}
    else:
        left = _flatten_policy(tree[1], nodes)
        body = (left, _flatten_policy(tree[2], nodes))
    nodes[index] = Case(name, body)
    return index


def policy_to_wit(tree: Tree) -> dict[str, Any]:
    nodes: list[Any] = []
    _flatten_policy(tree, nodes)
    return {"nodes": nodes}


def named_to_wit(policy: NamedPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "priority": policy.priority,
        "predicate": predicate_to_wit(policy.predicate),
        "policy": policy_to_wit(policy.policy),
    }


__all__ = [
    "named_from_wit",
    "named_to_wit",
    "policy_from_wit",
    "policy_to_wit",
    "predicate_from_wit",
    "predicate_to_wit",
]
