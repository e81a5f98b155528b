"""Golem's agent-management host functions (golem_workers.py) and the environment.

Registration: a component importing *every* function of each generation's
golem:api/host links (wasm-tools' ``--dummy`` core module imports the whole world).
Behaviour: the host functions run on a real Session over a HostService's store with
the types wasmtime reads from those generations' WIT.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime.component import Component, ComponentInstanceType, FuncType

from host import oplog
from host.conformance.build import wasm_tools
from host.ids import AgentId, PromiseId
from host.runtime import golem, golem_agent, wasi
from host.runtime.golem_workers import AgentEnumeration
from host.runtime.session import Session
from host.runtime.typeconv import func_sig
from host.service import HostService
from host.values import Case, Some
from host.values.types import FuncSig
from host.witpkg import WitIndex, lay_out
from tests.fixtures.build import build_fixture

GENERATIONS = ("0.2.0", "1.1.0", "1.1.6", "1.1.7", "1.3.0")
REPO = Path(__file__).resolve().parents[2]


def _whole_host(generation: str, out: Path) -> Path:
    """A component importing every function of golem:api/host@<generation>."""
    world = out / "world.wit"
    world.write_text(
        "package agent-host:whole;\n"
        f"world whole {{ import golem:api/host@{generation}; export run: func(); }}\n"
    )
    packages = WitIndex(REPO / "wit").resolve(world, "whole-host test")
    witdir = lay_out(world, packages, out / "wit")
    core, wasm = out / "core.wasm", out / f"whole-{generation}.wasm"
    tool = wasm_tools()
    subprocess.run(
        [tool, "component", "embed", "--dummy", str(witdir), "--world", "whole", "-o", str(core)],
        check=True,
    )
    subprocess.run([tool, "component", "new", str(core), "-o", str(wasm)], check=True)
    return wasm


_COMPONENTS: dict[str, Path] = {}


def _component(generation: str) -> Path:
    if generation not in _COMPONENTS:
        _COMPONENTS[generation] = _whole_host(generation, Path(tempfile.mkdtemp()))
    return _COMPONENTS[generation]


def _sigs(generation: str) -> dict[str, FuncSig]:
    """Every golem:api/host function of the generation, as the linker sees it."""
    engine = wasmtime.Engine()
    component = Component.from_file(engine, str(_component(generation)))
    imports = component.type.imports(engine)
    named: list[tuple[str, Any]] = []
    for extern in imports.values():
        if isinstance(extern.ty, ComponentInstanceType):
            for rname, rext in extern.ty.exports(engine).items():
                if isinstance(rext.ty, wasmtime.component.ResourceType):
                    named.append((rname, rext.ty))
    iface = f"golem:api/host@{generation}"
    ty = imports[iface].ty
    assert isinstance(ty, ComponentInstanceType)
    return {
        n: func_sig(f"{iface}.{n}", e.ty, named)
        for n, e in ty.exports(engine).items()
        if isinstance(e.ty, FuncType)
    }


@pytest.mark.parametrize("generation", GENERATIONS)
def test_every_host_function_links(host: HostService, generation: str) -> None:
    sigs = _sigs(generation)
    noun = "agent" if generation in ("1.1.7", "1.3.0") else "worker"
    for name in ("get-self-metadata", f"get-{noun}-metadata", f"update-{noun}"):
        assert name in sigs
    assert all(name in golem.FUNCS for name in sigs), set(sigs) - set(golem.FUNCS)
    record = host.add_component(_component(generation), f"whole-{generation.replace('.', '-')}")
    assert record.version == 0  # the first upload, as Golem numbers it


def _another_version(wasm: Path) -> bytes:
    """The same code with a custom section appended: other bytes, so a new version."""
    return wasm.read_bytes() + b"\x00\x05\x04vers"


class Agents:
    """A HostService with a promises fixture registered twice (versions 0 and 1)."""

    def __init__(self, host: HostService, generation: str) -> None:
        self.host = host
        self.sigs = _sigs(generation)
        fixture = build_fixture(f"promises-{generation}")
        self.component = host.add_component(fixture, "counter")
        host.add_component_bytes(_another_version(fixture), "counter")  # version 1
        self.noun = "agent" if generation in ("1.1.7", "1.3.0") else "worker"

    def session(self, agent: AgentId) -> Session:
        return Session(agent, self.host.store, self.host.store.read_oplog(agent))

    def call(self, agent: AgentId, name: str, *args: Any) -> Any:
        sig = self.sigs[name]
        return golem.FUNCS[name](sig).impl(self.session(agent), *args)

    def ident(self, agent: AgentId) -> dict[str, Any]:
        high, low = agent.uuid_halves
        return {
            "component-id": {"uuid": {"high-bits": high, "low-bits": low}},
            ("agent-id" if self.noun == "agent" else "worker-name"): agent.name,
        }


@pytest.fixture(params=("1.1.6", "1.3.0"), ids=lambda g: f"host@{g}")
def agents(request: pytest.FixtureRequest, host: HostService) -> Agents:
    return Agents(host, request.param)


def test_metadata(agents: Agents) -> None:
    a, _ = agents.host.create_agent("counter", "a", args=("x",), env=[("K", "v")])
    meta = agents.call(a, "get-self-metadata")
    version_field = "component-revision" if agents.noun == "agent" else "component-version"
    assert meta[f"{agents.noun}-id"] == agents.ident(a)
    assert meta["args"] == ["x"]
    # Golem's metadata env is the agent's own variables: GOLEM_* are get-environment's.
    assert [tuple(pair) for pair in meta["env"]] == [("K", "v")]
    assert meta["status"] == "idle"
    assert meta[version_field] == 1 and meta["retry-count"] == 0
    other = agents.call(a, f"get-{agents.noun}-metadata", agents.ident(a))
    assert other == Some(meta)
    missing = AgentId(a.component_id, "nobody")
    assert agents.call(a, f"get-{agents.noun}-metadata", agents.ident(missing)) is None


def _filter(*groups: list[Case]) -> Some:
    value: Any = {"filters": [{"filters": g} for g in groups]}
    return Some(value)


def test_enumeration_filters(agents: Agents) -> None:
    host = agents.host
    a, _ = host.create_agent("counter", "alpha", env=[("TEAM", "red")])
    b, _ = host.create_agent("counter", "beta", env=[("TEAM", "blue")])
    c, _ = host.create_agent("counter", "alpine")
    n = agents.noun
    component = {"uuid": agents.ident(a)["component-id"]["uuid"]}

    def names(filter_: Any) -> list[str]:
        ctor = golem.FUNCS[f"[constructor]get-{n}s"](agents.sigs[f"[constructor]get-{n}s"])
        session = agents.session(a)
        enum = ctor.impl(session, component, filter_, True)
        assert isinstance(enum, AgentEnumeration)
        get_next = golem.FUNCS[f"[method]get-{n}s.get-next"](
            agents.sigs[f"[method]get-{n}s.get-next"]
        )
        batch = get_next.impl(session, enum)
        assert get_next.impl(session, enum) is None  # one batch, then the end
        return sorted(
            m[f"{n}-id"]["agent-id" if n == "agent" else "worker-name"] for m in batch.value
        )

    def name(cmp: str, v: str) -> Case:
        return Case("name", {"comparator": cmp, "value": v})

    assert names(None) == ["alpha", "alpine", "beta"]
    assert names(_filter([name("starts-with", "alp")])) == ["alpha", "alpine"]
    assert names(_filter([name("like", "et")])) == ["beta"]
    assert names(_filter([name("not-equal", "beta")])) == ["alpha", "alpine"]
    env = Case("env", {"name": "TEAM", "comparator": "equal", "value": "red"})
    assert names(_filter([env])) == ["alpha"]
    # AND inside a group, OR between groups.
    assert names(_filter([name("starts-with", "alp"), env])) == ["alpha"]
    assert names(_filter([env], [name("equal", "beta")])) == ["alpha", "beta"]
    version = Case("version", {"comparator": "greater-equal", "value": 1})
    assert names(_filter([version])) == ["alpha", "alpine", "beta"]
    first = Case("version", {"comparator": "equal", "value": 0})
    assert names(_filter([first])) == []
    status = Case("status", {"comparator": "equal", "value": "failed"})
    assert names(_filter([status])) == []
    created = host.store.get_agent(b).created_at
    after = Case("created-at", {"comparator": "greater-equal", "value": created})
    assert names(_filter([after])) == ["alpine", "beta"]
    assert c


def test_update_moves_the_version(agents: Agents) -> None:
    """update-worker/-agent of another agent records the request in its oplog; the
    target applies it when it runs next (here: idle, so at once) and records the
    outcome."""
    host = agents.host
    a, _ = host.create_agent("counter", "a")
    b, _ = host.create_agent("counter", "b")
    assert host.agent(a).component_version == 1
    agents.call(b, f"update-{agents.noun}", agents.ident(a), 0, "automatic")
    request = host.store.read_oplog(a)[-1]
    assert isinstance(request, oplog.PendingUpdate) and request.target_version == 0
    assert host.agent(a).component_version == 1  # requested, not applied yet
    host.run_agent(a)
    done = host.store.read_oplog(a)[-1]
    assert isinstance(done, oplog.SuccessfulUpdate) and done.target_version == 0
    assert host.agent(a).component_version == 0
    # A version the component does not have: accepted, as Golem's executor accepts it;
    # the target records the update as failed when it applies it, and stays on 0.
    agents.call(b, f"update-{agents.noun}", agents.ident(a), 7, "automatic")
    host.run_agent(a)
    failed = host.store.read_oplog(a)[-1]
    assert isinstance(failed, oplog.FailedUpdate) and failed.target_version == 7
    assert "no version 7" in (failed.details or "")
    assert host.agent(a).component_version == 0
    ghost = AgentId(a.component_id, "ghost")
    with pytest.raises(golem.GuestError, match="no such agent"):
        agents.call(b, f"update-{agents.noun}", agents.ident(ghost), 0, "automatic")
    # Golem's executor refuses an update to the version the target runs; nothing recorded.
    length = host.store.oplog_length(a)
    with pytest.raises(golem.GuestError, match="Worker is already at the target version"):
        agents.call(b, f"update-{agents.noun}", agents.ident(a), 0, "automatic")
    assert host.store.oplog_length(a) == length


def test_fork_copies_the_oplog(agents: Agents) -> None:
    host = agents.host
    a, _ = host.create_agent("counter", "a")
    copied = int(host.invoke(a, "create()").result or "")
    length = host.store.oplog_length(a)
    assert host.invoke(a, "create()").state == "done"
    b = AgentId(a.component_id, "b")
    agents.call(a, f"fork-{agents.noun}", agents.ident(a), agents.ident(b), length)
    copy, source = host.store.read_oplog(b), host.store.read_oplog(a)[:length]
    assert copy[1:] == source[1:]
    # Its creation entry is the source's but for the variables naming the agent.
    assert isinstance(copy[0], oplog.AgentCreated) and isinstance(source[0], oplog.AgentCreated)
    assert dict(copy[0].env)["GOLEM_AGENT_ID"] == "b"
    assert dict(copy[0].env)["GOLEM_WORKER_NAME"] == "b"
    assert {k: v for k, v in copy[0].env if not k.endswith(("_ID", "_NAME"))} == {
        k: v for k, v in source[0].env if not k.endswith(("_ID", "_NAME"))
    }
    # The fork runs on from the copy: its next invocation starts at length + 1 and the
    # promise it creates is the entry after that.
    assert host.invoke(b, "create()").result == str(length + 2)
    # The promise the copied oplog created is the fork's own: it completes and awaits it,
    # and the source's promise of the same index stays pending.
    assert host.invoke(b, f"complete({copied}, [7, 8])").result == "true"
    assert host.invoke(b, f"await({copied})").result == "[7, 8]"
    assert host.store.get_promise(PromiseId(a, copied)).completed is False
    assert [p.id.oplog_idx for p in host.list_promises(b, include_completed=True)] == [
        copied,
        length + 2,
    ]
    with pytest.raises(golem.GuestError, match="entries 1"):
        c = AgentId(a.component_id, "c")
        agents.call(a, f"fork-{agents.noun}", agents.ident(a), agents.ident(c), 10_000)


def test_resolve(agents: Agents) -> None:
    host = agents.host
    a, _ = host.create_agent("counter", "a")
    n = agents.noun
    cid = agents.ident(a)["component-id"]
    assert agents.call(a, "resolve-component-id", "counter") == Some(cid)
    assert agents.call(a, "resolve-component-id", "nothing") is None
    assert agents.call(a, f"resolve-{n}-id", "counter", "a") == Some(agents.ident(a))
    ghost = AgentId(a.component_id, "ghost")
    assert agents.call(a, f"resolve-{n}-id", "counter", "ghost") == Some(agents.ident(ghost))
    assert agents.call(a, f"resolve-{n}-id-strict", "counter", "ghost") is None
    assert agents.call(a, f"resolve-{n}-id-strict", "counter", "a") == Some(agents.ident(a))


def test_revert_drops_another_agents_last_invocations(agents: Agents) -> None:
    host, n = agents.host, agents.noun
    a, _ = host.create_agent("counter", "a")
    b, _ = host.create_agent("counter", "b")
    assert host.invoke(b, "create()").state == "done"
    kept = host.store.oplog_length(b)
    assert host.invoke(b, "create()").state == "done"
    agents.call(a, f"revert-{n}", agents.ident(b), Case("revert-last-invocations", 1))
    jump = host.store.read_oplog(b)[-1]
    assert isinstance(jump, oplog.Jump) and jump.start == kept + 1
    # b goes on from the kept part: the dropped invocation's promise id is given again.
    assert host.invoke(b, "create()").state == "done"
    with pytest.raises(golem.GuestError, match="cannot revert .*b"):
        agents.call(a, f"revert-{n}", agents.ident(b), Case("revert-to-oplog-index", 2))
    with pytest.raises(golem.GuestError, match="cannot revert itself"):
        agents.call(a, f"revert-{n}", agents.ident(a), Case("revert-last-invocations", 1))


def test_environment_as_golem_gives_it(host: HostService) -> None:
    host.add_component(build_fixture("promises-1.3.0"), "env")
    record = host.add_component_bytes(_another_version(build_fixture("promises-1.3.0")), "env")
    agent, _ = host.create_agent("env", "worker-7")
    created = host.store.read_oplog(agent, 1, 1)[0]
    assert isinstance(created, oplog.AgentCreated)
    env = dict(created.env)
    assert env["GOLEM_AGENT_ID"] == env["GOLEM_WORKER_NAME"] == "worker-7"
    assert env["GOLEM_COMPONENT_ID"] == record.id
    assert env["GOLEM_COMPONENT_VERSION"] == env["GOLEM_COMPONENT_REVISION"] == "1"


def test_stdin_read_fails() -> None:
    read = wasi.FUNCS["wasi:io/streams.[method]input-stream.read"]
    with pytest.raises(wasi.NoStdin, match="agents have no standard input"):
        read.impl(None, wasi.InputStream(), 10)


def test_host_1_5_0_serves_agent_management(host: HostService) -> None:
    """golem:api/host@1.5.0's metadata, enumeration, resolve and revert: the same
    functions as 1.3.0, each record in 1.5.0's shape (config, environment-id)."""
    sigs = _sigs("1.5.0")
    host.add_component(build_fixture("promises-1.3.0"), "counter")
    a, _ = host.create_agent("counter", "a")
    b, _ = host.create_agent("counter", "b")
    assert host.invoke(b, "create()").state == "done"
    kept = host.store.oplog_length(b)
    assert host.invoke(b, "create()").state == "done"

    def call(name: str, *args: Any) -> Any:
        assert name in golem_agent.HOST_FUNCS
        session = Session(a, host.store, host.store.read_oplog(a))
        return golem.FUNCS[name](sigs[name]).impl(session, *args)

    me = call("get-self-metadata")
    assert me["agent-id"]["agent-id"] == "a" and me["status"] == "idle"
    assert me["config"] == [] and me["retry-count"] == 0
    assert me["environment-id"] == {"uuid": {"high-bits": 0, "low-bits": 0}}
    ident = call("resolve-agent-id-strict", "counter", "b")
    assert isinstance(ident, Some)
    other = call("get-agent-metadata", ident.value)
    assert isinstance(other, Some)
    found: Any = other.value
    assert found["agent-id"]["agent-id"] == "b"
    call("revert-agent", ident.value, Case("revert-to-oplog-index", kept))
    jump = host.store.read_oplog(b)[-1]
    assert isinstance(jump, oplog.Jump) and jump.start == kept + 1
