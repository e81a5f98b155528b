"""Golem 1.5's named retry policies through the CLI, each step a process of its own: a
guest sets a named policy (golem:api/retry@1.5.0) and traps; the retries run in
``worker --once`` processes that did not see the trap, each stepping the policy on from
the state the previous failed attempt recorded, so the agent fails after exactly the
policy's count, ``count-box(2, periodic(300 ms))``, not Golem's default three."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from host.retry_policy import NamedPolicy
from tests.fixtures.retry_guest import guest
from tests.server_util import add_component, cli, wait_until

MS = 1_000_000
SLOW = NamedPolicy("slow", 5, ("prop-eq", "verb", "trap"), ("count-box", 2, ("periodic", 300 * MS)))


def _show(store: Path, name: str) -> dict[str, Any]:
    shown = cli(store, "agent", "show", "retry-guest", name, "--json")
    assert shown.returncode == 0, shown.stderr
    return dict(json.loads(shown.stdout))


def test_cli_named_policy_decides_the_retries_across_processes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_component(store, guest(tmp_path / "guest", [SLOW]), "retry-guest")
    assert cli(store, "invoke", "retry-guest", "f", "set-0()").returncode == 0
    # Another process reads it back: Golem's catch-all plus "slow".
    counted = cli(store, "invoke", "retry-guest", "f", "count()")
    assert counted.returncode == 0 and counted.stdout.strip().endswith("2"), counted.stdout

    first = cli(store, "invoke", "retry-guest", "f", "boom()")
    assert first.returncode == 0, first.stderr
    assert "retrying (retry 1)" in first.stdout, first.stdout
    assert _show(store, "f")["retry_count"] == 1

    def settled() -> dict[str, Any] | None:
        ran = cli(store, "worker", "--once")
        assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
        now = _show(store, "f")
        return now if now["status"] == "failed" else None

    failed = wait_until(settled, timeout=90, interval=0.1, what="the agent to fail")
    assert failed["retry_count"] == 2, failed
    assert failed["last_error"].startswith("the guest trapped"), failed["last_error"]
