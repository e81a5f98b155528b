"""Host-wide named retry policies over REST, beside Golem 1.5's registry routes
(``/v1/envs/{environment_id}/retry-policies``, ``/v1/retry-policies/{id}``): agent-host
has one environment, so the collection is ``/v1/retry-policies`` and a policy is named
by its name (Golem's names are unique within an environment).

- ``GET /v1/retry-policies``: ``{"values": [policy, ...]}`` by descending priority, then
  name (Golem's Page shape);
- ``GET /v1/retry-policies/{name}``: the policy, 404 if none;
- ``POST /v1/retry-policies``: add or replace the policy the body names (200, the policy);
- ``PUT /v1/retry-policies/{name}``: the same with the name in the path (the body's
  ``name`` may be left out; if given it must agree);
- ``DELETE /v1/retry-policies/{name}``: remove it, answering the removed policy (Golem's
  delete answers the deleted DTO); 404 if none.

A policy is the JSON form of host/retry_policy_json.py. A malformed one is 400 naming
the node (``body.policy.2``); never a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI

from host.retry_policy_json import to_json
from host.server.routes import located
from host.service import HostService

COLLECTION = "/v1/retry-policies"
_WHERE = {k: f"body.{k}" for k in ("name", "priority", "predicate", "policy")}


def install_retry_policies(app: FastAPI, service: HostService) -> None:
    """Add the retry policy routes to ``app``."""

    @app.get(COLLECTION, tags=["retry-policies"])
    def list_retry_policies() -> dict[str, Any]:
        return {"values": [to_json(p) for p in service.list_retry_policies()]}

    @app.get(COLLECTION + "/{name}", tags=["retry-policies"])
    def get_retry_policy(name: str) -> dict[str, Any]:
        return to_json(service.get_retry_policy(name))

    @app.post(COLLECTION, tags=["retry-policies"])
    def create_retry_policy(body: Any = Body(...)) -> dict[str, Any]:  # noqa: B008
        with located(**_WHERE):
            return to_json(service.set_retry_policy(body))

    @app.put(COLLECTION + "/{name}", tags=["retry-policies"])
    def put_retry_policy(name: str, body: Any = Body(...)) -> dict[str, Any]:  # noqa: B008
        with located(**_WHERE):
            return to_json(service.set_retry_policy(body, name))

    @app.delete(COLLECTION + "/{name}", tags=["retry-policies"])
    def delete_retry_policy(name: str) -> dict[str, Any]:
        return to_json(service.remove_retry_policy(name))


__all__ = ["COLLECTION", "install_retry_policies"]
