"""The ``agent-host`` command line: a thin skin over :class:`host.service.HostService`.

Options shared by every command (``--store``, ``--json``, ``--server``) live on the group
and travel in the context object. Commands parse their arguments, call one service
method (or, with ``--server``, the running server) and format the answer. Errors print
``Error: ...`` and exit with the code their class owns (:mod:`host.errors`); nothing
prints a stack trace for a user's mistake.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from host.errors import HostError, StoreError
from host.ids import AgentId

if TYPE_CHECKING:
    from host.client import Client
    from host.service import HostService

F = TypeVar("F", bound=Callable[..., Any])


def default_store() -> Path:
    env = os.environ.get("AGENT_HOST_STORE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "agent-host"


@dataclass
class Ctx:
    store_dir: Path | str = Path()
    as_json: bool = False
    server: str | None = None
    data_dir: Path | None = None  # components and compiled code (needed by a database URL)
    _service: HostService | None = None

    @property
    def client(self) -> Client | None:
        """The server client in ``--server`` mode, else None."""
        if self.server is None:
            return None
        from host.client import Client

        return Client(self.server)

    @property
    def service(self) -> HostService:
        if self._service is None:
            from host.service import HostService  # wasmtime loads only when needed

            self._service = HostService(
                self.store_dir, data_dir=self.data_dir, output=_print_output, progress=_progress
            )
        return self._service

    def agent(self, component_ref: str, agent_name: str) -> AgentId:
        return self.service.agent_id(component_ref, agent_name)


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
    """Map HostError to ``Error: ...`` and its exit code. A SQLite error that escaped the
    store (a damaged or unreadable file) is a StoreError too: exit code 6, no traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HostError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except sqlite3.DatabaseError as exc:
            error = StoreError(
                f"the store cannot be read: {exc}. If the file is damaged, stop every "
                "agent-host process using it and restore it from a backup taken with "
                "`agent-host backup`"
            )
            click.echo(f"Error: {error}", err=True)
            sys.exit(error.exit_code)

    return wrapper  # type: ignore[return-value]


def emit(ctx: Ctx, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if ctx.as_json else text)


def iso(ns: int | None) -> str:
    from host.service.views import iso as _iso

    return _iso(ns) or "-"


@click.group()
@click.option(
    "--store",
    "store_dir",
    default=None,
    help="Data directory (database, components, compiled-code cache), or a store URL "
    "(sqlite:///path/agent-host.db). Default: $AGENT_HOST_STORE or ~/.local/share/agent-host. "
    "$AGENT_HOST_STORE_URL (a store URL), when set, holds a data directory's database.",
)
@click.option(
    "--data-dir",
    envvar="AGENT_HOST_DATA_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for registered components and their compiled code, on this machine; "
    "needed with --store postgresql://... (a directory store keeps them inside). "
    "Default: $AGENT_HOST_DATA_DIR.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.option(
    "--server",
    envvar="AGENT_HOST_SERVER",
    default=None,
    help="Send commands that change agents (invoke, agent create/delete, promise complete) "
    "and the retry-policy commands to a running `agent-host serve` at this URL instead of "
    "the store. "
    "Default: $AGENT_HOST_SERVER.",
)
@click.version_option(package_name="agent-host")
@click.pass_context
def main(
    click_ctx: click.Context,
    store_dir: str | None,
    data_dir: Path | None,
    as_json: bool,
    server: str | None,
) -> None:
    """Run durable WebAssembly agents with Golem-style promises."""
    ctx = Ctx(store_dir or default_store(), as_json, server, data_dir)
    click_ctx.obj = ctx
    click_ctx.call_on_close(lambda: ctx._service.close() if ctx._service else None)


pass_ctx = click.make_pass_decorator(Ctx)

# The commands register themselves on `main` when imported.
from host.cli import agents, components, operations, promises, retry_policies  # noqa: E402

__all__ = [
    "Ctx",
    "agents",
    "components",
    "main",
    "operations",
    "promises",
    "retry_policies",
]
