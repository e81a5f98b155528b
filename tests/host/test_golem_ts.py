"""A component built on Golem's own TypeScript runtime runs on agent-host, unmodified
(issue "Golem agents: run what golem-rust and golem-ts compile, unmodified", Tests).

The component is npm ``@golemcloud/golem-ts-sdk``'s prebuilt QuickJS runtime
(``wasm/agent_guest.wasm``, 11.5 MB, 51 imported interfaces) with a CounterAgent written
against the SDK's decorators injected into it the way golem-cli does
(tests/fixtures/golem_ts.py, tests/fixtures/jsinject.py, tests/fixtures/ts/counter/).
Calls go through the raw ``golem:agent/guest@1.5.0`` exports; the agent name starts with
the agent type's name because the SDK checks that ``GOLEM_AGENT_ID`` does.

Slow: compiling the runtime takes 15-40 s once; the compiled code is kept under
build/golem-ts/compiled/ (seeded into each run's data directory) so later runs start it
from the cache in well under a second.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from host.conformance.build import wasm_tools
from host.ids import AgentId, PromiseId
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


def _initialize(host: HostService, agent: AgentId, type_name: str, *nodes: str) -> str:
    return _call(host, agent, f'{GUEST}.{{initialize}}("{type_name}", {_data(*nodes)}, anonymous)')


def _invoke(host: HostService, agent: AgentId, method: str, *nodes: str) -> str:
    return _call(host, agent, f'{GUEST}.{{invoke}}("{method}", {_data(*nodes)}, anonymous)')


def _returned(*nodes: str) -> str:
    """How agent-host prints invoke's ok result holding these nodes."""
    return f"ok({_data(*nodes)})"


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


def test_discover_agent_types_describes_the_sdk_agent(
    host: HostService, template: tuple[Path, str]
) -> None:
    out = _call(host, _agent(host, template, "discovery"), f"{GUEST}.{{discover-agent-types}}()")
    assert out.startswith('ok([{type-name: "CounterAgent"'), out
    assert 'source-language: "typescript"' in out
    assert 'input-schema: tuple([("name", component-model({nodes: [{name: none, ' in out
    for method in ("increment", "greeting", "waitForApproval"):
        assert f'{{name: "{method}"' in out
    assert 'description: "Adds by to the count and returns it"' in out  # @description
    assert "mode: durable" in out


def test_initialize_then_invoke_keeps_the_agent_state(
    host: HostService, template: tuple[Path, str]
) -> None:
    alice = _agent(host, template, "CounterAgent-alice")
    assert _initialize(host, alice, "CounterAgent", 'prim-string("alice")') == "ok"
    assert _invoke(host, alice, "increment", "prim-float64(2.0)") == _returned("prim-float64(2.0)")
    assert _invoke(host, alice, "increment", "prim-float64(3.0)") == _returned("prim-float64(5.0)")
    assert _invoke(host, alice, "greeting") == _returned(
        'prim-string("hello alice, the count is 5")'
    )


def test_a_new_host_replays_the_agent_to_its_state(
    data_dir: Path, template: tuple[Path, str]
) -> None:
    host = HostService(data_dir)
    try:
        bob = _agent(host, template, "CounterAgent-bob")
        _initialize(host, bob, "CounterAgent", 'prim-string("bob")')
        _invoke(host, bob, "increment", "prim-float64(7.0)")
    finally:
        host.close()
    host = HostService(data_dir)  # no instance survives: QuickJS is rebuilt by replay
    try:
        assert _invoke(host, bob, "increment", "prim-float64(1.0)") == _returned(
            "prim-float64(8.0)"
        )
    finally:
        host.close()


def test_a_promise_suspends_the_agent_and_its_completion_resumes_it(
    data_dir: Path, template: tuple[Path, str]
) -> None:
    host = HostService(data_dir)
    try:
        carol = _agent(host, template, "CounterAgent-carol")
        _initialize(host, carol, "CounterAgent", 'prim-string("carol")')
        inv = host.invoke(carol, f'{GUEST}.{{invoke}}("waitForApproval", {_data()}, anonymous)')
        assert inv.state == "started", inv
        assert host.agent(carol).record.status == "suspended"
        oplog = host.store.read_oplog(carol)
        created = [(i, e) for i, e in enumerate(oplog, 1) if isinstance(e, PromiseCreated)]
        assert [e.function for _, e in created] == ["golem:api/host@1.5.0.create-promise"]
        promise = PromiseId(carol, created[0][0])
    finally:
        host.close()
    host = HostService(data_dir)  # completed from another process's host
    try:
        assert host.complete_promise(promise, b"approved") is True
        done = host.store.get_invocation(inv.invocation_id)
        assert (done.state, done.result) == ("done", _returned('prim-string("carol: approved")'))
        assert _invoke(host, carol, "greeting") == _returned(
            'prim-string("hello carol, the count is 0")'
        )
    finally:
        host.close()


@pytest.mark.parametrize(
    ("name", "type_name", "message"),
    [
        ("CounterAgent-dan", "Nope", "Invalid agent'Nope'. Valid agents are CounterAgent"),
        ("dan", "CounterAgent", 'to start with \\"CounterAgent\\", got \\"dan\\"'),
    ],
)
def test_a_bad_initialize_is_the_sdks_agent_error(
    host: HostService, template: tuple[Path, str], name: str, type_name: str, message: str
) -> None:
    agent = _agent(host, template, name)
    out = _initialize(host, agent, type_name, 'prim-string("dan")')
    assert out.startswith("err(custom-error("), out
    assert message in out, out
