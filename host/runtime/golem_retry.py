"""``golem:api/retry@1.5.0``: the agent's named retry policies (Golem 1.5).

What the agent sees is, by name, Golem's catch-all ``default`` (priority 0, matching
everything, built from the host's default retry policy), overlaid with the policies in
the agent's config (Golem's agent-config tier: config values that decode as a
named-retry-policy or a list of them, host/retry_policy_config.py; read once per
session, as Golem caches them), overlaid with the host-wide policies (Golem's
environment-level ones: the store's, managed by ``/v1/retry-policies`` and ``agent-host
retry-policy``; read at each use, as Golem's executor fetches them, so a change reaches
running agents), overlaid with what the guest set or removed (Golem's runtime overlay);
the overlay lives in ``session.state[MUTATIONS]`` (name -> policy, None once removed).

Durability, as Golem's executor (durable_host/golem/retry_api.rs):

* ``set-retry-policy`` / ``remove-retry-policy`` write and commit an entry of their own,
  :class:`~host.oplog.SetRetryPolicy` / :class:`~host.oplog.RemoveRetryPolicy`, whatever
  the persistence level (Golem's add_and_commit_oplog). On replay the entry is taken at
  the cursor and the guest's argument applied again, as Golem's executor does, so replay,
  a restarted host and a fork rebuild the overlay; snapshots carry it in their host state
  (host.runtime.golem.durable_state), and recovery from an older snapshot reads the
  entries (:func:`restore_entry`). Oplogs written before these entry types hold the
  calls as ``STATE`` host calls: replay accepts one in its place.
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
from host.oplog import Entry, HostCall, RemoveRetryPolicy, SetRetryPolicy
from host.retry_policy_config import config_policies
from host.retry_policy_json import stored_policies
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


def host_wide(session: Session) -> list[rp.NamedPolicy]:
    """The host-wide policies (none for a session without a store)."""
    store = getattr(session, "store", None)
    return [] if store is None else stored_policies(store)


def from_config(session: Session) -> list[rp.NamedPolicy]:
    """The policies among the agent's config values (none without the service layer)."""
    cached: list[rp.NamedPolicy] | None = session.config_retry_policies
    if cached is None:
        calls = session.agent_calls
        cached = [] if calls is None else config_policies(*calls.agent_config(session.agent))
        session.config_retry_policies = cached
    return cached


LEGACY = "retry-policy"  # session state of golem:api/host's set-retry-policy (runtime/golem.py)


def has_named_policies(session: Session) -> bool:
    """Whether a trap is decided by the named policies (host/runtime/run_failures.py):
    the guest set or removed one, or its config or the host defines any and the guest
    did not choose its own policy with golem:api/host's set-retry-policy (which Golem 1.5
    no longer has; the agent's own choice wins over the environment's, as Golem's overlay
    order has it). Otherwise by today's rules, whose default is Golem's catch-all."""
    if session.state.get(MUTATIONS):
        return True
    if LEGACY in session.state:
        return False
    return bool(from_config(session)) or bool(host_wide(session))


def policies(session: Session) -> list[rp.NamedPolicy]:
    """The agent's named policies, by descending priority then name (Golem's order)."""
    config = session.default_retry_policy or DEFAULT_RETRY_POLICY
    default = rp.default_policy({**DEFAULT_RETRY_POLICY, **config})
    tiers = [*from_config(session), *host_wide(session)]  # later tiers win by name
    return rp.effective(default, mutations(session), tiers)


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


def _apply_set(session: Session, policy: rp.NamedPolicy) -> None:
    session.state[MUTATIONS] = {**mutations(session), policy.name: policy}


def _apply_remove(session: Session, name: str) -> None:
    session.state[MUTATIONS] = {**mutations(session), str(name): None}


def _journal(session: Session, function: str, entry: SetRetryPolicy | RemoveRetryPolicy) -> None:
    """Record ``entry`` live (and commit it), or on replay move past the one recorded for
    this call: an entry of ``entry``'s type, or the HostCall an older host wrote."""
    if session.scratch:
        from host.runtime.golem import GuestError  # golem imports this module

        raise GuestError(
            f"{INTERFACE}.{function} was called while the host read the component's endpoint "
            "definition; the definition must not create, complete or change anything"
        )
    session.skip_markers()
    if session.replaying:
        recorded = session.entries[session.cursor]
        if isinstance(recorded, HostCall) and recorded.function == f"{INTERFACE}.{function}":
            session.next_recorded(recorded.function)
        else:
            session._take(type(entry), f"{INTERFACE}.{function}")
        return
    session.record(entry)
    session.flush()


def _set(session: Session, value: dict[str, Any]) -> None:
    policy = named_from_wit(value)  # RetryPolicyError (a bad index, a cycle) fails the call
    _journal(session, "set-retry-policy", SetRetryPolicy(rp.named_to_json(policy)))
    _apply_set(session, policy)


def _remove(session: Session, name: str) -> None:
    _journal(session, "remove-retry-policy", RemoveRetryPolicy(str(name)))
    _apply_remove(session, str(name))


FUNCS: dict[str, HostFunc] = {
    "get-retry-policies": HostFunc(_get_all, Kind.READ),
    "get-retry-policy-by-name": HostFunc(_get_by_name, Kind.READ),
    "resolve-retry-policy": HostFunc(_resolve, Kind.READ),
    # PURE to host_call: they write (and commit) their own entries (_journal).
    "set-retry-policy": HostFunc(_set, Kind.PURE),
    "remove-retry-policy": HostFunc(_remove, Kind.PURE),
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


# -- snapshots without host state: the overlay rebuilt from the recorded entries -----------
def restore_entry(session: Session, entry: Entry) -> None:
    """Apply a recorded set-/remove-retry-policy as replaying it would: an entry of its
    own, or the HostCall of an older oplog (its request as the oplog holds it: JSON, a
    variant as a one-key object). Other entries are not this module's."""
    if isinstance(entry, SetRetryPolicy):
        _apply_set(session, rp.named_from_json(entry.policy))
    elif isinstance(entry, RemoveRetryPolicy):
        _apply_remove(session, entry.name)
    elif isinstance(entry, HostCall) and entry.function.startswith(f"{INTERFACE}."):
        restore_call(session, entry.function.rpartition(".")[2], list(entry.request))


def restore_call(session: Session, function: str, request: list[Any]) -> None:
    """Apply an older oplog's set-/remove-retry-policy HostCall."""
    if function == "remove-retry-policy" and len(request) == 1:
        _apply_remove(session, str(request[0]))
    elif function == "set-retry-policy" and len(request) == 1:
        value = dict(request[0])
        value["predicate"] = {"nodes": _predicate_nodes(value["predicate"]["nodes"])}
        value["policy"] = {"nodes": [_policy_node(n) for n in value["policy"]["nodes"]]}
        _apply_set(session, named_from_wit(value))


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


__all__ = ["FUNCS", "INTERFACE", "has_named_policies", "policies", "restore_entry"]
