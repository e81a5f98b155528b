"""Golem's agent management driven by a guest at every golem:api/host generation
(issue 11, items 1 and 9), through the CLI (each call a separate process, so every call
after the first replays the agent) and through REST (a real server on a loopback port).

The guest is the conformance guest ``management`` (tests/fixtures/management_guests.py
writes one per generation from one template per interface shape); it returns what the
host functions gave it, and the test checks those values: metadata of itself and of
another agent, enumeration with a name-and-status filter (get-next until none), update
(automatic), fork-*, revert-*, resolve-* and fork of the running agent where the
generation declares them (``fork(new-name)`` at 1.1.6 and 1.1.7, ``fork()`` naming the
copy with a phantom id at 1.3.0 and 1.5.0), an idempotency key that replay gives back
unchanged, and GOLEM_* as the guest reads them through wasi:cli/environment (the
metadata's env holds the agent's own variables only, as Golem's does).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest

from host.ids import AgentId
from host.service import HostService
from host.values import format_value, from_json, parse_value, to_json
from host.values.types import FuncSig
from tests.fixtures.build import build_fixture
from tests.fixtures.management_guests import SHAPES, Shape
from tests.server_util import Api, Server, add_component, cli, store_view

COMPONENT = "mgmt"


def _signatures(wasm: Path, tmp: Path) -> dict[str, FuncSig]:
    """The guest's exported functions with their types (from a private host), to write
    CLI arguments as WAVE and read its WAVE results back as JSON."""
    host = HostService(tmp / "types")
    try:
        record = host.add_component(wasm, "types")
        return {name: export.sig for name, export in host.exports(record.hash).items()}
    finally:
        host.close()


def _second_version(wasm: Path, tmp: Path) -> Path:
    """The same code with a custom section appended: other bytes, so version 1 (versions
    count from 0, as Golem's do)."""
    out = tmp / "v2.wasm"
    out.write_bytes(wasm.read_bytes() + b"\x00\x05\x04vers")
    return out


class Front(Protocol):
    """One way in: the CLI or REST."""

    def call(self, agent: str, function: str, *params: Any) -> Any: ...
    def fails(self, agent: str, function: str, *params: Any) -> str: ...
    def add_version(self, wasm: Path) -> None: ...
    def restart(self) -> None: ...


class CliFront:
    def __init__(self, store: Path, sigs: dict[str, FuncSig]) -> None:
        self.store, self.sigs = store, sigs

    def _run(
        self, agent: str, function: str, params: tuple[Any, ...]
    ) -> subprocess.CompletedProcess[str]:
        sig = self.sigs[function]
        args = ", ".join(
            format_value(from_json(p, t), t) for p, t in zip(params, sig.param_types, strict=True)
        )
        return cli(self.store, "invoke", COMPONENT, agent, f"{function}({args})")

    def call(self, agent: str, function: str, *params: Any) -> Any:
        done = self._run(agent, function, params)
        assert done.returncode == 0, done.stderr
        result = self.sigs[function].result
        if result is None:
            return None
        return to_json(parse_value(done.stdout.strip(), result), result)

    def fails(self, agent: str, function: str, *params: Any) -> str:
        done = self._run(agent, function, params)
        assert done.returncode != 0, done.stdout
        assert "Traceback" not in done.stderr, done.stderr
        return done.stderr

    def add_version(self, wasm: Path) -> None:
        add_component(self.store, wasm, COMPONENT)

    def restart(self) -> None:
        """Nothing to do: every CLI call is a new process that replays the agent."""


class RestFront:
    def __init__(self, server: Server, cid: str) -> None:
        self.server = server
        self.cid = cid
        self.api = Api(server.client(), cid)

    def call(self, agent: str, function: str, *params: Any) -> Any:
        r = self.api.invoke_and_await(agent, function, list(params))
        assert r.status_code == 200, r.text
        return r.json().get("result")

    def fails(self, agent: str, function: str, *params: Any) -> str:
        r = self.api.invoke_and_await(agent, function, list(params))
        assert 400 <= r.status_code < 500, r.text
        return r.text

    def add_version(self, wasm: Path) -> None:
        r = self.api.http.post(
            "/v1/components", params={"name": COMPONENT}, content=wasm.read_bytes()
        )
        assert r.status_code == 201, r.text

    def restart(self) -> None:
        self.server.restart()
        self.api = Api(self.server.client(), self.cid)


class Expect:
    """The values Golem gives, in the generation's shape."""

    def __init__(self, shape: Shape, cid: str) -> None:
        self.shape, self.cid = shape, cid
        high, low = AgentId(uuid.UUID(cid), "").uuid_halves
        self.component = {"uuid": {"high-bits": high, "low-bits": low}}
        agent = shape.noun == "agent"
        self.name_field = "agent-id" if agent else "worker-name"
        newer = shape.generation in ("1.3.0", "1.5.0")
        self.version_field = "component-revision" if newer else "component-version"

    def ident(self, name: str) -> dict[str, Any]:
        return {"component-id": self.component, self.name_field: name}

    def env(self, name: str, version: int = 0) -> list[list[str]]:
        return [
            ["GOLEM_AGENT_ID", name],
            ["GOLEM_WORKER_NAME", name],
            ["GOLEM_COMPONENT_ID", self.cid],
            ["GOLEM_COMPONENT_VERSION", str(version)],
            ["GOLEM_COMPONENT_REVISION", str(version)],
        ]

    def meta(self, name: str, status: str) -> dict[str, Any]:
        m: dict[str, Any] = {f"{self.shape.noun}-id": self.ident(name), "args": []}
        # Golem's metadata env holds the agent's own variables (none here): the GOLEM_*
        # ones are added only to what get-environment answers (its executor's
        # enrich_env), so they are not in the metadata.
        m["env"] = []
        if self.shape.generation == "1.5.0":
            m["config"] = []
        elif self.shape.noun == "agent":
            m["config-vars"] = []
        m = {**m, "status": status, self.version_field: 0, "retry-count": 0}
        if self.shape.generation == "1.5.0":
            # One node, one environment: Golem's environment-id is the nil UUID here.
            m["environment-id"] = {"uuid": {"high-bits": 0, "low-bits": 0}}
        return m


def _names(found: list[dict[str, Any]], e: Expect) -> list[str]:
    return sorted(m[f"{e.shape.noun}-id"][e.name_field] for m in found)


def _oplog_length(store: Path, cid: str, name: str) -> int:
    view = store_view(store)
    try:
        return view.oplog_length(AgentId(uuid.UUID(cid), name))
    finally:
        view.close()


def scenario(f: Front, e: Expect, store: Path, v2: Path) -> None:
    assert f.call("alpha", "add", 5) == 5
    assert f.call("alpine", "add", 2) == 2
    assert f.call("beta", "add", 1) == 1

    # Metadata: of the caller (running while it asks), of another agent, of none.
    assert f.call("caller", "self-metadata") == e.meta("caller", "running")
    assert f.call("caller", "metadata-of", "alpha") == e.meta("alpha", "idle")
    assert f.call("caller", "metadata-of", "nobody") is None

    # Enumeration: name like X and status equal S; get-next until none.
    found = f.call("caller", "find", "alp", "idle")
    assert _names(found, e) == ["alpha", "alpine"]
    assert sorted(found, key=lambda m: _names([m], e)) == [
        e.meta("alpha", "idle"),
        e.meta("alpine", "idle"),
    ]
    assert f.call("caller", "find", "", "running") == [e.meta("caller", "running")]
    assert _names(f.call("caller", "find", "et", "idle"), e) == ["beta"]
    assert f.call("caller", "find", "alp", "failed") == []
    assert sorted(f.call("caller", "find-names", "alp", "idle")) == ["alpha", "alpine"]

    # generate-idempotency-key is recorded: the replayed call gives the guest the same key.
    key = f.call("caller", "idem-key")
    assert key != {"high-bits": 0, "low-bits": 0}
    f.restart()
    assert f.call("caller", "last-key") == key
    assert f.call("caller", "idem-key") != key

    if e.shape.manages:
        assert f.call("caller", "resolve-component", COMPONENT) == e.component
        assert f.call("caller", "resolve-component", "nothing") is None
        assert f.call("caller", "resolve-id", COMPONENT, "ghost") == e.ident("ghost")
        assert f.call("caller", "resolve-id-strict", COMPONENT, "ghost") is None
        assert f.call("caller", "resolve-id-strict", COMPONENT, "alpha") == e.ident("alpha")

        # Fork alpha at its whole oplog: the copy has its total, then goes its own way.
        cut = _oplog_length(store, e.cid, "alpha")
        f.call("caller", "fork-to", "alpha", "alpha-copy", cut)
        assert f.call("alpha-copy", "add", 1) == 6
        assert f.call("alpha", "add", 0) == 5

        # Revert beta's last invocation (add 1 -> 2): its total is 1 again.
        assert f.call("beta", "add", 1) == 2
        f.call("caller", "revert-last", "beta", 1)
        assert f.call("beta", "add", 0) == 1

    # update (automatic) to version 1: alpine replays onto it and keeps its total.
    f.add_version(v2)
    f.call("caller", "update", "alpine", 1)
    assert f.call("alpine", "add", 0) == 2
    moved = f.call("caller", "metadata-of", "alpine")
    assert moved[e.version_field] == 1
    # A guest's misuse fails its invocation (a trap, so the calling agent is failed, as on
    # Golem) with a message saying what was wrong: no trace, no 5xx; other agents go on.
    # A version the component does not have: accepted, as Golem's executor accepts it;
    # the update fails when alpine applies it, and alpine goes on on version 1.
    f.call("oops-1", "update", "alpine", 7)
    assert f.call("alpine", "add", 0) == 2
    assert f.call("caller", "metadata-of", "alpine")[e.version_field] == 1
    assert "no such agent" in f.fails("oops-2", "update", "ghost", 1)
    # Golem's executor refuses an update to the version the target runs.
    assert "Worker is already at the target version" in f.fails("oops-6", "update", "alpine", 1)
    if e.shape.manages:
        assert "cannot revert itself" in f.fails("oops-3", "revert-last", "oops-3", 1)
        cut = _oplog_length(store, e.cid, "beta")
        assert "entries 1" in f.fails("oops-4", "fork-to", "beta", "beta-copy", cut + 100)
        assert "already exists" in f.fails("oops-5", "fork-to", "beta", "alpha", cut)
        fork_self(f, e)
    assert f.call("caller", "add", 1) == 1


def fork_self(f: Front, e: Expect) -> None:
    """fork of the running agent, in the generation's shape: the call answers original
    here and forked in the copy, which finishes the forked invocation on its own (+1000)
    while the source goes on (+100); both keep their own state, after a restart too."""
    assert f.call("forker", "add", 7) == 7
    if e.shape.phantom_fork:  # 1.3.0, 1.5.0: fork() -> fork-result(fork-details)
        assert f.call("forker", "fork-self") == "original"
        phantom = f.call("forker", "fork-phantom")
        copy = f"forker-{uuid.UUID(int=(phantom['high-bits'] << 64) | phantom['low-bits'])}"
        # The copy was told the same forked-phantom-id.
        assert f.call(copy, "fork-phantom") == phantom
    else:  # 1.1.6, 1.1.7: fork(new-name) -> enum fork-result
        assert f.call("forker", "fork-as", "forker-copy") == "original"
        copy = "forker-copy"
        assert "already exists" in f.fails("oops-7", "fork-as", "alpha")
    assert f.call(copy, "add", 0) == 1007
    assert f.call("forker", "add", 0) == 107
    assert f.call(copy, "add", 1) == 1008
    f.restart()
    assert f.call("forker", "add", 0) == 107
    assert f.call(copy, "add", 0) == 1008
    assert f.call("caller", "metadata-of", copy)["status"] == "idle"


@contextmanager
def _cli_front(tmp_path: Path, wasm: Path) -> Iterator[tuple[CliFront, str]]:
    store = tmp_path / "store"
    cid = add_component(store, wasm, COMPONENT)
    yield CliFront(store, _signatures(wasm, tmp_path)), cid


@contextmanager
def _rest_front(tmp_path: Path, wasm: Path) -> Iterator[tuple[RestFront, str]]:
    store = tmp_path / "store"
    cid = add_component(store, wasm, COMPONENT)
    server = Server(store).start()
    try:
        yield RestFront(server, cid), cid
    finally:
        server.stop()


# The CLI runs one process per call (about a second each on a busy machine): the fast
# tier drives it at the oldest generation, the slow tier at all of them.
CLI_GENERATIONS = [g if g == "0.2.0" else pytest.param(g, marks=pytest.mark.slow) for g in SHAPES]


@pytest.mark.parametrize("generation", CLI_GENERATIONS)
def test_management_through_the_cli(tmp_path: Path, generation: str) -> None:
    wasm = build_fixture(f"management-{generation}")
    with _cli_front(tmp_path, wasm) as (front, cid):
        e = Expect(SHAPES[generation], cid)
        scenario(front, e, tmp_path / "store", _second_version(wasm, tmp_path))


@pytest.mark.parametrize("generation", list(SHAPES))
def test_management_through_rest(tmp_path: Path, generation: str) -> None:
    wasm = build_fixture(f"management-{generation}")
    with _rest_front(tmp_path, wasm) as (front, cid):
        e = Expect(SHAPES[generation], cid)
        scenario(front, e, tmp_path / "store", _second_version(wasm, tmp_path))


# Agent names with the characters of Golem agent ids (quotes, parentheses, brackets).
NAMES = ('counter-agent("a1")', "cart['eu'][2]", "plain")


@pytest.mark.parametrize("way", ["cli", "rest"])
@pytest.mark.parametrize("generation", ["0.2.0", pytest.param("1.1.7", marks=pytest.mark.slow)])
def test_guest_reads_golem_environment(tmp_path: Path, generation: str, way: str) -> None:
    """GOLEM_AGENT_ID / GOLEM_WORKER_NAME are the agent's name (not component/name),
    GOLEM_COMPONENT_ID its component, GOLEM_COMPONENT_VERSION / _REVISION the version it
    was created on; the same after a replay."""
    wasm = build_fixture(f"management-{generation}")
    opened = _cli_front(tmp_path, wasm) if way == "cli" else _rest_front(tmp_path, wasm)
    with opened as (front, cid):
        e = Expect(SHAPES[generation], cid)

        def golem_vars(name: str) -> list[list[str]]:
            env = front.call(name, "env")
            return [list(pair) for pair in env if pair[0].startswith("GOLEM_")]

        seen = {name: golem_vars(name) for name in NAMES}
        for name in NAMES:
            assert seen[name] == e.env(name), name
        front.add_version(_second_version(wasm, tmp_path))
        assert golem_vars("late") == e.env("late", version=1)
        front.restart()
        for name in NAMES:
            assert golem_vars(name) == seen[name], f"{name} after a replay"
