"""``agent-host component ...``: register and inspect components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from host.cli import Ctx, emit, handle_errors, json_flag, main, pass_ctx
from host.store import ComponentRecord


@main.group()
def component() -> None:
    """Register and inspect components."""


def component_json(record: ComponentRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "version": record.version,
        "hash": record.hash,
        "size": record.size,
    }


@component.command("add")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Component name (default: the file name without .wasm).")
@json_flag
@pass_ctx
@handle_errors
def component_add(ctx: Ctx, path: Path, name: str | None) -> None:
    """Register a component; prints its id."""
    record = ctx.service.add_component(path, name)
    emit(ctx, component_json(record), record.id)


@component.command("list")
@json_flag
@pass_ctx
@handle_errors
def component_list(ctx: Ctx) -> None:
    """List registered components (latest versions)."""
    records = ctx.service.list_components()
    lines = [f"{r.id}  {r.name}  v{r.version}  {r.size} bytes" for r in records]
    emit(ctx, [component_json(r) for r in records], "\n".join(lines) or "no components")


@component.command("show")
@click.argument("component_ref")
@json_flag
@pass_ctx
@handle_errors
def component_show(ctx: Ctx, component_ref: str) -> None:
    """Show a component and the functions it exports."""
    from host.agents.model import describe

    view = ctx.service.component(component_ref)
    record, sigs = view.record, view.signatures()
    types = ctx.service.agent_types(component_ref)
    data = {**component_json(record), "exports": sigs}
    text = f"{record.id}  {record.name}  v{record.version}\n  " + "\n  ".join(sigs)
    if types:
        data["agent_types"] = [
            {"type_name": t.type_name, "mode": t.mode, "description": describe(t)} for t in types
        ]
        # The guest protocol's exports are the machinery; the agent types are the API.
        text = f"{record.id}  {record.name}  v{record.version}\nagent types:\n"
        text += "" + "\n".join("  " + line for t in types for line in describe(t))
    emit(ctx, data, text)
