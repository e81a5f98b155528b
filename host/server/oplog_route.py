"""``GET /v1/components/{component_id}/workers/{worker_name}/oplog``: Golem's get-oplog
(worker service ``get_oplog``).

Parameters as Golem's: ``from`` (the first index, default 1), ``count`` (entries per
page; Golem requires it, here it defaults to 100), ``cursor`` (``<next index>-<component
revision>``, a previous answer's ``next``: it wins over ``from``) and ``query`` (Golem's
oplog query language: the page holds the matching entries; not with ``from``). The
answer is Golem's ``GetOplogResponse`` (host/oplog_pages.py): entries as
``{oplogIndex, entry}`` with ``entry`` Golem's ``PublicOplogEntry`` JSON
(host/oplog_public_json.py), ``next``, ``firstIndexInChunk``, ``lastIndex``.

``format=agent-host`` answers agent-host's own entries instead (``{"entries":
[{"oplogIndex", "entry"}], "next": index|null, "length"}``, each entry
``host.oplog.to_dict``), for the console's scripts, the conformance adapter and tests
that check what the host recorded; it pages with ``from``/``count`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from host import oplog
from host.ids import AgentId
from host.oplog_pages import Cursor
from host.oplog_search import QueryError
from host.server.errors import ApiError
from host.service import HostService

MAX_COUNT = 10_000


class OplogFormat(StrEnum):
    golem = "golem"
    agent_host = "agent-host"


# -- the answer's schema, for the OpenAPI document (host/server/docs.py adds them: the
# answers are not revalidated against them) ----------------------------------------
class OplogCursor(BaseModel):
    nextOplogIndex: int
    currentComponentRevision: int


class PublicOplogEntry(BaseModel):
    """Golem's PublicOplogEntry: ``type`` names the case (``Create``, ``HostCall``,
    ``AgentInvocationStarted``, ``AgentInvocationFinished``, ``Suspend``, ``Error``,
    ``NoOp``, ``Jump``, ``BeginAtomicRegion``, ``EndAtomicRegion``, ``BeginRemoteWrite``,
    ``EndRemoteWrite``, ``PendingUpdate``, ``SuccessfulUpdate``, ``FailedUpdate``,
    ``Log``, ``StartSpan``, ``FinishSpan``, ``SetSpanAttribute``,
    ``ChangePersistenceLevel``, ``Snapshot``, ``SetRetryPolicy``, ``RemoveRetryPolicy``),
    its fields beside it in camelCase, every case with a ``timestamp`` (RFC 3339)."""

    model_config = ConfigDict(extra="allow")
    type: str
    timestamp: str


class PublicOplogEntryWithIndex(BaseModel):
    oplogIndex: int
    entry: PublicOplogEntry


class GetOplogResponse(BaseModel):
    """Golem's GetOplogResponse; ``next`` is null on a page with no entries."""

    entries: list[PublicOplogEntryWithIndex]
    next: OplogCursor | None = None
    firstIndexInChunk: int
    lastIndex: int


class AgentHostOplogEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    oplogIndex: int
    entry: dict[str, Any] = Field(description="host.oplog.to_dict of the entry")


class AgentHostOplogPage(BaseModel):
    """``format=agent-host``: our entries; ``next`` the index after the page, null at the end."""

    entries: list[AgentHostOplogEntry]
    next: int | None
    length: int


_OK = {
    "description": "Golem's GetOplogResponse, or with format=agent-host agent-host's page",
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {"$ref": "#/components/schemas/GetOplogResponse"},
                    {"$ref": "#/components/schemas/AgentHostOplogPage"},
                ]
            }
        }
    },
}


def _cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        return Cursor.parse(text)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc), "query.cursor") from None


def install_oplog_route(
    app: FastAPI, service: HostService, agent_of: Callable[[str, str], AgentId]
) -> None:
    @app.get(
        "/v1/components/{component_id}/workers/{worker_name}/oplog",
        tags=["workers"],
        responses={200: _OK},
    )
    def get_oplog(
        component_id: str,
        worker_name: str,
        from_: Annotated[int | None, Query(alias="from", ge=1, le=2**63 - 1)] = None,
        count: Annotated[int, Query(ge=1, le=MAX_COUNT)] = 100,
        cursor: Annotated[str | None, Query(description="<next index>-<revision>")] = None,
        query: Annotated[str | None, Query(description="Golem's oplog query")] = None,
        format: OplogFormat = OplogFormat.golem,  # noqa: A002
    ) -> dict[str, Any]:
        agent = agent_of(component_id, worker_name)
        if from_ is not None and query is not None:
            raise ApiError(
                400, "invalid_request", "give either 'from' or 'query', not both", "query.query"
            )
        if format is OplogFormat.agent_host:
            if cursor is not None or query is not None:
                field = "query.cursor" if cursor is not None else "query.query"
                raise ApiError(
                    400, "invalid_request", "format=agent-host pages with from/count only", field
                )
            page = service.oplog(agent, from_ or 1, count)
            return {
                "entries": [{"oplogIndex": i, "entry": oplog.to_dict(e)} for i, e in page.entries],
                "next": page.next,
                "length": page.length,
            }
        at = _cursor(cursor)
        try:
            return service.public_oplog(agent, from_ or 1, count, at, query).json()
        except QueryError as exc:
            raise ApiError(400, "invalid_request", str(exc), "query.query") from None


__all__ = ["install_oplog_route"]
