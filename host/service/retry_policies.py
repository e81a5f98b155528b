"""Host-wide named retry policies (Golem 1.5's environment-level ones, managed by its
registry service's ``/v1/envs/{env}/retry-policies`` and ``golem retry-policy``): the
use cases REST and the CLI share. Policies live in the store (table retry_policies) in
the JSON form of :mod:`host.retry_policy_json`, checked before they are written; a
running agent reads them at its next resolve or trap (host/runtime/golem_retry.py), as
Golem's executor fetches its environment's at each use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from host import retry_policy as rp
from host.retry_policy_json import RetryPolicyNotFound, parse_named, stored_policies, to_json

if TYPE_CHECKING:
    from host.store import Store


class RetryPolicyService:
    """Retry policy use cases; a mixin of HostService."""

    if TYPE_CHECKING:  # what HostService provides
        store: Store

    def list_retry_policies(self) -> list[rp.NamedPolicy]:
        """By descending priority, then name: the order an agent resolves them in."""
        return sorted(stored_policies(self.store), key=lambda p: (-p.priority, p.name))

    def get_retry_policy(self, name: str) -> rp.NamedPolicy:
        for policy in stored_policies(self.store):
            if policy.name == name:
                return policy
        raise RetryPolicyNotFound(name)

    def set_retry_policy(self, data: Any, name: str | None = None) -> rp.NamedPolicy:
        """Add or replace a policy from its JSON form (InvalidInput naming the node at
        fault); ``name`` is the one the request's path or argument gives."""
        policy = parse_named(data, name)
        self.store.set_retry_policy(policy.name, to_json(policy))
        return policy

    def remove_retry_policy(self, name: str) -> rp.NamedPolicy:
        """Drop a policy and give it back (Golem's delete answers the deleted one)."""
        policy = self.get_retry_policy(name)
        if not self.store.remove_retry_policy(name):
            raise RetryPolicyNotFound(name)  # removed meanwhile by another process
        return policy


__all__ = ["RetryPolicyService"]
