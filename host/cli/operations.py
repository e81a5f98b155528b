"""Operations: ``limits``, ``check``, ``worker``, ``serve`` and ``conformance``."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from host.cli import Ctx, _progress, emit, handle_errors, json_flag, main, pass_ctx
from host.errors import InvalidInput


# -- limits ----------------------------------------------------------------------------------
@main.group()
def limits() -> None:
    """Guest limits per component or agent."""


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
@click.option(
    "--max-output",
    "max_output_bytes",
    type=int,
    help="Bytes one invocation may write to stdout and stderr (past it, it fails).",
)
@click.option(
    "--max-jumps",
    "max_oplog_jumps",
    type=int,
    help="Jumps back (set-oplog-index) one invocation may make (past it, it fails).",
)
@click.option("--reset", is_flag=True, help="Drop this scope's limits first.")
@json_flag
@pass_ctx
@handle_errors
def limits_set(
    ctx: Ctx, /, component_ref: str, agent_name: str | None, reset: bool, **values: Any
) -> None:
    """Set limits for a component's agents, or for one agent (which wins)."""
    scope = ctx.service.limit_scope(component_ref, agent_name)
    given = {k: v for k, v in values.items() if v is not None}
    layer = ctx.service.set_limits(scope, given, replace=reset)
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
    service = ctx.service
    if agent_name:
        effective = service.limits_for(ctx.agent(component_ref, agent_name))
    else:
        effective = service.component_limits(component_ref)
    data = effective.to_dict()
    emit(ctx, data, "\n".join(f"{k}: {'unlimited' if v is None else v}" for k, v in data.items()))


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
    report = ctx.service.check(component_ref, agent_name)
    data = {"agents_checked": report.agents_checked, "problems": list(report.problems)}
    text = "\n".join(report.problems)
    emit(ctx, data, text or f"{report.agents_checked} agent(s) checked, no problems")
    if report.problems:
        sys.exit(1)


@main.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
@json_flag
@pass_ctx
@handle_errors
def backup_cmd(ctx: Ctx, dest: Path) -> None:
    """Copy the database to DEST consistently, even while a server writes to it.

    DEST is a new file (or an existing directory, to hold agent-host.db). Uses SQLite's
    online backup API and checks the copy's integrity; copying the live file with `cp`
    can give a damaged copy."""
    written = ctx.service.backup(dest)
    emit(ctx, {"backup": str(written)}, f"backed up the store to {written}")


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
    service = ctx.service
    while True:
        ran = service.run_due()
        for agent_id in ran:
            click.echo(f"{agent_id}: {service.status_line(agent_id)}", err=True)
        if once:
            return
        time.sleep(interval)


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
    default=1,
    show_default=True,
    help="Host processes serving the port (one store; each agent runs in one of them "
    "at a time, and a process that dies is restarted).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    # 16, not 4: a run waits for its commit (an fsync) more than it computes, so under
    # many resumes more runs at once fill the group commits (bench_server.py: 1,000
    # resumes by 16 clients, 231 -> 259 and 290 -> 344 resumes/s, 4 -> 16 threads).
    default=16,
    show_default=True,
    help="Agents run at once, per process.",
)
@click.option(
    "--park-s",
    type=click.FloatRange(0, 60),
    default=2.0,
    show_default=True,
    help="Seconds a suspended agent keeps its instance on a spare thread, so that a "
    "completion in that time continues it without a replay (0: drop it at once; the "
    'suspension is committed either way). README: "Parking".',
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
    help="Require `Authorization: Bearer TOKEN` on every request but /healthz (and, with "
    "--public-reads, reads of /v1 and the API docs). Default: $AGENT_HOST_TOKEN.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the token from this file (its first line).",
)
@click.option(
    "--public-reads",
    is_flag=True,
    help="With --token, leave GET/HEAD/OPTIONS of /v1/... and of /openapi.json, /docs "
    "open. Agent-declared routes still need the token (they run guest functions).",
)
@click.option(
    "--require-promise-secret",
    is_flag=True,
    help="Completing a promise needs its secret (or the token) even with no token set; "
    "a guest completing another agent's promise needs that promise's secret too.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1, 1_000_000),
    default=None,
    help="Open connections at most; more are answered 503 and closed at once. "
    "Default: 1000, or fewer if the open-files limit (ulimit -n) is lower.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(0.1, 3600),
    default=10.0,
    show_default=True,
    help="Seconds a connection may take to send a request's headers before it is closed.",
)
@click.option(
    "--await-timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds invoke-and-await holds a request before answering 202 with "
    "the invocation's state.",
)
@click.option(
    "--max-payload",
    default="16MiB",
    show_default=True,
    help="Largest promise payload a completion or webhook may send (bytes, or with a unit: "
    "1048576, 512KiB, 16MiB); a larger body is answered 413 without being read. Agents "
    "still apply their own max_payload_bytes limit (default 16 MiB).",
)
@click.option(
    "--public-url",
    default=None,
    help="Where clients reach this server: webhook URLs (create-webhook) start with it. "
    "Default: http://HOST:PORT of the bound address.",
)
@pass_ctx
@handle_errors
def serve(
    ctx: Ctx,
    bind: str,
    port: int,
    workers: int,
    threads: int,
    park_s: float,
    poll_interval: float,
    token: str | None,
    token_file: Path | None,
    public_reads: bool,
    require_promise_secret: bool,
    max_connections: int | None,
    header_timeout: float,
    await_timeout: float,
    max_payload: str,
    public_url: str | None,
) -> None:
    """Serve Golem's REST API for every agent in the data directory.

    On start it resumes every agent that was running or has a due wake-up. With
    --workers N, N processes share the port and the store (README: "Many processes")."""
    from host.runtime import malloc
    from host.server.payloads import parse_size

    if token_file is not None:
        try:
            token = token_file.read_text().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise InvalidInput(f"cannot read a token from {token_file}: {exc}") from None
    if token is not None and len(token) < 16:
        raise InvalidInput("the token must be at least 16 characters long")
    max_payload_bytes = parse_size(max_payload)
    malloc.tune()  # large payloads: value arrays stay in glibc's heap (host/runtime/malloc.py)
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise InvalidInput("--public-url must be an http:// or https:// URL", field="public_url")
    options = _ServeOptions(
        bind=bind,
        port=port,
        threads=threads,
        park_s=park_s,
        poll_interval=poll_interval,
        token=token,
        public_reads=public_reads,
        require_promise_secret=require_promise_secret,
        max_connections=max_connections or _default_max_connections(),
        header_timeout=header_timeout,
        await_timeout=await_timeout,
        max_payload=max_payload_bytes,
        public_url=public_url or _default_public_url(bind, port),
    )
    if workers == 1:
        # uvicorn re-raises the signal that stopped it once it has shut down: as
        # SystemExit(0) (not death by the default action) click closes the command's
        # context, which closes the service: leases released, store closed, exit code 0.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _exit_cleanly)
        _serve_process(ctx, options)
        return
    from host.server.workers import Supervisor, bind_socket

    try:
        sock = bind_socket(bind, port, min(2048, options.max_connections))
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {bind}:{port}: {exc.strerror}") from None
    bound = sock.getsockname()[1]  # --port 0: the port the system chose
    click.echo(
        f"agent-host serving {ctx.store_dir} on http://{bind}:{bound} with {workers} processes",
        err=True,
    )

    def child(sock: Any, ready: Any) -> int:
        # uvicorn re-raises the signal that stopped it once it has shut down; as an
        # exception here (not the default action, death) it lets the service close:
        # the process's leases released at once and its wake-up marker removed.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _exit_cleanly)
        code = 0
        try:
            handle_errors(_serve_process)(ctx, options, sock, ready)  # "Error: ...", its code
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            if ctx._service is not None:
                ctx._service.close()
        return code

    code = Supervisor(workers, sock, child).run()
    if code:
        sys.exit(code)


def _exit_cleanly(sig: int, frame: Any) -> None:
    raise SystemExit(0)


def _default_max_connections() -> int:
    from host.server.connections import default_max_connections

    return default_max_connections()


@dataclass(frozen=True)
class _ServeOptions:
    bind: str
    port: int
    threads: int
    park_s: float
    poll_interval: float
    token: str | None
    public_reads: bool
    require_promise_secret: bool
    max_connections: int
    header_timeout: float
    await_timeout: float
    max_payload: int
    public_url: str


def _serve_process(
    ctx: Ctx, o: _ServeOptions, sock: Any = None, ready: Callable[[], None] | None = None
) -> None:
    """One host process serving (``sock``: the listening socket it shares with the
    others of ``--workers``, ``ready`` called once it accepts connections)."""
    import uvicorn

    from host.runtime.scheduler import PoolScheduler
    from host.server import create_app
    from host.server.auth import AuthConfig
    from host.server.connections import GuardedH11Protocol, install_log_rate_limit
    from host.service import HostService

    bind, port, await_timeout = o.bind, o.port, o.await_timeout
    require_promise_secret, max_connections = o.require_promise_secret, o.max_connections
    pool = PoolScheduler(workers=o.threads, poll_interval=o.poll_interval, park_s=o.park_s)
    service = HostService(
        ctx.store_dir,
        data_dir=ctx.data_dir,
        scheduler=pool,
        progress=_progress,
        completion_policy="secret" if require_promise_secret else "open",
        public_url=o.public_url,
    )
    ctx._service = service  # closed with the command
    # A damaged database (a torn copy, say) is refused here, before the first request,
    # rather than answering /healthz ok and failing every listing.
    service.verify_store()
    app = create_app(
        service,
        await_timeout=await_timeout,
        max_payload=o.max_payload,
        auth=AuthConfig(
            token=o.token,
            require_promise_secret=require_promise_secret,
            public_reads=o.public_reads,
        ),
    )
    if sock is None:
        click.echo(f"agent-host serving {ctx.store_dir} on http://{bind}:{port}", err=True)
    config = uvicorn.Config(
        app,
        host=bind,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=30,
        http=GuardedH11Protocol.configured(max_connections, o.header_timeout),
        backlog=min(2048, max_connections),
    )
    install_log_rate_limit()
    server = _Server(config, ready)
    handle_exit = server.handle_exit

    def exit_and_drain(sig: int, frame: Any) -> None:
        # Release held invoke-and-await requests first: uvicorn waits for open
        # connections before the app hears of the shutdown.
        pool.drain()
        handle_exit(sig, frame)

    server.handle_exit = exit_and_drain
    server.run(sockets=None if sock is None else [sock])


def _server_class() -> type:
    import uvicorn

    class ReadyServer(uvicorn.Server):
        """uvicorn's server, telling ``ready`` once it accepts connections."""

        def __init__(self, config: uvicorn.Config, ready: Callable[[], None] | None) -> None:
            super().__init__(config)
            self._ready = ready

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self._ready is not None and self.started:
                self._ready()

    return ReadyServer


def _Server(config: Any, ready: Callable[[], None] | None) -> Any:  # noqa: N802
    return _server_class()(config, ready)


def _default_public_url(bind: str, port: int) -> str:
    host = "127.0.0.1" if bind in ("0.0.0.0", "") else "[::1]" if bind == "::" else bind
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


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
