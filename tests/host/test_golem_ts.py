"""A component built on Golem's own TypeScript runtime runs on agent-host, unmodified
(issue "Golem agents: run what golem-rust and golem-ts compile, unmodified", Tests).

The component is npm ``@golemcloud/golem-ts-sdk``'s prebuilt QuickJS runtime
(``wasm/agent_guest.wasm``, 11.5 MB, 51 imported interfaces) with a CounterAgent written
against the SDK's decorators injected into it the way golem-cli does
(tests/fixtures/golem_ts.py, tests/fixtures/jsinject.py, tests/fixtures/ts/counter/).
Calls go through the agent protocol (agent ids such as ``CounterAgent("alice")``,
initialize at creation, methods by name, the CLI's ``invoke``) and, for discovery and a
repeated initialize, through the raw ``golem:agent/guest@1.5.0`` exports.

Slow: compiling the runtime takes 15-40 s once; the compiled code is kept under
build/golem-ts/compiled/ (seeded into each run's data directory) so later runs start it
from the cache in well under a second.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from host.conformance.build import wasm_tools
from host.errors import Conflict, InvalidInput
from host.ids import AgentId
from host.oplog import PromiseCreated
from host.runtime import golem_agent
from host.service import HostService
from tests.fixtures import golem_ts
from tests.fixtures.build import build_fixture
from tests.fixtures.jsinject import InjectError, inject_js
from tests.server_util import clone_store

pytestmark = pytest.mark.slow

GUEST = "golem:agent/guest@1.5.0"
COMPILED = golem_ts.CACHE / "compiled"
# What golem-ts-sdk 1.1.2's runtime imports beyond the agent model and WASI.
EXTRA_INTERFACES = (
    "golem:quota/types@1.5.0",
    "golem:rdbms/postgres@1.5.0",
    "golem:websocket/client@1.5.0",
    "wasi:keyvalue/eventual@0.1.0",
    "wasi:blobstore/container",
)


@pytest.fixture(scope="module")
def counter_wasm() -> Path:
    """The injected component; a failed fetch fails the tests (never a silent skip)."""
    try:
        return golem_ts.build_agent("counter")
    except golem_ts.FetchError as exc:
        pytest.fail(f"cannot fetch Golem's TypeScript SDK: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, counter_wasm: Path) -> tuple[Path, str]:
    """A data directory with the component registered once: (path, component id)."""
    store = tmp_path_factory.mktemp("golem-ts") / "store"
    cache = store / "cache"
    cache.mkdir(parents=True)
    for old in COMPILED.glob("*.cwasm"):  # the host deletes a stale one and recompiles
        shutil.copy2(old, cache / old.name)
    host = HostService(store)
    try:
        component_id = host.add_component(counter_wasm, "counter").id
    finally:
        host.close()
    COMPILED.mkdir(parents=True, exist_ok=True)
    keep = {p.name for p in cache.glob("*.cwasm")}
    for old in COMPILED.glob("*.cwasm"):
        if old.name not in keep:  # an earlier bundle's or engine's code
            old.unlink()
    for name in keep - {p.name for p in COMPILED.glob("*.cwasm")}:
        shutil.copy2(cache / name, COMPILED / name)
    return store, component_id


@pytest.fixture
def data_dir(template: tuple[Path, str], tmp_path: Path) -> Path:
    return clone_store(template[0], tmp_path / "store")


@pytest.fixture
def host(data_dir: Path) -> Iterator[HostService]:
    h = HostService(data_dir)
    try:
        yield h
    finally:
        h.close()


def _agent(host: HostService, template: tuple[Path, str], name: str) -> AgentId:
    return host.agent_id(template[1], name)


def _data(*nodes: str) -> str:
    """A data-value of one component-model element per WAVE wit-node."""
    return "tuple([" + ", ".join(f"component-model({{nodes: [{n}]}})" for n in nodes) + "])"


def _call(host: HostService, agent: AgentId, call: str) -> str:
    inv = host.invoke(agent, call)
    assert inv.state == "done", f"{call}: {inv.state} {inv.error}"
    return inv.result or ""


# -- the fixture itself ------------------------------------------------------------------
def test_the_injected_component_is_valid_and_the_runtime_is_pinned(counter_wasm: Path) -> None:
    runtime = golem_ts.runtime_wasm()
    stamp = (golem_ts.sdk_dir() / ".integrity").read_text()
    assert stamp == golem_ts.SDK_INTEGRITY
    subprocess.run([wasm_tools(), "validate", str(counter_wasm)], check=True)
    data = counter_wasm.read_bytes()
    assert golem_ts.bundle("counter").encode() in data
    assert len(data) - runtime.stat().st_size < len(golem_ts.bundle("counter")) + 64


def test_injecting_into_a_component_without_a_slot_is_a_clear_error() -> None:
    with pytest.raises(InjectError, match="no JS injection marker"):
        inject_js(build_fixture("agent-1.5.0").read_bytes(), "export {}")
    with pytest.raises(InjectError, match="not a WebAssembly component"):
        inject_js(b"\x00asm\x01\x00\x00\x00", "export {}")


# -- registration and the raw guest exports ----------------------------------------------
def test_registers_with_every_import_linked(host: HostService, template: tuple[Path, str]) -> None:
    view = host.component(template[1])
    names = {e.name for e in view.functions}
    for func in ("initialize", "invoke", "get-definition", "discover-agent-types"):
        assert f"{GUEST}.{{{func}}}" in names, names
    for iface in EXTRA_INTERFACES:
        assert golem_agent.known(iface), iface


def test_discovered_at_registration(host: HostService, template: tuple[Path, str]) -> None:
    (counter,) = host.agent_types(template[1])
    assert counter.type_name == "CounterAgent"
    assert [m.name for m in counter.methods] == ["increment", "greeting", "waitForApproval"]
    assert counter.mode == "durable" and counter.http_mount is None


def test_discover_agent_types_raw_export_describes_the_sdk_agent(
    host: HostService, template: tuple[Path, str]
) -> None:
    agent = _agent(host, template, 'CounterAgent("discovery")')
    out = _call(host, agent, f"{GUEST}.{{discover-agent-types}}()")
    assert out.startswith('ok([{type-name: "CounterAgent"'), out
    assert 'source-language: "typescript"' in out
    assert 'input-schema: tuple([("name", component-model({nodes: [{name: none, ' in out
    for method in ("increment", "greeting", "waitForApproval"):
        assert f'{{name: "{method}"' in out
    assert 'description: "Adds by to the count and returns it"' in out  # @description
    assert "mode: durable" in out


def _result(host: HostService, agent: AgentId, call: str) -> Any:
    inv = host.submit(host.agent_call_from_wave(agent, call))
    return host.agent_result(host.store.get_invocation(inv.invocation_id))


def test_initialize_then_invoke_keeps_the_agent_state(
    host: HostService, template: tuple[Path, str]
) -> None:
    alice = _agent(host, template, 'CounterAgent("alice")')
    assert _result(host, alice, "increment(2)").json == 2
    assert _result(host, alice, "increment(3)").wave == "5.0"  # a TypeScript number is f64
    assert _result(host, alice, "greeting()").json == "hello alice, the count is 5"
    functions = [i.function for i in host.store.list_invocations(alice)]
    assert functions == [f"{GUEST}.{{initialize}}"] + [f"{GUEST}.{{invoke}}"] * 3


def test_the_cli_invokes_a_typescript_agent(cli: Any) -> None:
    out = cli("invoke", "counter", 'CounterAgent("erin")', "increment(4)")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.strip() == "4.0"
    out = cli("invoke", "counter", 'CounterAgent("erin")', "greeting()")
    assert out.stdout.strip() == '"hello erin, the count is 4"'


def test_a_new_host_replays_the_agent_to_its_state(
    data_dir: Path, template: tuple[Path, str]
) -> None:
    host = HostService(data_dir)
    try:
        bob = _agent(host, template, 'CounterAgent("bob")')
        assert _result(host, bob, "increment(7)").json == 7
    finally:
        host.close()
    host = HostService(data_dir)  # no instance survives: QuickJS is rebuilt by replay
    try:
        assert _result(host, bob, "increment(1)").json == 8
    finally:
        host.close()


def test_a_promise_suspends_the_agent_and_its_completion_resumes_it(
    data_dir: Path, template: tuple[Path, str]
) -> None:
    host = HostService(data_dir)
    try:
        carol = _agent(host, template, 'CounterAgent("carol")')
        inv = host.submit(host.agent_call_from_wave(carol, "waitForApproval()"))
        assert inv.state == "started", inv
        assert host.agent(carol).record.status == "suspended"
        oplog = host.store.read_oplog(carol)
        created = [e.function for e in oplog if isinstance(e, PromiseCreated)]
        assert created == ["golem:api/host@1.5.0.create-promise"]
        (promise,) = host.list_promises(carol)
    finally:
        host.close()
    host = HostService(data_dir)  # completed from another process's host
    try:
        assert host.complete_promise(promise.id, b"approved") is True
        done = host.agent_result(host.store.get_invocation(inv.invocation_id))
        assert done is not None and done.json == "carol: approved"
        assert _result(host, carol, "greeting()").json == "hello carol, the count is 0"
    finally:
        host.close()


def test_a_second_initialize_is_the_sdks_agent_error(
    host: HostService, template: tuple[Path, str]
) -> None:
    """The host already initialized the agent: a raw second initialize is refused before
    it reaches the guest (nothing queued, Golem's words in the message), and the agent
    goes on as it was."""
    dan = _agent(host, template, 'CounterAgent("dan")')
    assert _result(host, dan, "increment(1)").json == 1
    args = _data('prim-string("dan")')
    raw = f'{GUEST}.{{initialize}}("CounterAgent", {args}, anonymous)'
    with pytest.raises(Conflict, match="Agent is already initialized in this container"):
        host.invoke(dan, raw)
    assert _result(host, dan, "increment(1)").json == 2


def test_an_unknown_agent_type_is_refused_before_the_guest(
    host: HostService, template: tuple[Path, str]
) -> None:
    with pytest.raises(InvalidInput, match="no agent type"):
        _agent(host, template, 'Nope("x")')
