"""``agent-host retry-policy list/get/set/remove``: the host-wide named retry policies
(Golem 1.5's ``golem retry-policy``; host/service/retry_policies.py). With ``--server``
they go to the running server's ``/v1/retry-policies``, else to the store, which a
serving process reads at each use: either way running agents see the change.

A policy is given as host/retry_policy_json.py's JSON form::

    agent-host retry-policy set http-5xx --priority 30 \\
        --predicate '["prop-gte", "status-code", 500]' \\
        --policy '["count-box", 5, ["exponential", 100000000, 2.0]]'

or whole (``--json-policy '{"priority": ..., "predicate": ..., "policy": ...}'``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import click

from host.cli import Ctx, emit, handle_errors, json_flag, main, pass_ctx
from host.errors import InvalidInput
from host.retry_policy_json import to_json

PATH = "/v1/retry-policies"


def _line(policy: dict[str, Any]) -> str:
    return (
        f"{policy['name']}  priority {policy['priority']}  "
        f"when {json.dumps(policy['predicate'])}  {json.dumps(policy['policy'])}"
    )


def _parse(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not JSON: {exc}", what.lstrip("-")) from None


@main.group("retry-policy")
def retry_policy() -> None:
    """Host-wide named retry policies (Golem's environment-level ones)."""


@retry_policy.command("list")
@json_flag
@pass_ctx
@handle_errors
def list_policies(ctx: Ctx) -> None:
    """The policies, by descending priority then name."""
    if ctx.client is not None:
        _, data = ctx.client.request("GET", PATH)
        found = list(data["values"])
    else:
        found = [to_json(p) for p in ctx.service.list_retry_policies()]
    emit(ctx, found, "\n".join(_line(p) for p in found) or "no host-wide retry policies")


@retry_policy.command("get")
@click.argument("name")
@json_flag
@pass_ctx
@handle_errors
def get_policy(ctx: Ctx, name: str) -> None:
    """One policy (exit 4 if there is none of that name)."""
    if ctx.client is not None:
        _, data = ctx.client.request("GET", f"{PATH}/{quote(name, safe='')}")
    else:
        data = to_json(ctx.service.get_retry_policy(name))
    emit(ctx, data, _line(data))


@retry_policy.command("set")
@click.argument("name")
@click.option("--priority", type=int, help="Higher is tried first (default 0).")
@click.option("--predicate", help='When it applies, as JSON (default ["pred-true"]).')
@click.option("--policy", help='The policy, as JSON, e.g. ["count-box", 3, ["immediate"]].')
@click.option("--json-policy", help="The whole policy as one JSON object instead.")
@json_flag
@pass_ctx
@handle_errors
def set_policy(
    ctx: Ctx,
    name: str,
    priority: int | None,
    predicate: str | None,
    policy: str | None,
    json_policy: str | None,
) -> None:
    """Add or replace the policy NAME."""
    if json_policy is not None:
        if priority is not None or predicate is not None or policy is not None:
            raise InvalidInput("give --json-policy alone, or --priority/--predicate/--policy")
        body = _parse(json_policy, "--json-policy")
    else:
        if policy is None:
            raise InvalidInput("give the policy with --policy (or the whole with --json-policy)")
        body = {
            "priority": 0 if priority is None else priority,
            "predicate": ["pred-true"] if predicate is None else _parse(predicate, "--predicate"),
            "policy": _parse(policy, "--policy"),
        }
    if ctx.client is not None:
        _, data = ctx.client.request("PUT", f"{PATH}/{quote(name, safe='')}", body)
    else:
        data = to_json(ctx.service.set_retry_policy(body, name))
    emit(ctx, data, _line(data))


@retry_policy.command("remove")
@click.argument("name")
@json_flag
@pass_ctx
@handle_errors
def remove_policy(ctx: Ctx, name: str) -> None:
    """Remove the policy NAME (exit 4 if there is none)."""
    if ctx.client is not None:
        _, data = ctx.client.request("DELETE", f"{PATH}/{quote(name, safe='')}")
    else:
        data = to_json(ctx.service.remove_retry_policy(name))
    emit(ctx, data, f"removed {data['name']}")
