"""agent_sdk's snapshots and config declarations on the host's Python, no wasm: which
agent types declare snapshotting (and the refusals), save/load through the guest
runtime on neutral data (the hooks are not methods; load makes the instance without
__init__), and config declarations in the agent type."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "guest_examples" / "sdk"))

from agent_sdk import AgentDefinitionError, Principal, agent, definition_of  # noqa: E402
from agent_sdk.guest import AgentFailure, Runtime  # noqa: E402


@agent(name="SnapTotal", snapshotting=3)
class SnapTotal:
    def __init__(self, name: str) -> None:
        self.name = name
        self.total = 0
        self.inits = 1

    def add(self, n: int) -> int:
        self.total += n
        return self.total

    def save_snapshot(self) -> bytes:
        return json.dumps([self.name, self.total]).encode()

    def load_snapshot(self, data: bytes) -> None:
        self.name, self.total = json.loads(data)
        self.inits = 0


def _ctor(name: str) -> tuple[str, list[object]]:
    return ("tuple", [("component-model", {"nodes": [("prim-string", name)]})])


def test_hooks_declare_snapshotting_and_are_not_methods() -> None:
    definition = definition_of(SnapTotal).definition()
    assert definition["snapshotting"] == ("enabled", ("every-n-invocation", 3))
    assert [m["name"] for m in definition["methods"]] == ["add"]

    @agent(name="SnapDefault")
    class SnapDefault(SnapTotal):
        pass

    assert definition_of(SnapDefault).definition()["snapshotting"] == ("enabled", ("default", None))

    @agent(name="SnapPeriodic", snapshotting=datetime.timedelta(seconds=2))
    class SnapPeriodic(SnapTotal):
        pass

    periodic = definition_of(SnapPeriodic).definition()["snapshotting"]
    assert periodic == ("enabled", ("periodic", 2_000_000_000))

    @agent(name="Plain")
    class Plain:
        def get(self) -> int:
            return 1

    assert definition_of(Plain).definition()["snapshotting"] == ("disabled", None)


def test_refusals() -> None:
    with pytest.raises(AgentDefinitionError, match="both save_snapshot"):

        @agent(name="HalfSnap")
        class HalfSnap:
            def save_snapshot(self) -> bytes:
                return b""

    with pytest.raises(AgentDefinitionError, match="snapshotting must be"):

        @agent(name="BadSnap", snapshotting=0)
        class BadSnap(SnapTotal):
            pass


def test_save_and_load_through_the_runtime() -> None:
    runtime = Runtime([definition_of(SnapTotal)])
    with pytest.raises(AgentFailure, match="not initialized"):
        runtime.save()
    runtime.initialize("SnapTotal", _ctor("a"), Principal())
    runtime.invoke(
        "add", ("tuple", [("component-model", {"nodes": [("prim-s64", 5)]})]), Principal()
    )
    payload = runtime.save()

    fresh = Runtime([definition_of(SnapTotal)])
    fresh.load(payload)
    assert fresh.agent_type is not None and fresh.agent_type.name == "SnapTotal"
    assert (fresh.instance.name, fresh.instance.total, fresh.instance.inits) == ("a", 5, 0)
    with pytest.raises(AgentFailure, match="not a snapshot"):
        Runtime([definition_of(SnapTotal)]).load(b"junk")


def test_config_declarations_are_in_the_agent_type() -> None:
    @agent(name="Configured", config={"greeting": str, "limits.max": int | None})
    class Configured:
        def get(self) -> int:
            return 1

    declared = definition_of(Configured).definition()["config"]
    assert [(c["source"], c["path"]) for c in declared] == [
        ("local", ["greeting"]),
        ("local", ["limits", "max"]),
    ]
    assert declared[0]["value_type"]["nodes"][0]["type"] == ("prim-string-type", None)
