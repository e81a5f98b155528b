"""The OpenAPI document: the error shape and statuses the server really answers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from host.server.oplog_route import AgentHostOplogPage, GetOplogResponse
from host.server.payloads import CompleteRequest


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"code", "message", "field"?}}``."""

    error: ErrorDetail


_ERROR_STATUSES = {
    "400": "Malformed request: the body, a parameter or a path value (``field`` names it)",
    "404": "Unknown component, agent, promise, invocation or route",
    "409": "The agent's state forbids this now",
    "413": "Request body too large",
    "422": "The invocation failed (the guest trapped, or the agent failed)",
}


def document_errors(app: FastAPI) -> None:
    """Document the error shape and statuses the server really answers, instead of
    FastAPI's default 422 validation error (this server answers validation with 400)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorBody"] = ErrorBody.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, sub in components["ErrorBody"].pop("$defs", {}).items():
            components[name] = sub
        # The completion route reads its body itself (JSON or raw bytes): name its model.
        components["CompleteRequest"] = CompleteRequest.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        # The oplog route answers dicts; its 200 refers to these.
        for model in (GetOplogResponse, AgentHostOplogPage):
            generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(generated.pop("$defs", {}))
            components[model.__name__] = generated
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status, text in _ERROR_STATUSES.items():
                    if status == "422" and not path.endswith(("invoke-and-await", "}")):
                        continue
                    responses.setdefault(
                        status,
                        {"description": text, "content": {"application/json": {"schema": ref}}},
                    )
                if path.endswith("invoke-and-await") or "/invocations/" in path:
                    responses["202"] = {
                        "description": "Not finished within the timeout: the invocation's "
                        "state, what it waits on, and resultUrl to fetch the result later",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
