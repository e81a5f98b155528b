"""The JSON shapes of Golem's REST API, built from the service's views."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi.responses import JSONResponse

from host.ids import PromiseId
from host.server.errors import ApiError
from host.service import AgentView, InvocationView, iso
from host.store import ComponentRecord, PromiseRecord

if TYPE_CHECKING:
    from host.runtime.owned import OwnedResource
    from host.runtime.update_queue import UpdateRecord

GOLEM_STATUS = {
    "running": "Running",
    "idle": "Idle",
    "suspended": "Suspended",
    "interrupted": "Interrupted",
    "failed": "Failed",
    "retrying": "Retrying",
}


def golem_status(status: str) -> str:
    return GOLEM_STATUS.get(status, status)


def component_json(record: ComponentRecord) -> dict[str, Any]:
    return {
        "componentId": record.id,
        "componentName": record.name,
        "componentVersion": record.version,
        "componentSize": record.size,
        "hash": record.hash,
    }


def promise_id_json(promise: PromiseId) -> dict[str, Any]:
    return {
        "workerId": {
            "componentId": str(promise.agent.component_id),
            "workerName": promise.agent.name,
        },
        "oplogIdx": promise.oplog_idx,
    }


def promise_json(p: PromiseRecord, internal: bool = False) -> dict[str, Any]:
    """A promise as listed; ``internal``: one the host completes itself (an agent
    awaiting another agent on it), listed only with ``?all=true``."""
    return {
        "promiseId": promise_id_json(p.id),
        "id": str(p.id),
        "createdAt": iso(p.created_at),
        "createdBy": p.function,
        "completed": p.completed,
        "internal": internal,
    }


def metadata(view: AgentView) -> dict[str, Any]:
    record = view.record
    return {
        "workerId": {
            "componentId": str(record.agent.component_id),
            "workerName": record.agent.name,
        },
        "args": list(view.created.args),
        "env": {k: v for k, v in view.created.user_env},
        "status": golem_status(record.status),
        "componentVersion": view.component_version,
        "retryCount": record.retry_count,
        "pendingInvocationCount": view.queued,
        "createdAt": iso(record.created_at),
        "lastError": record.last_error,
        "oplogLength": record.oplog_length,
        "invocations": [
            {"invocationId": i.invocation_id, "function": i.function, "state": i.state}
            for i in view.invocations
        ],
        "waitingOn": [promise_id_json(p) for p in view.waiting_on()],
    }


def updates_json(records: list[UpdateRecord]) -> list[dict[str, Any]]:
    """Golem's ``updates`` of an agent's metadata: UpdateRecord objects, ``type``
    PendingUpdate / SuccessfulUpdate / FailedUpdate, with the target as
    ``targetVersion`` (Golem 1.4) and ``targetRevision`` (1.5), and ``details`` for a
    failed one."""
    out = []
    for r in records:
        one: dict[str, Any] = {
            "type": r.kind,
            "timestamp": iso(r.timestamp),
            "targetVersion": r.target_version,
            "targetRevision": r.target_version,
        }
        if r.details is not None:
            one["details"] = r.details
        out.append(one)
    return out


def exported_resources_json(owned: list[OwnedResource]) -> list[dict[str, Any]]:
    """Golem's ``exportedResourceInstances`` of an agent's metadata."""
    return [
        {
            "key": r.key,
            "description": {
                "createdAt": iso(r.created_at),
                "resourceOwner": r.resource_owner,
                "resourceName": r.resource_name,
            },
        }
        for r in owned
    ]


def invocation_response(view: InvocationView, component_id: str, worker_name: str) -> JSONResponse:
    """200 with the result once done; 422 once failed; else 202 with where to look."""
    record, agent = view.invocation, view.agent
    if record.state == "done":
        return JSONResponse({"result": view.result_json, "wave": record.result})
    if record.state == "failed":
        raise ApiError(422, "invocation_failed", f"the invocation failed: {record.error}")
    if agent.status == "failed":
        raise ApiError(422, "invocation_failed", f"the agent failed: {agent.last_error}")
    name = quote(worker_name, safe="")  # an agent id: CounterAgent(%22c1%22)
    url = f"/v1/components/{component_id}/workers/{name}/invocations/{record.invocation_id}"
    return JSONResponse(
        {
            "invocationId": record.invocation_id,
            "state": record.state,
            "status": golem_status(agent.status),
            "waitingOn": [
                promise_id_json(PromiseId(agent.agent, i)) for i in agent.waiting_promises
            ],
            "message": "the invocation has not finished yet; GET resultUrl (with ?wait=SECONDS "
            "to hold the request) for its result",
            "resultUrl": url,
        },
        status_code=202,
    )
