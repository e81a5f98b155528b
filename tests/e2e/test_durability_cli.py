"""Durability controls through the CLI (issue 11, items 3, 4 and 5), each step a separate
`agent-host` process, so every call after the first replays the agent from the store:
an atomic region that traps re-executes live on its retry; set-oplog-index travels back
and the agent continues from the mark; a read under persist-nothing is not recorded and
a later process replays past it without a divergence; set-idempotence-mode holds in
later processes. REST runs the same rules as conformance cases through the HTTP adapter
(tests/e2e/test_conformance.py).

Guests: the conformance guests ``durability`` and ``durable-state`` (hand-written WAT),
at the oldest generation in the fast tier and at every other one they exist for in the
slow tier."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from host import oplog
from host.conformance.build import build_wat
from host.ids import AgentId
from tests.fixtures.build import BUILD_DIR, CONFORMANCE_GUESTS, WIT_DIR
from tests.server_util import add_component, cli, store_view, wait_until


def _guest(name: str, generation: str) -> Path:
    src = CONFORMANCE_GUESTS / name / generation
    return build_wat(src, BUILD_DIR, f"{name}-{generation}", WIT_DIR, what="fixture")


def _call(store: Path, agent: str, call: str) -> str:
    done = cli(store, "invoke", "durability", agent, call)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout.strip()


def _log(store: Path, cid: str, name: str) -> list[oplog.Entry]:
    view = store_view(store)
    try:
        return view.read_oplog(AgentId(uuid.UUID(cid), name))
    finally:
        view.close()


def _status(store: Path, cid: str, name: str) -> str:
    view = store_view(store)
    try:
        return str(view.get_agent(AgentId(uuid.UUID(cid), name)).status)
    finally:
        view.close()


def _randoms(log: list[oplog.Entry]) -> int:
    return sum(isinstance(e, oplog.HostCall) and "get-random-u64" in e.function for e in log)


GENERATIONS = ["0.2.0"] + [
    pytest.param(g, marks=pytest.mark.slow) for g in ("1.1.0", "1.1.6", "1.1.7", "1.3.0", "1.5.0")
]


@pytest.mark.parametrize("generation", GENERATIONS)
def test_durability_controls_through_the_cli(tmp_path: Path, generation: str) -> None:
    store = tmp_path / "store"
    cid = add_component(store, _guest("durability", generation), "durability")

    # Item 3: the region traps once; its retry (Golem's default policy, ~100 ms later,
    # run by `worker --once` in another process) re-executes it live.
    # (Usually the first process exits before the retry is due; a slow one runs it too.)
    first = _call(store, "atomic", "atomic-once()")
    assert first.startswith("retrying (retry 1)") or first.isdigit(), first

    def finished() -> bool:
        ran = cli(store, "worker", "--once")
        assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
        return _status(store, cid, "atomic") == "idle"

    wait_until(finished, timeout=60, interval=0.1, what="the atomic region's retry")
    log = _log(store, cid, "atomic")
    assert _randoms(log) == 2  # the region's read made again, live
    assert sum(isinstance(e, oplog.BeginAtomicRegion) for e in log) == 1
    assert sum(isinstance(e, oplog.Jump) for e in log) == 1  # deletes the first attempt
    assert isinstance(log[-1], oplog.InvocationFinished)
    assert _call(store, "atomic", "ok()") == "7"  # a new process replays it all

    # Item 4: jump-loop(limit) jumps back to its mark until the index reaches the limit.
    mark = int(_call(store, "jumper", "jump-loop(0)"))
    assert int(_call(store, "jumper", f"jump-loop({mark + 12})")) == mark + 13
    log = _log(store, cid, "jumper")
    assert sum(isinstance(e, oplog.Jump) for e in log) == 3
    assert _call(store, "jumper", "ok()") == "7"  # replay skips the deleted entries

    # Item 5: the read under persist-nothing leaves no entry; the next process replays
    # the invocation, making the read again, without a divergence.
    assert _call(store, "quiet", "quiet-random()") == "4"
    assert _randoms(_log(store, cid, "quiet")) == 0
    assert _call(store, "quiet", "ok()") == "7"
    assert _randoms(_log(store, cid, "quiet")) == 0


@pytest.mark.parametrize(
    "generation", ["0.2.0"] + [pytest.param(g, marks=pytest.mark.slow) for g in ("1.3.0", "1.5.0")]
)
def test_idempotence_mode_holds_in_later_processes(tmp_path: Path, generation: str) -> None:
    store = tmp_path / "store"
    add_component(store, _guest("durable-state", generation), "durability")
    assert _call(store, "a", "idempotence()") == "true"  # Golem's default
    _call(store, "a", "set-idempotence(false)")
    assert _call(store, "a", "idempotence()") == "false"
    assert _call(store, "a", "idempotence()") == "false"
