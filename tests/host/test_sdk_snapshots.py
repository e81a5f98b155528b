"""agent_sdk snapshots with the real componentize-py guest tests/fixtures/py/rpc_pair:
``SnapAgent`` defines save_snapshot / load_snapshot and declares snapshotting every two
invocations, which the SDK exports through golem:api/save-snapshot@1.5.0 and
load-snapshot@1.5.0. The host records Snapshot entries on that schedule, and an agent
recovered in a new host process starts from the latest one (its state comes from
load_snapshot, not from replaying from the first entry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.oplog import Snapshot
from host.service import HostService
from tests.fixtures.build import build_python_fixture

pytestmark = pytest.mark.slow  # builds (first time) and compiles an 18 MB guest


def result(host: HostService, name: str, text: str) -> object:
    inv = host.submit(host.agent_call_from_wave(host.agent_id("pair", name), text))
    assert inv.state == "done", f"{text}: {inv.state} {inv.error}"
    outcome = host.agent_result(inv)
    assert outcome is not None and outcome.error is None, outcome
    return outcome.json


def test_an_sdk_agent_recovers_from_its_snapshot(tmp_path: Path) -> None:
    wasm = build_python_fixture("rpc_pair")
    store = tmp_path / "store"
    first = HostService(store)
    try:
        first.add_component(wasm, "pair")
        (snap_type,) = [t for t in first.agent_types("pair") if t.type_name == "SnapAgent"]
        assert (snap_type.snapshotting.kind, snap_type.snapshotting.value) == (
            "every-n-invocation",
            2,
        )
        name = 'SnapAgent("s")'
        result(first, name, "add(1)")  # initialize + add: a snapshot
        assert result(first, name, "recovered") is False  # a live instance all along
        result(first, name, "add(2)")  # recovered + add: the latest snapshot
        agent = first.agent_id("pair", name)
        snaps = [e for e in first.store.read_oplog(agent) if isinstance(e, Snapshot)]
        assert len(snaps) == 2
        # (nothing after the latest snapshot: recovered() answers differently once the
        # state comes from a snapshot, and replay checks every recorded result)
        assert snaps[0].mime_type == "application/x-agent-sdk-snapshot"
    finally:
        first.close()
    second = HostService(store)  # no live instance: recovery loads the latest snapshot
    try:
        assert result(second, name, "recovered") is True
        assert result(second, name, "add(10)") == 13
    finally:
        second.close()


def test_an_agent_without_hooks_has_no_snapshots(tmp_path: Path) -> None:
    host = HostService(tmp_path / "store")
    try:
        host.add_component(build_python_fixture("rpc_pair"), "pair")
        (counter,) = [t for t in host.agent_types("pair") if t.type_name == "CounterAgent"]
        assert counter.snapshotting.kind == "disabled"
        for n in (1, 2, 3):
            result(host, 'CounterAgent("n")', f"add({n})")
        agent = host.agent_id("pair", 'CounterAgent("n")')
        assert not any(isinstance(e, Snapshot) for e in host.store.read_oplog(agent))
    finally:
        host.close()
