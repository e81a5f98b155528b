"""``golem:api/retry@1.5.0``: the agent's named retry policies (Golem 1.5).

What the agent sees is Golem's catch-all ``default`` (priority 0, matching everything,
built from the host's default retry policy) overlaid with what the guest set or removed;
the overlay lives in ``session.state[MUTATIONS]`` (name -> policy, None once removed).

Durability, as Golem's executor (durable_host/golem/retry_api.rs):

* ``set-retry-policy`` / ``remove-retry-policy`` are recorded and committed at once
  (Golem writes and commits an oplog entry of their own). Here they are ``STATE`` host
  calls, which run again on replay, so replay and a restarted host rebuild the overlay;
  snapshots carry it in their host state (host.runtime.golem.durable_state).
* ``get-retry-policies``, ``get-retry-policy-by-name`` and ``resolve-retry-policy`` are
  ``READ``: the answer is recorded and replay returns the recorded one (Golem's
  ReadRemote durability: the environment's policies may have changed meanwhile).
* ``resolve-retry-policy`` evaluates over RetryContext::custom(verb, noun-uri) plus the
  given properties; an evaluation error (a missing property, a type that does not
  compare) fails the call, as Golem's does.
"""

from __future__ import annotations

from typing import Any

from host import retry_policy as rp
from host.retry_policy_wit import named_from_wit, named_to_wit, policy_to_wit, value_from_wit
from host.runtime.failures import DEFAULT_RETRY_POLICY
from host.runtime.session import HostFunc, Kind, Session
from host.values import Case, Some

INTERFACE = "golem:api/retry@1.5.0"
MUTATIONS = "retry-policies"


class RetryApiError(rp.RetryPolicyError):
    """A retry-api call failed (an evaluation error while resolving)."""


def mutations(session: Session) -> dict[str, rp.NamedPolicy | None]:
    found: dict[str, rp.NamedPolicy | None] = session.state.get(MUTATIONS, {})
    return found


def has_named_policies(session: Session) -> bool:
    """Whether the guest set or removed a named policy: then a trap is decided by them
    (host/runtime/run_failures.py); otherwise by today's rules, whose default is the same
    policy as Golem's catch-all."""
    return bool(session.state.get(MUTATIONS))


def policies(session: Session) -> list[rp.NamedPolicy]:
    """The agent's named policies, by descending priority then name (Golem's order)."""
    config = session.default_retry_policy or DEFAULT_RETRY_POLICY
    return rp.effective(rp.default_policy({**DEFAULT_RETRY_POLICY, **config}), mutations(session))


def _get_all(session: Session) -> list[dict[str, Any]]:
    return [named_to_wit(p) for p in policies(session)]


def _get_by_name(session: Session, name: str) -> Some | None:
    for policy in policies(session):
        if policy.name == name:
            return Some(named_to_wit(policy))
    return None


def _resolve(session: Session, verb: str, noun_uri: str, properties: list[Any]) -> Some | None:
    props = rp.context(verb, noun_uri)
    for name, value in properties:
        props[str(name)] = value_from_wit(value)
    try:
        found = rp.resolve(policies(session), props)
    except rp.EvaluationError as exc:
        raise RetryApiError(f"resolve-retry-policy: retry policy resolution error: {exc}") from None
    return None if found is None else Some(policy_to_wit(found.policy))


def _set(session: Session, value: dict[str, Any]) -> None:
    policy = named_from_wit(value)  # RetryPolicyError (a bad index, a cycle) fails the call
    session.state[MUTATIONS] = {**mutations(session), policy.name: policy}


def _remove(session: Session, name: str) -> None:
    session.state[MUTATIONS] = {**mutations(session), str(name): None}


FUNCS: dict[str, HostFunc] = {
    "get-retry-policies": HostFunc(_get_all, Kind.READ),
    "get-retry-policy-by-name": HostFunc(_get_by_name, Kind.READ),
    "resolve-retry-policy": HostFunc(_resolve, Kind.READ),
    # Committed at once, as Golem commits its SetRetryPolicy / RemoveRetryPolicy entries.
    "set-retry-policy": HostFunc(_set, Kind.STATE, commits=True),
    "remove-retry-policy": HostFunc(_remove, Kind.STATE, commits=True),
}


# -- snapshots: the overlay as JSON in a snapshot's host state ------------------------------
def to_state(session: Session) -> dict[str, Any] | None:
    found = mutations(session)
    if not found:
        return None
    return {n: None if p is None else rp.named_to_json(p) for n, p in found.items()}


def from_state(session: Session, data: dict[str, Any] | None) -> None:
    if data:
        session.state[MUTATIONS] = {
            n: None if p is None else rp.named_from_json(p) for n, p in data.items()
        }


# -- snapshots without host state: the overlay rebuilt from the recorded calls -------------
def restore_call(session: Session, function: str, request: list[Any]) -> None:
    """Apply a recorded set-/remove-retry-policy (its request as the oplog holds it: JSON,
    a variant as a one-key object) as replaying it would."""
    if function == "remove-retry-policy" and len(request) == 1:
        _remove(session, str(request[0]))
    elif function == "set-retry-policy" and len(request) == 1:
        value = dict(request[0])
        value["predicate"] = {"nodes": _predicate_nodes(value["predicate"]["nodes"])}
        value["policy"] = {"nodes": [_policy_node(n) for n in value["policy"]["nodes"]]}
        _set(session, value)


def _case(data: dict[str, Any]) -> Case:
    ((name, payload),) = data.items()
    return Case(name, payload)


def _predicate_nodes(nodes: list[dict[str, Any]]) -> list[Case]:
    out = []
    for node in nodes:
        case = _case(node)
        body: Any = case.value
        if isinstance(body, dict) and "value" in body:
            body = {**body, "value": _case(body["value"])}
        if isinstance(body, dict) and "values" in body:
            body = {**body, "values": [_case(v) for v in body["values"]]}
        out.append(Case(case.name, body))
    return out


def _policy_node(node: dict[str, Any]) -> Case:
    case = _case(node)
    body: Any = case.value
    if case.name == "filtered-on" and isinstance(body, dict):
        predicate: Any = {"nodes": _predicate_nodes(body["predicate"]["nodes"])}
        return Case(case.name, {**body, "predicate": predicate})
    return case


__all__ = ["FUNCS", "INTERFACE", "has_named_policies", "policies"]
