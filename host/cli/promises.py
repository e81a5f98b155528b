"""``agent-host promise ...``: complete, list and hand out promises."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from host.cli import Ctx, emit, handle_errors, iso, json_flag, main, pass_ctx
from host.errors import InvalidInput
from host.ids import PromiseId
from host.service import status_line


@main.group()
def promise() -> None:
    """Complete and inspect promises."""


def payload(
    as_json_text: str | None,
    text: str | None,
    data_file: Path | None,
    byte_list: str | None,
    stdin: bool = False,
) -> bytes:
    """The payload bytes from exactly one of the payload options."""
    given = [x is not None for x in (as_json_text, text, data_file, byte_list)] + [stdin]
    if sum(given) != 1:
        raise InvalidInput(
            "give exactly one payload: --json, --text, --file (--data-file), --stdin or --bytes"
        )
    if stdin:
        return bytes(sys.stdin.buffer.read())
    if as_json_text is not None:
        try:
            json.loads(as_json_text)
        except ValueError as exc:
            raise InvalidInput(f"--json is not valid JSON: {exc}") from None
        return as_json_text.encode()
    if text is not None:
        return text.encode()
    if data_file is not None:
        try:
            return data_file.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {data_file}: {exc.strerror}") from None
    try:
        values = json.loads(byte_list or "")
    except ValueError:
        values = None
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in values
    ):
        raise InvalidInput("--bytes takes a JSON array of integers 0..255, e.g. '[1, 2, 255]'")
    return bytes(values)


@promise.command("complete")
@click.argument("component_ref")
@click.argument("agent_name")
@click.argument("oplog_idx", type=click.IntRange(min=1))
@click.option(
    "--json",
    "json_text",
    help="Payload: JSON text, stored as its UTF-8 bytes. (For JSON output of this "
    "command use `agent-host --json promise complete ...`.)",
)
@click.option("--text", help="Payload: a UTF-8 string.")
@click.option(
    "--file",
    "--data-file",
    "data_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Payload: the bytes of a file, as they are.",
)
@click.option("--stdin", "stdin", is_flag=True, help="Payload: the bytes read from stdin.")
@click.option("--bytes", "byte_list", help="Payload: a JSON array of byte values.")
@pass_ctx
@handle_errors
def promise_complete(
    ctx: Ctx,
    component_ref: str,
    agent_name: str,
    oplog_idx: int,
    json_text: str | None,
    text: str | None,
    data_file: Path | None,
    stdin: bool,
    byte_list: str | None,
) -> None:
    """Complete a promise; prints true (completed now) or false (already completed).

    The owner resumes at once if it was waiting on it."""
    data = payload(json_text, text, data_file, byte_list, stdin)
    if ctx.client is not None:
        from host.cli import remote

        result, out = remote.complete(ctx.client, component_ref, agent_name, oplog_idx, data)
        emit(ctx, result, out)
        return
    completion = ctx.service.complete(
        PromiseId(ctx.agent(component_ref, agent_name), oplog_idx), data
    )
    lines = ["true" if completion.completed else "false"]
    for inv in completion.finished:
        method = ctx.service.agent_result(inv)  # an agent's method call: its own result
        if method is not None:
            outcome = f"failed: {method.error}" if method.error is not None else f"-> {method.wave}"
            lines.append(f"{agent_name} resumed: {method.method} {outcome}")
        elif inv.state == "done":
            lines.append(f"{agent_name} resumed: {inv.function} -> {inv.result}")
        else:
            lines.append(f"{agent_name} resumed: {inv.function} failed: {inv.error}")
    if not completion.finished and completion.completed:
        lines.append(f"{agent_name}: {status_line(completion.agent)}")
    result = {
        "completed": completion.completed,
        "agent_status": completion.agent.status,
        "finished": [
            {"function": i.function, "state": i.state, "result": i.result, "error": i.error}
            for i in completion.finished
        ],
    }
    emit(ctx, result, "\n".join(lines))


@promise.command("secret")
@click.argument("component_ref")
@click.argument("agent_name")
@click.argument("oplog_idx", type=click.IntRange(min=1))
@json_flag
@pass_ctx
@handle_errors
def promise_secret(ctx: Ctx, component_ref: str, agent_name: str, oplog_idx: int) -> None:
    """Print a promise's secret, which authorizes completing it on a server that asks."""
    promise_id = PromiseId(ctx.agent(component_ref, agent_name), oplog_idx)
    secret = ctx.service.promise_secret(promise_id)
    emit(ctx, {"promise": str(promise_id), "secret": secret}, secret)


@promise.command("list")
@click.argument("component_ref", required=False)
@click.argument("agent_name", required=False)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Include completed promises, and internal ones (an agent awaiting another agent "
    "on them), marked internal.",
)
@json_flag
@pass_ctx
@handle_errors
def promise_list(
    ctx: Ctx, component_ref: str | None, agent_name: str | None, show_all: bool
) -> None:
    """List pending promises (of one agent, or of all agents)."""
    agent_id = ctx.agent(component_ref, agent_name) if component_ref and agent_name else None
    records = ctx.service.list_promises(
        agent_id, component_ref, include_completed=show_all, include_internal=show_all
    )
    internal = ctx.service.internal_promises(records)
    rows = [
        {
            "id": str(p.id),
            "agent": str(p.id.agent),
            "oplog_idx": p.id.oplog_idx,
            "created_at": iso(p.created_at),
            "function": p.function,
            "completed": p.completed,
            "internal": p.id in internal,
        }
        for p in records
    ]
    lines = [
        f"{r['id']}  {'completed' if r['completed'] else 'pending'}"
        f"{'  internal (awaits another agent)' if r['internal'] else ''}  created "
        f"{r['created_at']} by {r['function']}"
        for r in rows
    ]
    emit(ctx, rows, "\n".join(lines) or "no pending promises")
