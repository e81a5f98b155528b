"""Interrupting a *running* agent (issue 11, item 8): the guest stops within an epoch
tick, even in a tight loop, and the agent is ``interrupted`` with its invocation still
started; ``resume`` replays it and continues it live. Output already shown is not shown
again: guest output is delivered once its record is committed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from host.ids import AgentId
from host.oplog import HostCall, InvocationFinished
from host.service import HostService
from tests.fixtures.build import build_fixture

SPIN_100MS = 30_000_000  # busy-loop iterations of the ticker guest, ~0.1 s here


def _wait(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_a_running_agent_is_interrupted_and_resumed_by_replay(tmp_path: Path) -> None:
    shown: list[bytes] = []
    host = HostService(tmp_path / "data", output=lambda agent, stream, data: shown.append(data))
    try:
        record = host.add_component(build_fixture("ticker"), name="ticker")
        agent = AgentId(uuid.UUID(record.id), "t1")
        thread, errors = _in_thread(lambda: host.invoke(agent, f"tick(20, {SPIN_100MS})"))
        _wait(lambda: len(shown) >= 3)  # committed and shown while it runs
        view = host.interrupt(agent)
        assert view.status == "interrupted"
        thread.join(10)
        assert not thread.is_alive() and not errors, errors
        started = [i for i in host.store.list_invocations(agent) if i.state == "started"]
        assert len(started) == 1  # left started: the resume continues it
        before = len(shown)
        assert before < 20
        time.sleep(0.3)
        assert len(shown) == before  # nothing runs while interrupted

        view = host.resume(agent)
        assert view.status == "idle"
        done = host.invocation(started[0].invocation_id)
        assert done.state == "done" and done.result_json == 20
        # Every line once, in order: what was shown before the interrupt is not repeated.
        assert b"".join(shown).decode().splitlines() == [f"tick {i % 10}" for i in range(20)]
        log = host.store.read_oplog(agent)
        writes = [e for e in log if isinstance(e, HostCall) and "write" in e.function]
        assert len(writes) == 20  # each write recorded once
        assert sum(isinstance(e, InvocationFinished) for e in log) == 1
    finally:
        host.close()


def test_a_tight_loop_is_interrupted_within_a_tick(tmp_path: Path) -> None:
    host = HostService(tmp_path / "data")
    try:
        record = host.add_component(build_fixture("hostile"), name="hostile")
        agent = AgentId(uuid.UUID(record.id), "spinner")
        thread, errors = _in_thread(lambda: host.invoke(agent, "spin()"))
        _wait(
            lambda: (
                host.executor.is_running_here(agent)
                and host.store.get_agent(agent).status == "running"
            )
        )
        time.sleep(0.2)
        asked = time.monotonic()
        assert host.interrupt(agent).status == "interrupted"
        thread.join(10)
        assert time.monotonic() - asked < 2.0
        assert not thread.is_alive() and not errors, errors
        assert host.store.get_agent(agent).last_error is None  # not a failure
    finally:
        host.close()


def test_interrupting_an_idle_agent_still_works(tmp_path: Path) -> None:
    host = HostService(tmp_path / "data")
    try:
        record = host.add_component(build_fixture("ticker"), name="ticker")
        agent = AgentId(uuid.UUID(record.id), "t2")
        host.invoke(agent, "tick(1, 0)")
        assert host.interrupt(agent).status == "interrupted"
        assert host.resume(agent).status == "idle"
    finally:
        host.close()
