"""``agent-host invoke``, ``agent ...`` and ``oplog``: run, inspect and manage agents."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from host import oplog
from host.cli import Ctx, emit, handle_errors, iso, json_flag, main, pass_ctx
from host.errors import InvalidInput
from host.ids import AgentId
from host.service import AgentView, status_line
from host.store import InvocationRecord
from host.tracecontext import TraceContext, trace_context


@main.command()
@click.argument("component_ref")
@click.argument("agent_name")
@click.argument("call")
@click.option("--idempotency-key", help="The same key returns the stored result, never reruns.")
@click.option(
    "--traceparent",
    help="A W3C traceparent (00-<trace id>-<span id>-<flags>): the invocation's trace, as "
    "the REST header gives it.",
)
@click.option(
    "--tracestate",
    multiple=True,
    help="A W3C tracestate list (key=value,...) kept with the traceparent; repeatable.",
)
@json_flag
@pass_ctx
@handle_errors
def invoke(
    ctx: Ctx,
    component_ref: str,
    agent_name: str,
    call: str,
    idempotency_key: str | None,
    traceparent: str | None,
    tracestate: tuple[str, ...],
) -> None:
    """Invoke an exported function with WAVE arguments, e.g. 'start-approval()'.

    Creates the agent on first use. Prints the result, or how the agent is waiting."""
    trace = _trace_option(traceparent, tracestate)
    if ctx.client is not None:
        from host.cli import remote

        data, text = remote.invoke(
            ctx.client, component_ref, agent_name, call, idempotency_key, 300.0, trace
        )
        emit(ctx, data, text)
        return
    service = ctx.service
    agent = ctx.agent(component_ref, agent_name)
    # Parsed before the agent is created, so a bad call leaves nothing behind.
    if service.agent_type_of(agent) is not None:
        # An agent component's agent: CALL is one of its type's methods.
        prepared = service.agent_call_from_wave(agent, call)
    else:
        prepared = service.call_from_wave(agent, call)
    invocation = service.submit(prepared, idempotency_key, trace)
    _report_invocation(ctx, invocation.agent, invocation)  # ephemeral: a fresh agent


def _trace_option(traceparent: str | None, tracestate: tuple[str, ...]) -> TraceContext | None:
    """The options' trace context. A header that is not W3C's is ignored over REST (as
    Golem does); typed on the command line it is refused, naming what to write."""
    if traceparent is None:
        if tracestate:
            raise InvalidInput("--tracestate needs --traceparent", "tracestate")
        return None
    trace = trace_context(traceparent, tracestate)
    if trace is None:
        raise InvalidInput(
            f"--traceparent {traceparent!r} is not a W3C traceparent: write "
            "00-<32 hex digits, not all 0>-<16 hex digits, not all 0>-<2 hex digits>",
            "traceparent",
        )
    if tracestate and trace.tracestate is None:
        raise InvalidInput(
            f"--tracestate {','.join(tracestate)!r} is not a W3C tracestate: write "
            "key=value members separated by commas (keys lower case, at most 32 members)",
            "tracestate",
        )
    return trace


def _report_invocation(ctx: Ctx, agent: AgentId, invocation: InvocationRecord) -> None:
    data: dict[str, Any] = {
        "agent": str(agent),
        "invocation": invocation.invocation_id,
        "function": invocation.function,
        "state": invocation.state,
    }
    agent_result = ctx.service.agent_result(invocation)
    if agent_result is not None:
        data["method"] = agent_result.method
        if agent_result.error is not None:
            data["error"] = agent_result.error
            if ctx.as_json:
                click.echo(json.dumps(data, indent=2))
            kind = "refused the call" if agent_result.caller_error else "answered an error"
            click.echo(f"Error: the agent {kind}: {agent_result.error}", err=True)
            sys.exit(1)
        data["result"] = agent_result.json
        emit(ctx, data, agent_result.wave or "()")
        return
    if invocation.state == "done":
        data["result"] = invocation.result
        emit(ctx, data, invocation.result if invocation.result is not None else "()")
        return
    if invocation.state == "failed":
        if ctx.as_json:
            data["error"] = invocation.error
            click.echo(json.dumps(data, indent=2))
        click.echo(f"Error: invocation failed: {invocation.error}", err=True)
        sys.exit(1)
    record = ctx.service.agent(agent).record
    data["status"] = record.status
    data["waiting_promises"] = [f"{agent}/{i}" for i in record.waiting_promises]
    data["oplog_indexes"] = list(record.waiting_promises)
    if record.wake_at_ns is not None:
        data["wake_at"] = iso(record.wake_at_ns)
    if invocation.state == "queued" and record.status == "failed":
        text = (
            f"queued: the agent failed ({record.last_error}); nothing runs until "
            "`agent-host agent resume` retries it"
        )
    elif invocation.state == "queued":
        text = f"queued: the agent is {status_line(record)}; it runs when that finishes"
    elif record.status == "suspended" and record.waiting_promises:
        text = "suspended, waiting on promise " + ", ".join(
            f"{i} ({agent}/{i})" for i in record.waiting_promises
        )
    elif record.status == "suspended":
        text = f"suspended until {iso(record.wake_at_ns)} (timer)"
    elif record.status == "failed":
        text = f"agent failed: {record.last_error}"
    elif record.status == "retrying":
        text = (
            f"retrying (retry {record.retry_count}) at {iso(record.wake_at_ns)} after: "
            f"{record.last_error}"
        )
    else:
        text = f"{invocation.state} (agent {record.status})"
    emit(ctx, data, text)


@main.group()
def agent() -> None:
    """Create, list, inspect and delete agents."""


@agent.command("create")
@click.argument("component_ref")
@click.argument("agent_name")
@click.option("--arg", "args", multiple=True, help="A command-line argument the agent sees.")
@click.option("--env", "env", multiple=True, help="KEY=VALUE environment variable.")
@click.option(
    "--config",
    "config",
    multiple=True,
    help="KEY=WAVE value of a config key the agent type declares (a.b for a path).",
)
@json_flag
@pass_ctx
@handle_errors
def agent_create(
    ctx: Ctx,
    component_ref: str,
    agent_name: str,
    args: tuple[str, ...],
    env: tuple[str, ...],
    config: tuple[str, ...],
) -> None:
    """Create an agent (invoke also creates agents on first use)."""
    pairs = []
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--env takes KEY=VALUE, got {item!r}")
        pairs.append((key, value))
    if ctx.client is not None:
        from host.cli import remote

        if config:
            raise InvalidInput(
                "--config is not sent to a server: use POST /v1/agents/create-agent's config",
                field="config",
            )
        made = remote.create(ctx.client, component_ref, agent_name, args, pairs)
        emit(ctx, {"agent": made}, made)
        return
    agent_id = ctx.service.create_new_agent(component_ref, agent_name, args, pairs, config)
    emit(ctx, {"agent": str(agent_id)}, str(agent_id))


def agent_json(view: AgentView) -> dict[str, Any]:
    record = view.record
    return {
        "agent": str(record.agent),
        "component_id": str(record.agent.component_id),
        "name": record.agent.name,
        "status": record.status,
        "created_at": iso(record.created_at),
        "oplog_length": record.oplog_length,
        "pending_promises": [
            {
                "id": str(p.id),
                "oplog_idx": p.id.oplog_idx,
                "created_at": iso(p.created_at),
                "function": p.function,
            }
            for p in view.pending_promises
        ],
        "waiting_on": list(record.waiting_promises),
        "wake_at": iso(record.wake_at_ns) if record.wake_at_ns else None,
        "last_error": record.last_error,
        "retry_count": record.retry_count,
    }


@agent.command("list")
@click.option("--component", "component_ref", help="Only this component's agents.")
@click.option(
    "--status",
    type=click.Choice(["idle", "running", "suspended", "retrying", "failed", "interrupted"]),
)
@json_flag
@pass_ctx
@handle_errors
def agent_list(ctx: Ctx, component_ref: str | None, status: str | None) -> None:
    """List agents with their status."""
    rows = [agent_json(v) for v in ctx.service.list_agents(component_ref, status)]
    lines = []
    for row in rows:
        n = len(row["pending_promises"])
        extra = f" ({n} pending promise{'s' if n != 1 else ''})" if n else ""
        lines.append(f"{row['agent']}: {row['status']}{extra}")
    emit(ctx, rows, "\n".join(lines) or "no agents")


@agent.command("show")
@click.argument("component_ref")
@click.argument("agent_name")
@json_flag
@pass_ctx
@handle_errors
def agent_show(ctx: Ctx, component_ref: str, agent_name: str) -> None:
    """Show an agent: status, pending promises, queued invocations, last error."""
    agent_id = ctx.agent(component_ref, agent_name)
    view = ctx.service.agent(agent_id)
    data = agent_json(view)
    data["invocations"] = [
        {"id": q.invocation_id, "function": q.function, "params": list(q.params), "state": q.state}
        for q in view.invocations
    ]
    # Golem's UpdateRecord fields (REST: the worker's `updates`).
    data["updates"] = [
        {
            "type": r.kind,
            "timestamp": iso(r.timestamp),
            "targetVersion": r.target_version,
            "details": r.details,
        }
        for r in ctx.service.update_records(agent_id)
    ]
    lines = [f"{data['agent']}: {data['status']}", f"  oplog entries: {data['oplog_length']}"]
    for p in data["pending_promises"]:
        lines.append(f"  pending promise {p['oplog_idx']} ({p['id']}), created by {p['function']}")
    for q in data["invocations"]:
        lines.append(f"  invocation {q['state']}: {q['function']}({', '.join(q['params'])})")
    for u in data["updates"]:
        why = f": {u['details']}" if u["details"] else ""
        lines.append(f"  update to version {u['targetVersion']}: {u['type']}{why}")
    if data["wake_at"]:
        lines.append(f"  wakes at {data['wake_at']}")
    if data["last_error"]:
        lines.append(f"  last error: {data['last_error']}")
    emit(ctx, data, "\n".join(lines))


@agent.command("delete")
@click.argument("component_ref")
@click.argument("agent_name")
@json_flag
@pass_ctx
@handle_errors
def agent_delete(ctx: Ctx, component_ref: str, agent_name: str) -> None:
    """Delete an agent with its oplog and promises (refused while it runs an invocation)."""
    if ctx.client is not None:
        from host.cli import remote

        deleted = remote.delete(ctx.client, component_ref, agent_name)
        emit(ctx, {"deleted": deleted}, f"deleted {deleted}")
        return
    agent_id = ctx.agent(component_ref, agent_name)
    ctx.service.delete_agent(agent_id)
    emit(ctx, {"deleted": str(agent_id)}, f"deleted {agent_id}")


@agent.command("interrupt")
@click.argument("component_ref")
@click.argument("agent_name")
@json_flag
@pass_ctx
@handle_errors
def agent_interrupt(ctx: Ctx, component_ref: str, agent_name: str) -> None:
    """Stop an agent between invocations: nothing runs until `agent resume`."""
    agent_id = ctx.agent(component_ref, agent_name)
    ctx.service.interrupt(agent_id)
    emit(ctx, {"agent": str(agent_id), "status": "interrupted"}, f"{agent_id}: interrupted")


@agent.command("resume")
@click.argument("component_ref")
@click.argument("agent_name")
@json_flag
@pass_ctx
@handle_errors
def agent_resume(ctx: Ctx, component_ref: str, agent_name: str) -> None:
    """Resume an interrupted agent, or retry a failed one (its failed invocation runs again,
    replayed up to where it failed; raise the limit it hit first with `limits set`)."""
    agent_id = ctx.agent(component_ref, agent_name)
    record = ctx.service.resume(agent_id).record
    emit(
        ctx,
        {"agent": str(agent_id), "status": record.status, "last_error": record.last_error},
        f"{agent_id}: {status_line(record)}"
        + (f" ({record.last_error})" if record.status == "failed" else ""),
    )


@main.command("oplog")
@click.argument("component_ref")
@click.argument("agent_name")
@click.option("--from", "start", type=click.IntRange(min=1), default=1)
@click.option("--count", type=click.IntRange(min=1), default=None)
@json_flag
@pass_ctx
@handle_errors
def oplog_cmd(ctx: Ctx, component_ref: str, agent_name: str, start: int, count: int | None) -> None:
    """Print an agent's oplog."""
    page = ctx.service.oplog(ctx.agent(component_ref, agent_name), start, count)
    rows = [{"index": i, **oplog.to_dict(e)} for i, e in page.entries]
    lines = [f"{i:>5}  {iso(e.timestamp)}  {oplog.describe(e)}" for i, e in page.entries]
    emit(ctx, rows, "\n".join(lines))


@agent.command("update")
@click.argument("component_ref")
@click.argument("agent_name")
@click.option(
    "--version",
    "version",
    type=int,
    help="Target component version, counted from 0 as in Golem (default: latest).",
)
@click.option(
    "--mode",
    type=click.Choice(["automatic", "snapshot"]),
    default="automatic",
    show_default=True,
    help="automatic: replay the oplog on the new version; snapshot: save-snapshot on the "
    "old version, load-snapshot on the new one.",
)
@click.option(
    "--disable-wakeup",
    is_flag=True,
    help="Do not run an agent at rest to apply it: it applies the next time the agent "
    "runs (Golem's disableWakeup).",
)
@json_flag
@pass_ctx
@handle_errors
def agent_update(
    ctx: Ctx,
    component_ref: str,
    agent_name: str,
    version: int | None,
    mode: str,
    disable_wakeup: bool,
) -> None:
    """Move an agent to another version of its component."""
    agent_id = ctx.agent(component_ref, agent_name)
    outcome = ctx.service.update_agent(agent_id, version, mode, wake=not disable_wakeup)
    data = {
        "agent": str(agent_id),
        "version": outcome.target_version,
        "mode": mode,
        "state": outcome.state,
        "oplogIndex": outcome.index,
    }
    if outcome.state == "pending" and outcome.index is None:
        when = (
            "its invocation restarts on the new version"
            if outcome.mode == "automatic"
            else "it is applied after that invocation"
        )
        line = (
            f"{agent_id}: update to version {outcome.target_version} ({mode}) queued: the "
            f"agent is running an invocation; {when} (agent show lists it)"
        )
    elif outcome.state == "pending" and disable_wakeup:
        line = (
            f"{agent_id}: update to version {outcome.target_version} ({mode}) requested; it "
            "is applied the next time the agent runs"
        )
    elif outcome.state == "pending":
        line = (
            f"{agent_id}: update to version {outcome.target_version} ({mode}) requested; it "
            "is applied once the agent is between invocations"
        )
    else:
        line = f"{agent_id}: updated to version {outcome.target_version} ({mode})"
    emit(ctx, data, line)


@agent.command("revert")
@click.argument("component_ref")
@click.argument("agent_name")
@click.option("--to-index", "index", type=int, help="Keep the oplog up to this index.")
@click.option("--last", "last", type=int, help="Undo the last N invocations.")
@json_flag
@pass_ctx
@handle_errors
def agent_revert(
    ctx: Ctx, component_ref: str, agent_name: str, index: int | None, last: int | None
) -> None:
    """Revert an agent (Golem's revert-worker): the oplog after the target is skipped from
    now on and the agent goes on from there."""
    agent_id = ctx.agent(component_ref, agent_name)
    jump = ctx.service.revert_agent(agent_id, index, last)
    data = {"agent": str(agent_id), "dropped": [jump.start, jump.end]}
    emit(ctx, data, f"{agent_id}: reverted (oplog {jump.start}..{jump.end} skipped)")


@agent.command("fork")
@click.argument("component_ref")
@click.argument("agent_name")
@click.argument("new_name")
@click.option(
    "--cut-off",
    "cut_off",
    type=click.IntRange(min=1),
    default=None,
    help="The last oplog index the copy gets (default: the whole oplog).",
)
@json_flag
@pass_ctx
@handle_errors
def agent_fork(
    ctx: Ctx, component_ref: str, agent_name: str, new_name: str, cut_off: int | None
) -> None:
    """Fork an agent (Golem's fork-worker): NEW_NAME gets a copy of its oplog up to the
    cut-off and goes on from there on its own."""
    agent_id = ctx.agent(component_ref, agent_name)
    if cut_off is None:
        cut_off = ctx.service.agent(agent_id).record.oplog_length
    target = ctx.service.fork_agent(agent_id, new_name, cut_off)
    data = {"agent": str(agent_id), "fork": str(target), "oplogIndexCutoff": cut_off}
    emit(ctx, data, f"{agent_id}: forked into {target.name} (oplog 1..{cut_off})")
