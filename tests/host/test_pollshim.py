"""The poll shim (host/runtime/pollshim.py): a component importing wasi:io/poll.poll is
wrapped at registration so that poll over several pollables reaches the host one
borrow per call (wasmtime 50 traps on two borrows in one Python host call)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import wasmtime
import wasmtime.component as wc

from host.ids import PromiseId
from host.oplog import HostCall
from host.runtime import pollshim
from host.service import HostService
from tests.fixtures.build import build_fixture, build_python_fixture


@pytest.fixture
def host(tmp_path: Path):
    h = HostService(tmp_path / "store")
    yield h
    h.close()


def _names(engine: wasmtime.Engine, data: bytes) -> tuple[list[str], list[str]]:
    ty = wc.Component(engine, data).type
    return list(ty.imports(engine)), list(ty.exports(engine))


def test_wrapping_keeps_the_guest_interface_and_adds_the_helper(tmp_path: Path) -> None:
    data = build_fixture("durable-1.3.0").read_bytes()
    wrapped = pollshim.wrap(data)
    assert wrapped is not None
    out = tmp_path / "wrapped.wasm"
    out.write_bytes(wrapped)
    subprocess.run([pollshim._wasm_tools(), "validate", str(out)], check=True)
    engine = wasmtime.Engine()
    imports, exports = _names(engine, data)
    w_imports, w_exports = _names(engine, wrapped)
    assert w_imports == [*imports, pollshim.HELPER]
    assert w_exports == exports
    # The guest is nested unchanged.
    assert data in wrapped
    # Wrapping is deterministic: the same upload registers as the same component.
    assert pollshim.wrap(data) == wrapped


def test_components_without_poll_or_not_components_are_kept() -> None:
    data = build_fixture("promises-0.2.0").read_bytes()
    assert pollshim.with_poll_shim(data) == data
    truncated = b"\0asm\x0d\x00\x01\x00\x07\xff"
    assert pollshim.with_poll_shim(truncated) == truncated
    assert pollshim.with_poll_shim(b"not wasm") == b"not wasm"


@pytest.mark.slow  # compiles the componentize-py gather guest (10-30 s here)
def test_a_python_guest_polls_two_promises_at_once(host: HostService) -> None:
    host.add_component(build_python_fixture("gather"), name="gather")
    agent, _ = host.create_agent("gather", "g")
    a = int(host.invoke(agent, "create()").result or "0")
    b = int(host.invoke(agent, "create()").result or "0")
    inv = host.invoke(agent, f"await-both({a}, {b})")
    record = host.store.get_agent(agent)
    assert inv.state == "started" and record.status == "suspended"
    assert record.waiting_promises == (a, b)  # the host saw both pollables in one wait
    # b first: one poll over both answers [1]; then a alone.
    host.complete_promise(PromiseId(agent, b), b"B")
    assert host.store.get_agent(agent).waiting_promises == (a,)
    host.complete_promise(PromiseId(agent, a), b"A")
    waits = [
        e
        for e in host.store.read_oplog(agent)
        if isinstance(e, HostCall) and e.function == f"{pollshim.HELPER}.wait"
    ]
    # Only waits that returned are recorded (a suspending one is not).
    assert [(w.request, w.response) for w in waits] == [([2], [1]), ([1], [0])]
    done = host.store.get_invocation(inv.invocation_id)
    assert done.state == "done"
    assert done.result == '["A@1", "B@2"]'


@pytest.mark.slow  # compiles the componentize-py gather guest (10-30 s here)
def test_both_ready_are_reported_by_one_poll(host: HostService) -> None:
    host.add_component(build_python_fixture("gather"), name="gather")
    agent, _ = host.create_agent("gather", "h")
    a = int(host.invoke(agent, "create()").result or "0")
    b = int(host.invoke(agent, "create()").result or "0")
    host.complete_promise(PromiseId(agent, a), b"x")
    host.complete_promise(PromiseId(agent, b), b"y")
    inv = host.invoke(agent, f"await-both({a}, {b})")
    assert inv.state == "done" and inv.result == '["x@2", "y@2"]'
