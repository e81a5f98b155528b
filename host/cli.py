"""The ``agent-host`` command line.

Options shared by every command (``--store``, ``--json``) live on the group and
travel in the context object. Errors print ``Error: ...`` and exit with the
code their class owns (:mod:`host.errors`); nothing prints a stack trace for a
user's mistake.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from host import oplog
from host.errors import Conflict, HostError, InvalidInput
from host.ids import AgentId, PromiseId

F = TypeVar("F", bound=Callable[..., Any])


def default_store() -> Path:
    env = os.environ.get("AGENT_HOST_STORE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "agent-host"


@dataclass
class Ctx:
    store_dir: Path = Path()
    as_json: bool = False
    server: str | None = None
    _host: Any = None

    @property
    def client(self) -> Any:
        """The server client in ``--server`` mode, else None."""
        if self.server is None:
            return None
        from host.client import Client

        return Client(self.server)

    @property
    def host(self) -> Any:
        if self._host is None:
            from host.runtime.executor import Host  # wasmtime loads only when needed

            self._host = Host(self.store_dir, output=_print_output, progress=_progress)
        return self._host


_partial: dict[tuple[AgentId, str], bytes] = {}


def _print_output(agent: AgentId, stream: str, data: bytes) -> None:
    """Guest stdout/stderr to our stderr, a line at a time, prefixed with the agent name."""
    buffered = _partial.pop((agent, stream), b"") + data
    *lines, rest = buffered.split(b"\n")
    for line in lines:
        click.echo(f"[{agent.name}] {line.decode('utf-8', 'replace')}", err=True)
    if rest:
        _partial[(agent, stream)] = rest


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _set_json(click_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        click_ctx.ensure_object(Ctx).as_json = True


json_flag = click.option(
    "--json",
    "_json",
    is_flag=True,
    expose_value=False,
    callback=_set_json,
    is_eager=True,
    help="Machine-readable JSON output (also accepted before the command).",
)


def handle_errors(func: F) -> F:
    """Map HostError to ``Error: ...`` and its exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HostError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def emit(ctx: Ctx, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if ctx.as_json else text)


@click.group()
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (database, components, compiled-code cache). "
    "Default: $AGENT_HOST_STORE or ~/.local/share/agent-host.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.option(
    "--server",
    envvar="AGENT_HOST_SERVER",
    default=None,
    help="Send commands that change agents (invoke, agent create/delete, promise complete) "
    "to a running `agent-host serve` at this URL instead of the store. "
    "Default: $AGENT_HOST_SERVER.",
)
@click.version_option(package_name="agent-host")
@click.pass_context
def main(
    click_ctx: click.Context, store_dir: Path | None, as_json: bool, server: str | None
) -> None:
    """Run durable WebAssembly agents with Golem-style promises."""
    ctx = Ctx(store_dir or default_store(), as_json, server)
    click_ctx.obj = ctx
    click_ctx.call_on_close(lambda: ctx._host.close() if ctx._host else None)


pass_ctx = click.make_pass_decorator(Ctx)


# -- components --------------------------------------------------------------------------
@main.group()
def component() -> None:
    """Register and inspect components."""


@component.command("add")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Component name (default: the file name without .wasm).")
@json_flag
@pass_ctx
@handle_errors
def component_add(ctx: Ctx, path: Path, name: str | None) -> None:
    """Register a component; prints its id."""
    record = ctx.host.add_component(path, name)
    emit(ctx, _component_json(record), record.id)


def _component_json(record: Any) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "version": record.version,
        "hash": record.hash,
        "size": record.size,
    }


@component.command("list")
@json_flag
@pass_ctx
@handle_errors
def component_list(ctx: Ctx) -> None:
    """List registered components (latest versions)."""
    records = ctx.host.store.list_components()
    lines = [f"{r.id}  {r.name}  v{r.version}  {r.size} bytes" for r in records]
    emit(ctx, [_component_json(r) for r in records], "\n".join(lines) or "no components")


@component.command("show")
@click.argument("component_ref")
@json_flag
@pass_ctx
@handle_errors
def component_show(ctx: Ctx, component_ref: str) -> None:
    """Show a component and the functions it exports."""
    from host.values.types import describe

    record = ctx.host.store.get_component(component_ref)
    exports = ctx.host.exports(record.hash)
    funcs = sorted({e.name: e for e in exports.values()}.values(), key=lambda e: e.name)
    sigs = [
        f"{e.name}: func({', '.join(f'{n}: {describe(t)}' for n, t in e.sig.params)})"
        + (f" -> {describe(e.sig.result)}" if e.sig.result is not None else "")
        for e in funcs
    ]
    data = {**_component_json(record), "exports": sigs}
    emit(ctx, data, f"{record.id}  {record.name}  v{record.version}\n  " + "\n  ".join(sigs))


# -- invoking ----------------------------------------------------------------------------
@main.command()
@click.argument("component_ref")
@click.argument("agent_name")
@click.argument("call")
@click.option("--idempotency-key", help="The same key returns the stored result, never reruns.")
@json_flag
@pass_ctx
@handle_errors
def invoke(
    ctx: Ctx, component_ref: str, agent_name: str, call: str, idempotency_key: str | None
) -> None:
    """Invoke an exported function with WAVE arguments, e.g. 'start-approval()'.

    Creates the agent on first use. Prints the result, or how the agent is waiting."""
    if ctx.client is not None:
        from host import cli_remote

        data, text = cli_remote.invoke(
            ctx.client, component_ref, agent_name, call, idempotency_key, 300.0
        )
        emit(ctx, data, text)
        return
    host = ctx.host
    agent, hash, _ = host.call_target(component_ref, agent_name)
    # Parsed before the agent is created, so a bad call leaves nothing behind.
    function, params = host.prepare_call_for(hash, call)
    host.create_agent(component_ref, agent_name)
    invocation = host.submit(agent, function, params, idempotency_key)
    _report_invocation(ctx, agent, invocation)


def _report_invocation(ctx: Ctx, agent: AgentId, invocation: Any) -> None:
    host = ctx.host
    data: dict[str, Any] = {
        "agent": str(agent),
        "invocation": invocation.invocation_id,
        "function": invocation.function,
        "state": invocation.state,
    }
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
    record = host.store.get_agent(agent)
    data["status"] = record.status
    data["waiting_promises"] = [f"{agent}/{i}" for i in record.waiting_promises]
    data["oplog_indexes"] = list(record.waiting_promises)
    if record.wake_at_ns is not None:
        data["wake_at"] = _iso(record.wake_at_ns)
    if invocation.state == "queued":
        text = f"queued: the agent is {host.status_line(agent)}; it runs when that finishes"
    elif record.status == "suspended" and record.waiting_promises:
        text = "suspended, waiting on promise " + ", ".join(
            f"{i} ({agent}/{i})" for i in record.waiting_promises
        )
    elif record.status == "suspended":
        text = f"suspended until {_iso(record.wake_at_ns or 0)} (timer)"
    elif record.status == "failed":
        text = f"agent failed: {record.last_error}"
    else:
        text = f"{invocation.state} (agent {record.status})"
    emit(ctx, data, text)


# -- agents -------------------------------------------------------------------------------
@main.group()
def agent() -> None:
    """Create, list, inspect and delete agents."""


@agent.command("create")
@click.argument("component_ref")
@click.argument("agent_name")
@click.option("--arg", "args", multiple=True, help="A command-line argument the agent sees.")
@click.option("--env", "env", multiple=True, help="KEY=VALUE environment variable.")
@json_flag
@pass_ctx
@handle_errors
def agent_create(
    ctx: Ctx, component_ref: str, agent_name: str, args: tuple[str, ...], env: tuple[str, ...]
) -> None:
    """Create an agent (invoke also creates agents on first use)."""
    pairs = []
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--env takes KEY=VALUE, got {item!r}")
        pairs.append((key, value))
    if ctx.client is not None:
        from host import cli_remote

        made = cli_remote.create(ctx.client, component_ref, agent_name, args, pairs)
        emit(ctx, {"agent": made}, made)
        return
    agent_id, created = ctx.host.create_agent(component_ref, agent_name, args, tuple(pairs))
    if not created:
        raise Conflict(f"agent {agent_id} already exists")
    emit(ctx, {"agent": str(agent_id)}, str(agent_id))


def _agent_json(host: Any, record: Any) -> dict[str, Any]:
    promises = host.store.list_promises(record.agent)
    return {
        "agent": str(record.agent),
        "component_id": str(record.agent.component_id),
        "name": record.agent.name,
        "status": record.status,
        "created_at": _iso(record.created_at),
        "oplog_length": record.oplog_length,
        "pending_promises": [
            {
                "id": str(p.id),
                "oplog_idx": p.id.oplog_idx,
                "created_at": _iso(p.created_at),
                "function": p.function,
            }
            for p in promises
        ],
        "waiting_on": list(record.waiting_promises),
        "wake_at": _iso(record.wake_at_ns) if record.wake_at_ns else None,
        "last_error": record.last_error,
    }


@agent.command("list")
@click.option("--component", "component_ref", help="Only this component's agents.")
@click.option("--status", type=click.Choice(["idle", "running", "suspended", "failed"]))
@json_flag
@pass_ctx
@handle_errors
def agent_list(ctx: Ctx, component_ref: str | None, status: str | None) -> None:
    """List agents with their status."""
    host = ctx.host
    cid = host.store.get_component(component_ref).id if component_ref else None
    records = host.store.list_agents(cid, status)
    rows = [_agent_json(host, r) for r in records]
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
    host = ctx.host
    agent_id = host.agent_id(component_ref, agent_name)
    record = host.store.get_agent(agent_id)
    data = _agent_json(host, record)
    queued = host.store.list_invocations(agent_id, ["queued", "started"])
    data["invocations"] = [
        {"id": q.invocation_id, "function": q.function, "params": list(q.params), "state": q.state}
        for q in queued
    ]
    lines = [f"{data['agent']}: {data['status']}", f"  oplog entries: {data['oplog_length']}"]
    for p in data["pending_promises"]:
        lines.append(f"  pending promise {p['oplog_idx']} ({p['id']}), created by {p['function']}")
    for q in data["invocations"]:
        lines.append(f"  invocation {q['state']}: {q['function']}({', '.join(q['params'])})")
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
    """Delete an agent with its oplog and promises."""
    if ctx.client is not None:
        from host import cli_remote

        deleted = cli_remote.delete(ctx.client, component_ref, agent_name)
        emit(ctx, {"deleted": deleted}, f"deleted {deleted}")
        return
    agent_id = ctx.host.agent_id(component_ref, agent_name)
    ctx.host.store.delete_agent(agent_id)
    emit(ctx, {"deleted": str(agent_id)}, f"deleted {agent_id}")


@agent.command("interrupt")
@click.argument("component_ref")
@click.argument("agent_name")
@json_flag
@pass_ctx
@handle_errors
def agent_interrupt(ctx: Ctx, component_ref: str, agent_name: str) -> None:
    """Stop an agent between invocations: nothing runs until `agent resume`."""
    agent_id = ctx.host.agent_id(component_ref, agent_name)
    ctx.host.interrupt(agent_id)
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
    host = ctx.host
    agent_id = host.agent_id(component_ref, agent_name)
    host.resume(agent_id)
    host.run_agent(agent_id)
    host.run_woken()
    status = host.status_line(agent_id)
    record = host.store.get_agent(agent_id)
    emit(
        ctx,
        {"agent": str(agent_id), "status": record.status, "last_error": record.last_error},
        f"{agent_id}: {status}" + (f" ({record.last_error})" if record.status == "failed" else ""),
    )


# -- limits ----------------------------------------------------------------------------------
@main.group()
def limits() -> None:
    """Guest limits per component or agent."""


def _scope(ctx: Ctx, component_ref: str, agent_name: str | None) -> str:
    host = ctx.host
    if agent_name:
        return str(host.agent_id(component_ref, agent_name))
    return str(host.store.get_component(component_ref).id)


@limits.command("set")
@click.argument("component_ref")
@click.argument("agent_name", required=False)
@click.option("--deadline", "deadline_s", type=float, help="Seconds one invocation may run.")
@click.option("--fuel", type=int, help="Fuel (about one unit per wasm instruction) per call.")
@click.option("--memory", "memory_bytes", type=int, help="Bytes of linear memory.")
@click.option("--table", "table_elements", type=int, help="Table elements.")
@click.option(
    "--max-payload",
    "max_payload_bytes",
    type=int,
    help="Bytes of one oplog entry (promise payloads, host responses).",
)
@click.option(
    "--max-pending", "max_pending_promises", type=int, help="Promises an agent may keep pending."
)
@click.option("--reset", is_flag=True, help="Drop this scope's limits first.")
@json_flag
@pass_ctx
@handle_errors
def limits_set(
    ctx: Ctx, /, component_ref: str, agent_name: str | None, reset: bool, **values: Any
) -> None:
    """Set limits for a component's agents, or for one agent (which wins)."""
    scope = _scope(ctx, component_ref, agent_name)
    given = {k: v for k, v in values.items() if v is not None}
    ctx.host.set_limits(scope, given, replace=reset)
    layer = ctx.host.store.get_limits(scope)
    emit(
        ctx,
        {"scope": scope, "limits": layer},
        f"{scope}: " + (", ".join(f"{k}={v}" for k, v in sorted(layer.items())) or "defaults"),
    )


@limits.command("show")
@click.argument("component_ref")
@click.argument("agent_name", required=False)
@json_flag
@pass_ctx
@handle_errors
def limits_show(ctx: Ctx, component_ref: str, agent_name: str | None) -> None:
    """The limits in force (defaults, then the component's, then the agent's)."""
    host = ctx.host
    if agent_name:
        effective = host.limits_for(host.agent_id(component_ref, agent_name))
    else:
        cid = host.store.get_component(component_ref).id
        effective = host.limits.merged(host.store.get_limits(cid))
    data = effective.to_dict()
    emit(ctx, data, "\n".join(f"{k}: {'unlimited' if v is None else v}" for k, v in data.items()))


# -- promises -----------------------------------------------------------------------------
@main.group()
def promise() -> None:
    """Complete and inspect promises."""


def _payload(
    as_json_text: str | None, text: str | None, data_file: Path | None, byte_list: str | None
) -> bytes:
    given = [x is not None for x in (as_json_text, text, data_file, byte_list)]
    if sum(given) != 1:
        raise InvalidInput("give exactly one payload: --json, --text, --data-file or --bytes")
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
    "--data-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Payload: the bytes of a file.",
)
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
    byte_list: str | None,
) -> None:
    """Complete a promise; prints true (completed now) or false (already completed).

    The owner resumes at once if it was waiting on it."""
    data = _payload(json_text, text, data_file, byte_list)
    if ctx.client is not None:
        from host import cli_remote

        result, out = cli_remote.complete(ctx.client, component_ref, agent_name, oplog_idx, data)
        emit(ctx, result, out)
        return
    host = ctx.host
    agent_id = host.agent_id(component_ref, agent_name)
    before = {i.invocation_id for i in host.store.list_invocations(agent_id, ["done", "failed"])}
    completed = host.complete_promise(PromiseId(agent_id, oplog_idx), data)
    after = host.store.list_invocations(agent_id, ["done", "failed"])
    finished = [i for i in after if i.invocation_id not in before]
    result = {
        "completed": completed,
        "agent_status": host.store.get_agent(agent_id).status,
        "finished": [
            {"function": i.function, "state": i.state, "result": i.result, "error": i.error}
            for i in finished
        ],
    }
    lines = ["true" if completed else "false"]
    for inv in finished:
        if inv.state == "done":
            lines.append(f"{agent_name} resumed: {inv.function} -> {inv.result}")
        else:
            lines.append(f"{agent_name} resumed: {inv.function} failed: {inv.error}")
    if not finished and completed:
        lines.append(f"{agent_name}: {host.status_line(agent_id)}")
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
    agent_id = ctx.host.agent_id(component_ref, agent_name)
    secret = ctx.host.promise_secret(PromiseId(agent_id, oplog_idx))
    emit(ctx, {"promise": f"{agent_id}/{oplog_idx}", "secret": secret}, secret)


@promise.command("list")
@click.argument("component_ref", required=False)
@click.argument("agent_name", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include completed promises.")
@json_flag
@pass_ctx
@handle_errors
def promise_list(
    ctx: Ctx, component_ref: str | None, agent_name: str | None, show_all: bool
) -> None:
    """List pending promises (of one agent, or of all agents)."""
    host = ctx.host
    agent_id = host.agent_id(component_ref, agent_name) if component_ref and agent_name else None
    if agent_id is not None:
        host.store.get_agent(agent_id)  # AgentNotFound, not an empty list
    records = host.store.list_promises(agent_id, pending_only=not show_all)
    if component_ref and agent_id is None:
        cid = host.store.get_component(component_ref).id
        records = [p for p in records if str(p.id.agent.component_id) == cid]
    rows = [
        {
            "id": str(p.id),
            "agent": str(p.id.agent),
            "oplog_idx": p.id.oplog_idx,
            "created_at": _iso(p.created_at),
            "function": p.function,
            "completed": p.completed,
        }
        for p in records
    ]
    lines = [
        f"{r['id']}  {'completed' if r['completed'] else 'pending'}  created "
        f"{r['created_at']} by {r['function']}"
        for r in rows
    ]
    emit(ctx, rows, "\n".join(lines) or "no pending promises")


# -- oplog ----------------------------------------------------------------------------------
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
    host = ctx.host
    agent_id = host.agent_id(component_ref, agent_name)
    host.store.get_agent(agent_id)
    entries = host.store.read_oplog(agent_id, start, count)
    rows = [{"index": start + i, **oplog.to_dict(e)} for i, e in enumerate(entries)]
    lines = [
        f"{start + i:>5}  {_iso(e.timestamp)}  {oplog.describe(e)}" for i, e in enumerate(entries)
    ]
    emit(ctx, rows, "\n".join(lines))


# -- integrity ----------------------------------------------------------------------------------
@main.command("check")
@click.argument("component_ref", required=False)
@click.argument("agent_name", required=False)
@json_flag
@pass_ctx
@handle_errors
def check_cmd(ctx: Ctx, component_ref: str | None, agent_name: str | None) -> None:
    """Verify oplogs (all agents, one component's, or one agent's); changes nothing.

    Exits 1 if it finds a problem."""
    from host.store.check import check_store
    from host.store.url import open_store

    store = open_store(ctx.store_dir)
    try:
        agents = None
        if component_ref:
            cid = store.get_component(component_ref).id
            if agent_name:
                agents = [AgentId(uuid.UUID(cid), agent_name)]
                store.get_agent(agents[0])
            else:
                agents = [a.agent for a in store.list_agents(cid)]
        checked = agents if agents is not None else [a.agent for a in store.list_agents()]
        problems = check_store(store, checked)
    finally:
        store.close()
    data = {"agents_checked": len(checked), "problems": [str(p) for p in problems]}
    text = "\n".join(str(p) for p in problems)
    emit(ctx, data, text or f"{len(checked)} agent(s) checked, no problems")
    if problems:
        sys.exit(1)


# -- the worker --------------------------------------------------------------------------------
@main.command()
@click.option("--once", is_flag=True, help="Run what is due now and exit.")
@click.option(
    "--interval",
    type=float,
    default=0.5,
    show_default=True,
    help="Seconds between checks for due work.",
)
@json_flag
@pass_ctx
@handle_errors
def worker(ctx: Ctx, once: bool, interval: float) -> None:
    """Resume every agent with due work: completed promises, due timers, interrupted runs."""
    host = ctx.host
    while True:
        ran = host.run_due()
        for agent_id in ran:
            click.echo(f"{agent_id}: {host.status_line(agent_id)}", err=True)
        if once:
            return
        time.sleep(interval)


def _iso(ns: int | None) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


# -- the server ------------------------------------------------------------------------------
@main.command()
@click.option(
    "--host",
    "bind",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback by default).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=9881, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Agents run at once.",
)
@click.option(
    "--poll-interval",
    type=float,
    default=0.25,
    show_default=True,
    help="Seconds between scans for work written by other processes and due "
    "timers: the longest a completion made through another process waits.",
)
@click.option(
    "--token",
    envvar="AGENT_HOST_TOKEN",
    default=None,
    help="Require `Authorization: Bearer TOKEN` on every request that changes state. "
    "Default: $AGENT_HOST_TOKEN.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the token from this file (its first line).",
)
@click.option(
    "--require-promise-secret",
    is_flag=True,
    help="Completing a promise needs its secret (or the token) even with no token set.",
)
@click.option(
    "--await-timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds invoke-and-await holds a request before answering 202 with "
    "the invocation's state.",
)
@pass_ctx
@handle_errors
def serve(
    ctx: Ctx,
    bind: str,
    port: int,
    workers: int,
    poll_interval: float,
    token: str | None,
    token_file: Path | None,
    require_promise_secret: bool,
    await_timeout: float,
) -> None:
    """Serve Golem's REST API for every agent in the data directory.

    On start it resumes every agent that was running or has a due wake-up."""
    import uvicorn

    from host.server import create_app
    from host.server.auth import AuthConfig

    if token_file is not None:
        try:
            token = token_file.read_text().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise InvalidInput(f"cannot read a token from {token_file}: {exc}") from None
    if token is not None and len(token) < 16:
        raise InvalidInput("the token must be at least 16 characters long")
    app = create_app(
        ctx.host,
        workers=workers,
        poll_interval=poll_interval,
        await_timeout=await_timeout,
        auth=AuthConfig(token=token, require_promise_secret=require_promise_secret),
    )
    click.echo(f"agent-host serving {ctx.store_dir} on http://{bind}:{port}", err=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host=bind, port=port, log_level="warning", timeout_graceful_shutdown=30)
    )
    handle_exit = server.handle_exit

    def exit_and_drain(sig: int, frame: Any) -> None:
        # Release held invoke-and-await requests first: uvicorn waits for open
        # connections before the app hears of the shutdown.
        app.state.service.drain()
        handle_exit(sig, frame)

    server.handle_exit = exit_and_drain  # type: ignore[method-assign]
    server.run()


# -- conformance ---------------------------------------------------------------------------------
class _LazyGroup(click.Group):
    """A command group imported only when it is used (``module:attribute``)."""

    def __init__(self, name: str, target: str, help: str) -> None:  # noqa: A002
        super().__init__(name, help=help)
        self.target = target

    def _real(self) -> click.Group:
        import importlib

        module, _, attribute = self.target.partition(":")
        group: click.Group = getattr(importlib.import_module(module), attribute)
        return group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._real().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._real().get_command(ctx, cmd_name)


main.add_command(
    _LazyGroup(
        "conformance",
        "host.conformance.cli:conformance",
        "Check a promise host against the conformance suite (conformance/).",
    )
)
