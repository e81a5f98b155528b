"""Golem's worker operations over REST: update, revert and fork (Golem worker service
v1.4/v1.5 shapes), each one :class:`~host.service.HostService` call
(host/service/worker_ops.py).

- ``POST .../workers/{name}/update`` ``{"mode": "automatic" | "manual", "targetRevision": n}``
  (``targetVersion``, Golem 1.2's name, is accepted too; ``manual`` is the snapshot-based
  update; ``"disableWakeup": true``, Golem 1.5's, records it without running an agent at
  rest to apply it: it applies the next time the agent runs). 200 ``{}`` (Golem's
  UpdateWorkerResponse): the request is recorded and applied once the agent is between
  invocations; for an agent running an invocation it is queued after it, as Golem
  queues it. How it went is in the worker's metadata (``updates``: PendingUpdate /
  SuccessfulUpdate / FailedUpdate), also for an update that failed while the request
  was answered (an idle agent): Golem answers ``{}`` there too and reports the failure
  in the metadata (the CLI says it at once).
- ``POST .../revert`` ``{"type": "RevertToOplogIndex", "lastOplogIndex": n}`` or
  ``{"type": "RevertLastInvocations", "numberOfInvocations": n}``.
- ``POST .../fork`` ``{"targetAgentId": {"componentId", "agentId"}, "oplogIndexCutoff": n}``
  (Golem 1.4's ``targetWorkerId {"componentId", "workerName"}`` too).

A version the component does not have is accepted, as Golem accepts it: the update
fails when applied (a FailedUpdate in ``updates``). A failed, interrupted, suspended or
retrying agent is activated to apply it (Golem's ``start_if_needed``), unless
``disableWakeup``.

Bad bodies are 400 naming the field, an unknown agent 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from host.errors import UpdateFailed
from host.server.errors import ApiError
from host.server.routes import WORKERS, located
from host.service import HostService

Index = Annotated[int, Field(ge=1, le=2**63 - 1, strict=True)]
# Component versions count from 0, as Golem's revisions do (host/store/base.py).
Version = Annotated[int, Field(ge=0, le=2**63 - 1, strict=True)]


class UpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: str
    targetRevision: Version | None = None  # noqa: N815
    targetVersion: Version | None = None  # noqa: N815
    # Golem 1.5's: record the update without running an agent at rest to apply it.
    disableWakeup: bool = False  # noqa: N815


class RevertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["RevertToOplogIndex", "RevertLastInvocations"]
    lastOplogIndex: Index | None = None  # noqa: N815
    numberOfInvocations: Index | None = None  # noqa: N815


class TargetId(BaseModel):
    model_config = ConfigDict(extra="forbid")
    componentId: uuid.UUID  # noqa: N815
    agentId: str | None = None  # noqa: N815
    workerName: str | None = None  # noqa: N815


class ForkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targetAgentId: TargetId | None = None  # noqa: N815
    targetWorkerId: TargetId | None = None  # noqa: N815
    oplogIndexCutoff: Index  # noqa: N815


def _bad(message: str, field: str) -> ApiError:
    return ApiError(400, "invalid_input", message, field)


def install_worker_ops(app: FastAPI, service: HostService) -> None:
    """Add the update, revert and fork routes to ``app``."""

    def agent_of(component_id: str, worker_name: str) -> Any:
        with located(name="path.worker_name"):
            return service.agent_id(component_id, worker_name)

    @app.post(WORKERS + "/{worker_name}/update", tags=["workers"])
    def update_worker(component_id: str, worker_name: str, body: UpdateRequest) -> dict[str, Any]:
        agent = agent_of(component_id, worker_name)
        target = body.targetRevision if body.targetRevision is not None else body.targetVersion
        if target is None:
            raise _bad("give the target version as targetRevision", "body.targetRevision")
        mode = body.mode.lower()
        if mode not in ("automatic", "manual", "snapshot"):
            raise _bad(
                f"unknown update mode {body.mode!r}: automatic or manual (snapshot-based)",
                "body.mode",
            )
        with located(version="body.targetRevision", mode="body.mode"):
            try:
                service.update_agent(agent, target, mode, wake=not body.disableWakeup)
            except UpdateFailed:
                pass  # recorded (failed-update): the metadata's updates say why
        return {}

    @app.post(WORKERS + "/{worker_name}/revert", tags=["workers"])
    def revert_worker(component_id: str, worker_name: str, body: RevertRequest) -> dict[str, Any]:
        agent = agent_of(component_id, worker_name)
        if body.type == "RevertToOplogIndex":
            if body.lastOplogIndex is None or body.numberOfInvocations is not None:
                raise _bad("RevertToOplogIndex takes lastOplogIndex", "body.lastOplogIndex")
        elif body.numberOfInvocations is None or body.lastOplogIndex is not None:
            raise _bad(
                "RevertLastInvocations takes numberOfInvocations", "body.numberOfInvocations"
            )
        with located(index="body.lastOplogIndex", last_invocations="body.numberOfInvocations"):
            service.revert_agent(agent, body.lastOplogIndex, body.numberOfInvocations)
        return {}

    @app.post(WORKERS + "/{worker_name}/fork", tags=["workers"])
    def fork_worker(component_id: str, worker_name: str, body: ForkRequest) -> dict[str, Any]:
        source = agent_of(component_id, worker_name)
        given = body.targetAgentId or body.targetWorkerId
        where = "body.targetAgentId" if body.targetAgentId is not None else "body.targetWorkerId"
        if given is None or (body.targetAgentId and body.targetWorkerId):
            raise _bad("give the new agent as targetAgentId", "body.targetAgentId")
        name = given.agentId if given.agentId is not None else given.workerName
        if name is None:
            raise _bad("the target names no agent (agentId)", where + ".agentId")
        if given.componentId != source.component_id:
            raise _bad(
                f"agent-host forks within one component: the target must be of "
                f"{source.component_id}",
                where + ".componentId",
            )
        with located(target=where + ".agentId", oplogIndexCutoff="body.oplogIndexCutoff"):
            service.fork_agent(source, name, body.oplogIndexCutoff)
        return {}


__all__ = ["install_worker_ops"]
