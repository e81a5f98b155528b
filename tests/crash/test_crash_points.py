"""Spec rule 7 under fault injection: SIGKILL at every store commit of the suspend /
complete / resume / invoke paths, with real ``agent-host`` processes (tests/crash_harness.py).

For each scenario a clean run counts its commits N; then every commit of every step is
crashed, just before and just after it (2 N crash runs), recovered, finished and checked:
no acknowledged completion lost, nothing recorded twice, every agent with the clean run's
results, every suspended agent with a live wake-up.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.crash_harness import CleanRun, Ctx, Scenario, Step, prepare, run_all
from tests.fixtures.build import build_fixture


def _invoke(component: str, agent: str, call: str | Any, key: str, completes: Any = None) -> Step:
    """``invoke`` with an idempotency key (the step's name), as a retrying client sends it."""

    def args(ctx: Ctx) -> list[str]:
        text = call(ctx) if callable(call) else call
        return ["invoke", component, agent, text, "--idempotency-key", key]

    if completes is None:
        return Step(key, args)
    return Step(key, args, completes)


def _complete(component: str, agent: str, idx: Any, text: str, name: str) -> Step:
    return Step(
        name,
        lambda ctx: ["promise", "complete", component, agent, str(idx(ctx)), "--text", text],
        completes=lambda ctx, out: (agent, idx(ctx), text.encode()) if out["completed"] else None,
    )


def _result_idx(step: str) -> Any:
    return lambda ctx: int(ctx.outputs[step]["result"])


def _waiting_idx(step: str) -> Any:
    return lambda ctx: int(ctx.outputs[step]["oplog_indexes"][0])


def _halves(ctx: Ctx, component: str) -> tuple[int, int]:
    value = uuid.UUID(ctx.components[component]).int
    return value >> 64, value & (2**64 - 1)


def _durable_result(result: str | None, entries: list[Any]) -> str | None:
    """observe-and-await returns (random, wall clock, payload): the first two must be the
    values recorded in the oplog (drawn once, replayed after), and are then elided."""
    from host.oplog import HostCall

    if result is None:
        return None
    found = re.fullmatch(r"\((\d+), (\d+), (.*)\)", result)
    assert found, result
    calls = [e for e in entries if isinstance(e, HostCall)]
    (random,) = [c.response for c in calls if c.function.endswith("get-random-u64")]
    (clock,) = [c.response for c in calls if c.function.endswith("wall-clock@0.2.3.now")]
    assert int(found[1]) == random, (result, random)
    assert int(found[2]) == clock["seconds"] * 10**9 + clock["nanoseconds"], (result, clock)
    return f"(<random>, <clock>, {found[3]})"


def _scenarios() -> dict[str, Scenario]:
    promises = build_fixture("promises-1.3.0")
    durable = build_fixture("durable-1.3.0")
    return {
        # (a) create, await (suspends), complete from outside (resumes in that process).
        "promise-lifecycle": Scenario(
            "promise-lifecycle",
            {"p": promises},
            (
                _invoke("p", "alice", "create()", "a-create"),
                _invoke("p", "alice", lambda c: f"await({_result_idx('a-create')(c)})", "a-await"),
                _complete("p", "alice", _result_idx("a-create"), "hi", "a-complete"),
            ),
        ),
        # (b) random + clock observed, then a promise awaited; completion replays both.
        "observe-and-await": Scenario(
            "observe-and-await",
            {"d": durable},
            (
                _invoke("d", "bob", "observe-and-await()", "b-observe"),
                _complete("d", "bob", _waiting_idx("b-observe"), "ok", "b-complete"),
            ),
            normalize=_durable_result,
        ),
        # (c) one agent completes another's promise through complete-for.
        "agent-to-agent": Scenario(
            "agent-to-agent",
            {"p": promises},
            (
                _invoke("p", "owner", "create()", "c-create"),
                _invoke("p", "owner", lambda c: f"await({_result_idx('c-create')(c)})", "c-await"),
                _invoke(
                    "p",
                    "helper",
                    lambda c: 'complete-for({}, {}, "owner", {}, [104, 105])'.format(
                        *_halves(c, "p"), _result_idx("c-create")(c)
                    ),
                    "c-complete-for",
                    # A `true` from the guest acknowledges the completion like the CLI's.
                    completes=lambda c, out: (
                        ("owner", _result_idx("c-create")(c), b"hi")
                        if out.get("result") == "true"
                        else None
                    ),
                ),
            ),
        ),
        # (d) an invocation queued behind a suspended one runs after it, once.
        "queued-behind-suspended": Scenario(
            "queued-behind-suspended",
            {"p": promises},
            (
                _invoke("p", "carol", "create-and-await()", "d-wait"),
                _invoke("p", "carol", "create()", "d-queue"),
                _complete("p", "carol", _waiting_idx("d-wait"), "x", "d-complete"),
            ),
        ),
    }


SCENARIOS = _scenarios()

# slow: 2 N crash runs per scenario, minutes in all. sqlite_only: the crash seam
# (host/store/crashpoint.py) wraps the SQLite store only.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]
# A scenario with fewer commits than this did not exercise the paths it names.
MIN_COMMITS = 12


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_crash_point_recovers(name: str, tmp_path: Path) -> None:
    began = time.monotonic()
    clean: CleanRun = prepare(SCENARIOS[name], tmp_path)
    n = sum(len(c) for c in clean.commits)
    assert n >= MIN_COMMITS, clean.commits
    runs = run_all(clean, tmp_path)
    assert len(runs) == 2 * n
    methods = sorted({r.method for r in runs})
    per_step = ", ".join(
        f"{s.name}: {len(c)}" for s, c in zip(clean.scenario.steps, clean.commits, strict=True)
    )
    print(
        f"\n{name}: {n} commits ({per_step}), {len(runs)} crash points (before/after each) "
        f"recovered and checked in {time.monotonic() - began:.1f} s; store methods crashed: "
        + ", ".join(methods)
    )
