"""The console's pages (GET), each built from HostService calls.

The page builders return template contexts; :mod:`host.server.ui.actions` reuses them to
show a form's outcome on the page it came from.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from host.errors import HostError
from host.ids import AgentId
from host.server.ui.console import Console, ConsoleError, PageContext
from host.server.ui.live import digest
from host.server.ui.present import (
    Choice,
    Payload,
    choices,
    entry_view,
    json_text,
    routes,
    schema_params,
    schema_text,
)
from host.service import iso, signature, status_line
from host.store.base import AgentStatus, InvocationRecord, PromiseRecord

OPLOG_PAGE = 50
STATUSES = [s.value for s in AgentStatus]


@dataclass(frozen=True)
class PendingRow:
    promise: str
    component_id: str
    component: str
    agent: str
    oplog_idx: int
    method: str
    created: str | None
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class InvocationRow:
    invocation_id: str
    method: str
    params: str
    state: str
    created: str | None
    result: Payload | None
    error: str | None


def _int(value: str | None, name: str, default: int, minimum: int = 1) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConsoleError(400, "Bad address", f"?{name}= must be a whole number") from None
    if number < minimum:
        raise ConsoleError(400, "Bad address", f"?{name}= must be at least {minimum}")
    return number


class Pages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.service = console.service

    def _component_names(self) -> dict[str, str]:
        return {r.id: r.name for r in self.service.list_components()}

    # -- pending promises ---------------------------------------------------------------------
    def pending_rows(self, records: list[PromiseRecord] | None = None) -> list[PendingRow]:
        service = self.service
        names = self._component_names()
        rows = []
        waiting: dict[AgentId, str] = {}
        for p in sorted(
            records if records is not None else service.list_promises(),
            key=lambda p: (p.created_at, p.id.oplog_idx),
            reverse=True,
        ):
            agent = p.id.agent
            try:
                if agent not in waiting:
                    started = [i for i in service.agent(agent).invocations if i.state == "started"]
                    waiting[agent] = (
                        service.invocation_method(started[0]) if started else (p.function or "")
                    )
                agent_type = service.agent_type_of(agent)
            except HostError:
                continue  # deleted since it was listed
            cid = str(agent.component_id)
            rows.append(
                PendingRow(
                    str(p.id),
                    cid,
                    names.get(cid, cid),
                    agent.name,
                    p.id.oplog_idx,
                    waiting[agent],
                    iso(p.created_at),
                    choices(agent_type, waiting[agent]),
                )
            )
        return rows

    def pending(self, **extra: Any) -> PageContext:
        records = self.service.list_promises()
        seen = digest(frozenset(str(p.id) for p in records))  # for its live updates
        rows = self.pending_rows(records)
        return {"page": "pending", "rows": rows, "seen": seen, "outcome": None, **extra}

    # -- agents -------------------------------------------------------------------------------
    def agents(self, status: str | None, **extra: Any) -> PageContext:
        if status is not None and status not in STATUSES:
            raise ConsoleError(
                400, "Bad address", f"unknown status {status!r}: one of {', '.join(STATUSES)}"
            )
        names = self._component_names()
        views = self.service.list_agents()
        counts = collections.Counter(str(v.status) for v in views)
        shown = [v for v in views if status is None or v.status == status]
        rows = [
            {
                "component_id": str(v.agent.component_id),
                "component": names.get(str(v.agent.component_id), ""),
                "name": v.agent.name,
                "status": str(v.status),
                "status_line": status_line(v.record),
                "pending": len(v.pending_promises),
                "queued": v.queued,
                "created": iso(v.record.created_at),
            }
            for v in shown
        ]
        return {
            "page": "agents",
            "rows": rows,
            "counts": [(s, counts.get(s, 0)) for s in STATUSES],
            "total": len(views),
            "status": status,
            "outcome": None,
            **extra,
        }

    def invocation_row(self, record: InvocationRecord) -> InvocationRow:
        service = self.service
        result: Payload | None = None
        error = record.error
        if record.state == "done":
            if service.is_agent_call(record):
                found = service.agent_result(record)
                if found is not None and found.error is not None:
                    error = found.error
                elif found is not None:
                    result = json_text(found.json)
            else:
                result = json_text(service.invocation(record.invocation_id).result_json)
        method = service.invocation_method(record)
        # A method call's parameters are its second argument (a data-value); the first
        # names the method (or, for initialize, the agent type).
        guest = record.function.startswith("golem:agent/guest")
        params = ", ".join(record.params[1:2] if guest else record.params)
        return InvocationRow(
            record.invocation_id, method, params, str(record.state), iso(record.created_at),
            result, error,
        )  # fmt: skip

    def agent(self, component_id: str, name: str, start: int | None, **extra: Any) -> PageContext:
        service = self.service
        agent = service.agent_id(component_id, name)
        view = service.agent(agent)
        length = view.record.oplog_length
        # The newest page by default: the end of the log is what a person looks for.
        first = start if start is not None else max(1, length - OPLOG_PAGE + 1)
        page = service.oplog(agent, first, OPLOG_PAGE)
        invocations = [self.invocation_row(i) for i in service.invocations(agent)]
        record = view.record
        component = service.component(str(agent.component_id)).record
        return {
            "page": "agents",
            "component_id": str(agent.component_id),
            "component": component.name,
            "name": agent.name,
            "status": str(record.status),
            "status_line": status_line(record),
            "last_error": record.last_error,
            "version": view.component_version,
            "created": iso(record.created_at),
            "retry_count": record.retry_count,
            "pending": self.pending_rows(list(view.pending_promises)),
            "invocations": list(reversed(invocations)),
            "entries": [entry_view(i, e) for i, e in page.entries],
            "oplog_first": first,
            "oplog_length": length,
            "oplog_prev": max(1, first - OPLOG_PAGE) if first > 1 else None,
            "oplog_next": page.next,
            "oplog_page": OPLOG_PAGE,
            "outcome": None,
            **extra,
        }

    # -- components ---------------------------------------------------------------------------
    def components(self) -> PageContext:
        rows = []
        for record in self.service.list_components():
            types = self.service.agent_types(record.id)
            rows.append({"record": record, "types": [t.type_name for t in types]})
        return {"page": "components", "rows": rows}

    def component(self, ref: str, **extra: Any) -> PageContext:
        service = self.service
        view = service.component(ref)
        types = []
        for t in service.agent_types(ref):
            constructor = schema_params(t.constructor.input_schema)
            # What an agent id looks like: string parameters quoted, the others named.
            hint = ", ".join(f'"{n}"' if ty == "string" else n for n, ty in constructor)
            methods = []
            for m in t.methods:
                params = schema_params(m.input_schema)
                typed = ", ".join(f"{n}: {ty}" for n, ty in params)
                names = ", ".join(n for n, _ in params)
                methods.append(
                    {
                        "name": m.name,
                        "description": m.description,
                        "shown": f"{m.name}({typed}) → {schema_text(m.output_schema)}",
                        "params_label": f"Parameters (a JSON array{': ' + names if names else ''})",
                    }
                )
            types.append(
                {
                    "name": t.type_name,
                    "description": t.description,
                    "mode": t.mode,
                    "constructor_text": schema_text(t.constructor.input_schema),
                    "agent_hint": f"{t.type_name}({hint})",
                    "methods": methods,
                    "routes": routes(t),
                }
            )
        exports = [] if types else [signature(e) for e in view.functions]
        return {
            "page": "components",
            "record": view.record,
            "types": types,
            "exports": exports,
            "outcome": None,
            **extra,
        }


def install_pages(app: FastAPI, console: Console) -> Pages:
    pages = Pages(console)

    @app.get("/ui", include_in_schema=False)
    async def pending(request: Request) -> Response:
        return await console.page(request, "pending.html", pages.pending)

    @app.get("/ui/fragments/pending", include_in_schema=False)
    async def pending_fragment(request: Request) -> Response:
        return await console.page(request, "pending_list.html", pages.pending)

    @app.get("/ui/agents", include_in_schema=False)
    async def agents(request: Request) -> Response:
        status = request.query_params.get("status") or None
        return await console.page(request, "agents.html", lambda: pages.agents(status))

    @app.get("/ui/agent", include_in_schema=False)
    async def agent(request: Request) -> Response:
        q = request.query_params

        def build() -> PageContext:
            cid, name = q.get("component", ""), q.get("name", "")
            if not cid or not name:
                raise ConsoleError(400, "Bad address", "give ?component= and ?name=")
            start = _int(q.get("from"), "from", 0) if q.get("from") else None
            return pages.agent(cid, name, start)

        return await console.page(request, "agent.html", build)

    @app.get("/ui/agent/delete", include_in_schema=False)
    async def confirm_delete(request: Request) -> Response:
        q = request.query_params

        def build() -> PageContext:
            agent = console.service.agent_id(q.get("component", ""), q.get("name", ""))
            view = console.service.agent(agent)
            return {
                "page": "agents",
                "component_id": str(agent.component_id),
                "name": agent.name,
                "status_line": status_line(view.record),
                "pending": len(view.pending_promises),
            }

        return await console.page(request, "confirm_delete.html", build)

    @app.get("/ui/components", include_in_schema=False)
    async def components(request: Request) -> Response:
        return await console.page(request, "components.html", pages.components)

    @app.get("/ui/component", include_in_schema=False)
    async def component(request: Request) -> Response:
        ref = request.query_params.get("id", "")
        return await console.page(request, "component.html", lambda: pages.component(ref))

    @app.get("/ui/events", include_in_schema=False)
    async def events(request: Request) -> Response:
        session = console.session_of(request)
        if session is None and console.access.needs_sign_in:
            return console.error_page(403, "Sign in first", "Sign in to get live updates.", None)
        return StreamingResponse(
            console.watch.stream(request.query_params.get("seen")),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    return pages
