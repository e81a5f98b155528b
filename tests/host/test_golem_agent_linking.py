"""Golem 1.5's agent interfaces link (issue "Golem agents: run what golem-rust and
golem-ts compile, unmodified", item 1): a component importing golem:api/host@1.5.0,
golem:agent/host@1.5.0, golem:core/types@1.5.0, wasi:logging and WASI at a later
0.2 patch version registers and runs; what agent-host does not serve yet fails the
*call* that reaches it, naming the function, never the registration.

The WAT fixture is tests/fixtures/wat/agent-1.5.0; the every-function check builds a
dummy component (``wasm-tools component embed --dummy``) against the wit/ copies.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import wasmtime
from wasmtime.component import Component, ComponentInstanceType, FuncType

from host.conformance.build import wasm_tools
from host.ids import AgentId, PromiseId
from host.oplog import HostCall, PromiseCreated
from host.runtime import golem_agent, linking
from host.service import HostService
from host.witpkg import WitIndex, lay_out
from tests.fixtures.build import WIT_DIR, build_fixture

FIXTURE = "agent-1.5.0"


@pytest.fixture
def component_id(host: HostService) -> str:
    return host.add_component(build_fixture(FIXTURE)).id


def _agent(host: HostService, component_id: str, name: str) -> AgentId:
    agent, created = host.create_agent(component_id, name)
    assert created
    return agent


def _done(host: HostService, agent: AgentId, call: str) -> str | None:
    inv = host.invoke(agent, call)
    assert inv.state == "done", f"{call}: {inv.state} {inv.error}"
    return inv.result


def test_registers_and_runs_a_function_that_calls_nothing(
    host: HostService, component_id: str
) -> None:
    alice = _agent(host, component_id, "alice")
    assert _done(host, alice, "ok()") == "42"


def test_wasi_at_patch_version_0_2_9_is_served(host: HostService, component_id: str) -> None:
    alice = _agent(host, component_id, "alice")
    value = int(_done(host, alice, "random-u64()") or "")
    assert 0 <= value < 1 << 64
    calls = [e for e in host.store.read_oplog(alice) if isinstance(e, HostCall)]
    assert [c.function for c in calls] == ["wasi:random/random@0.2.9.get-random-u64"]


@pytest.mark.parametrize("patch", range(10))
def test_every_wasi_0_2_patch_version_is_known(patch: int) -> None:
    for iface in ("wasi:io/poll", "wasi:clocks/monotonic-clock", "wasi:cli/stdout"):
        assert linking._interface_known(f"{iface}@0.2.{patch}")


def test_log_writes_to_stderr_once_and_replay_does_not_repeat_it(data_dir: Path) -> None:
    seen: list[tuple[str, bytes]] = []
    host = HostService(data_dir, output=lambda agent, stream, data: seen.append((stream, data)))
    try:
        cid = host.add_component(build_fixture(FIXTURE)).id
        alice = _agent(host, cid, "alice")
        _done(host, alice, 'log("hello")')
        assert seen == [("stderr", b"[info] fixture: hello\n")]
        logs = [e for e in host.store.read_oplog(alice) if isinstance(e, HostCall)]
        assert [c.function for c in logs] == ["wasi:logging/logging.log"]
    finally:
        host.close()
    seen.clear()
    # A fresh host replays the first log from the oplog, then runs the second live.
    host = HostService(data_dir, output=lambda agent, stream, data: seen.append((stream, data)))
    try:
        _done(host, alice, 'log("again")')
        assert seen == [("stderr", b"[info] fixture: again\n")]
    finally:
        host.close()


def test_core_uuid_functions(host: HostService, component_id: str) -> None:
    alice = _agent(host, component_id, "alice")
    text = str(uuid.UUID(int=(1 << 127) | 12345))
    assert _done(host, alice, f'uuid-round-trip("{text.upper()}")') == f'"{text}"'
    bad = _done(host, alice, 'uuid-round-trip("nope")') or ""
    assert bad.startswith('"invalid uuid'), bad


def test_get_all_agent_types_is_served(host: HostService, component_id: str) -> None:
    # This plain component declares no agent types, and none is registered here.
    agent = _agent(host, component_id, "agent-types")
    inv = host.invoke(agent, "agent-types()")
    assert inv.state == "done" and inv.result == "0", inv


def test_fork_is_served(host: HostService, component_id: str) -> None:
    """golem:api/host@1.5.0 fork (once refused as not available): the original gets case
    0, the copy (the agent's name with the phantom id) finishes the call with case 1."""
    agent = _agent(host, component_id, "forking")
    assert _done(host, agent, "fork()") == "0"
    (copy,) = [a.agent for a in host.list_agents(component_id) if a.agent != agent]
    assert copy.name.startswith("forking-")
    (inv,) = host.store.list_invocations(copy)
    assert inv.state == "done" and inv.result == "1", inv


def test_promise_round_trip_through_host_1_5_0(host: HostService, component_id: str) -> None:
    alice = _agent(host, component_id, "alice")
    idx = int(_done(host, alice, "create()") or "")
    entry = host.store.read_oplog(alice)[idx - 1]
    assert isinstance(entry, PromiseCreated)
    assert entry.function == "golem:api/host@1.5.0.create-promise"
    inv = host.invoke(alice, f"await({idx})")
    assert inv.state == "started"
    assert host.store.get_agent(alice).waiting_promises == (idx,)
    assert host.complete_promise(PromiseId(alice, idx), b"hi") is True
    done = host.store.get_invocation(inv.invocation_id)
    assert (done.state, done.result) == ("done", "[104, 105]")
    # completed by the guest itself: complete-promise is served too
    second = int(_done(host, alice, "create()") or "")
    assert _done(host, alice, f"complete({second}, [1, 2])") == "true"
    assert _done(host, alice, f"await({second})") == "[1, 2]"
    assert int(_done(host, alice, "oplog-index()") or "") > second


def test_agent_model_interfaces_are_known_at_their_versions() -> None:
    for iface in (
        "golem:api/host@1.5.0",
        "golem:api/oplog@1.5.0",
        "golem:core/types@1.5.0",
        "golem:agent/host@1.5.0",
        "golem:agent/host",  # Golem 1.4: unversioned
        "golem:agent/common",
        "golem:durability/durability@1.5.0",
        "golem:rpc/types@0.2.2",
        "wasi:logging/logging",
        "wasi:config/store@0.2.0-draft",
    ):
        assert golem_agent.known(iface), iface
    for iface in ("golem:agent/host@1.6.0", "golem:api/oplog@1.3.0", "golem:api/host@1.3.0"):
        assert not golem_agent.known(iface), iface


_ALL = """package check:all;
world all {
  import golem:api/host@1.5.0;
  import golem:api/oplog@1.5.0;
  import golem:api/context@1.5.0;
  import golem:api/retry@1.5.0;
  import golem:durability/durability@1.5.0;
  import golem:agent/host@1.5.0;
  import wasi:logging/logging;
  import wasi:config/store@0.2.0-draft;
  export golem:agent/guest@1.5.0;
}
"""


_ALL_1_4 = """package check:all;
world all {
  import golem:api/host@1.3.0;
  import golem:rpc/types@0.2.2;
  import golem:agent/host;
  import wasi:logging/logging;
  export golem:agent/guest;
}
"""


def _link_every_function(tmp_path: Path, world_text: str) -> set[str]:
    """Build a --dummy component importing every function of ``world_text``, link and
    instantiate it; the functions it imports."""
    world = tmp_path / "world.wit"
    world.write_text(world_text)
    wit = lay_out(world, WitIndex(WIT_DIR).resolve(world, "test"), tmp_path / "wit")
    tool = wasm_tools()
    core, comp = tmp_path / "core.wasm", tmp_path / "all.wasm"
    subprocess.run(
        [tool, "component", "embed", "--dummy", str(wit), "--world", "all", "-o", str(core)],
        check=True,
    )
    subprocess.run([tool, "component", "new", str(core), "-o", str(comp)], check=True)
    engine = wasmtime.Engine()
    component = Component.from_file(engine, str(comp))
    imports = component.type.imports(engine)
    funcs = set()
    for name, ext in imports.items():
        assert isinstance(ext.ty, ComponentInstanceType), name
        items = ext.ty.exports(engine)
        funcs |= {f"{name}.{f}" for f, item in items.items() if isinstance(item.ty, FuncType)}
    linker = linking.build_linker(engine, component)  # no InvalidComponent
    linker.instantiate(wasmtime.Store(engine), component)
    return funcs


def test_every_function_of_the_1_5_interfaces_links(tmp_path: Path) -> None:
    funcs = _link_every_function(tmp_path, _ALL)
    assert "golem:agent/host@1.5.0.make-agent-id" in funcs
    assert len(funcs) >= 80


def test_every_function_of_the_1_4_interfaces_links(tmp_path: Path) -> None:
    """Golem 1.4's agent imports (unversioned golem:agent, golem:rpc/types@0.2.2 in full
    with wasm-rpc) link; a Golem 1.4 Rust agent was refused at registration before."""
    funcs = _link_every_function(tmp_path, _ALL_1_4)
    assert "golem:agent/host.parse-agent-id" in funcs
    assert "golem:rpc/types@0.2.2.[method]wasm-rpc.invoke-and-await" in funcs
    assert "golem:rpc/types@0.2.2.[method]future-invoke-result.get" in funcs
    assert "golem:api/host@1.3.0.create-promise" in funcs
