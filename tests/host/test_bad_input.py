"""Bad input through the CLI: each gives a clear `Error: ...` message on stderr, a non-zero
exit code from host/errors.py, no traceback, and writes nothing: the database rows and the
registered component files are byte-for-byte what they were before.

The store is seeded first (a registered component, an idle agent `bob` with a promise, and
an agent `alice` suspended on promise 3) so that "nothing written" is checked against a
store with content, not an empty one.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from host.errors import InvalidComponent, InvalidInput, PromiseNotFound
from host.ids import PromiseId
from host.service import HostService
from tests.fixtures.build import _wasm_tools, build_fixture

INVALID_INPUT = 2
NOT_FOUND = 4


@dataclass
class Seeded:
    cid: str
    wasm: Path
    data_dir: Path
    run: Callable[..., Any]
    snapshot: Callable[[Path], dict[str, Any]]

    def refused(self, *args: str, code: int, says: str | list[str]) -> str:
        """Run the CLI; assert it failed with ``code`` and a message containing ``says``,
        and that the store is unchanged. Returns stderr."""
        before = self.snapshot(self.data_dir)
        result = self.run(*args)
        assert result.exit_code == code, (
            f"{args}: exit {result.exit_code}, expected {code}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        stderr = str(result.stderr)
        assert "Traceback" not in stderr
        error_lines = [line for line in stderr.splitlines() if line.startswith("Error: ")]
        assert error_lines, f"{args}: no 'Error: ' line in stderr: {stderr!r}"
        for needle in [says] if isinstance(says, str) else says:
            assert needle in stderr, f"{args}: {needle!r} not in {stderr!r}"
        assert result.stdout == "", f"{args}: printed {result.stdout!r} on stdout"
        assert self.snapshot(self.data_dir) == before, f"{args} wrote to the store"
        return stderr


@pytest.fixture
def seeded(
    cli: Callable[..., Any], data_dir: Path, snapshot: Callable[[Path], dict[str, Any]]
) -> Seeded:
    wasm = build_fixture("promises-1.3.0")
    result = cli("component", "add", str(wasm), "--name", "approval")
    assert result.exit_code == 0, result.stderr
    cid = result.stdout.strip()
    for args, expected in [
        (("invoke", cid, "bob", "create()"), "3"),
        (("invoke", cid, "alice", "create-and-await()"), "suspended, waiting on promise 3"),
    ]:
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith(expected)
    return Seeded(cid, wasm, data_dir, cli, snapshot)


# -- files that are not (usable) components --------------------------------------------------
def _write(tmp_path: Path, name: str, data: bytes | bytearray) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_random_bytes(seeded: Seeded, tmp_path: Path) -> None:
    data = bytes(random.Random(7).randrange(256) for _ in range(4096))
    assert not data.startswith(b"\0asm")
    path = _write(tmp_path, "random.wasm", data)
    seeded.refused(
        "component", "add", str(path), code=INVALID_INPUT, says="is not a WebAssembly file"
    )


def test_empty_file(seeded: Seeded, tmp_path: Path) -> None:
    path = _write(tmp_path, "empty.wasm", b"")
    seeded.refused(
        "component", "add", str(path), code=INVALID_INPUT, says="is not a WebAssembly file"
    )


def test_core_module(seeded: Seeded, tmp_path: Path) -> None:
    path = _write(tmp_path, "core.wasm", wasmtime.wat2wasm("(module)"))
    seeded.refused(
        "component",
        "add",
        str(path),
        code=INVALID_INPUT,
        says="is a core WebAssembly module, not a component",
    )
    path = _write(
        tmp_path,
        "core2.wasm",
        wasmtime.wat2wasm('(module (func (export "run") (result i32) i32.const 1))'),
    )
    seeded.refused("component", "add", str(path), code=INVALID_INPUT, says="not a component")


@pytest.mark.parametrize("keep", [9, 100, 0.5, -1])  # 8 bytes = header = empty component
def test_truncated_component(seeded: Seeded, tmp_path: Path, keep: float) -> None:
    data = seeded.wasm.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (keep if keep > 0 else len(data) - 1)
    path = _write(tmp_path, "truncated.wasm", data[:n])
    seeded.refused(
        "component",
        "add",
        str(path),
        code=INVALID_INPUT,
        says=["not a valid WebAssembly component", "unexpected end-of-file"],
    )


def test_header_then_garbage(seeded: Seeded, tmp_path: Path) -> None:
    path = _write(tmp_path, "garbage.wasm", b"\0asm\x0d\0\x01\0" + b"\xff" * 64)
    seeded.refused(
        "component",
        "add",
        str(path),
        code=INVALID_INPUT,
        says=["not a valid WebAssembly component", "malformed section id"],
    )


def test_missing_file(seeded: Seeded, tmp_path: Path) -> None:
    seeded.refused(
        "component", "add", str(tmp_path / "nope.wasm"), code=INVALID_INPUT, says="cannot read"
    )


def test_host_refuses_non_components_directly(tmp_path: Path) -> None:
    host = HostService(tmp_path / "direct")
    try:
        for name, data in [
            ("random.wasm", b"hello world"),
            ("core.wasm", bytes(wasmtime.wat2wasm("(module)"))),
            ("trunc.wasm", build_fixture("promises-1.3.0").read_bytes()[:200]),
        ]:
            with pytest.raises(InvalidComponent):
                host.add_component(_write(tmp_path, name, data))
        assert host.store.list_components() == []
    finally:
        host.close()


# -- unknown imports -----------------------------------------------------------------------
_UNKNOWN_WIT = """\
package agent-host:bad;

world unknown-imports {
    import acme:missing/thing@1.0.0;
    import acme:missing/other@1.0.0;
    import golem:api/host@1.3.0;
    export run: func() -> u32;
}
"""
_ACME_WIT = """\
package acme:missing@1.0.0;

interface thing {
    ping: func() -> u32;
}

interface other {
    pong: func();
}
"""
# Not the real golem:api/host@1.3.0: a function of that name the host does not provide.
_FAKE_GOLEM_WIT = """\
package golem:api@1.3.0;

interface host {
    frobnicate-promise: func() -> u64;
}
"""
_UNKNOWN_WAT = """\
(module
  (import "acme:missing/thing@1.0.0" "ping" (func $ping (result i32)))
  (import "acme:missing/other@1.0.0" "pong" (func $pong))
  (import "golem:api/host@1.3.0" "frobnicate-promise" (func $frob (result i64)))
  (func (export "run") (result i32)
    call $pong
    call $frob
    drop
    call $ping))
"""
_ONE_UNKNOWN_WIT = """\
package agent-host:bad;

world one-unknown {
    import acme:missing/thing@1.0.0;
    export run: func() -> u32;
}
"""
_ONE_UNKNOWN_WAT = """\
(module
  (import "acme:missing/thing@1.0.0" "ping" (func $ping (result i32)))
  (func (export "run") (result i32) call $ping))
"""


def _build_component(out: Path, world: str, wat: str, deps: dict[str, str]) -> Path:
    wasm_tools = _wasm_tools()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        witdir = tmp / "wit"
        for folder, text in deps.items():
            (witdir / "deps" / folder).mkdir(parents=True)
            (witdir / "deps" / folder / "package.wit").write_text(text)
        (witdir / "world.wit").write_text(world)
        (tmp / "guest.wat").write_text(wat)
        core = tmp / "core.wasm"
        for argv in (
            [
                wasm_tools,
                "component",
                "embed",
                str(witdir),
                str(tmp / "guest.wat"),
                "-o",
                str(core),
            ],
            [wasm_tools, "component", "new", str(core), "-o", str(out)],
        ):
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def unknown_imports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad") / "unknown-imports.wasm"
    return _build_component(
        out, _UNKNOWN_WIT, _UNKNOWN_WAT, {"acme-missing": _ACME_WIT, "golem-api": _FAKE_GOLEM_WIT}
    )


@pytest.fixture(scope="module")
def one_unknown(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad") / "one-unknown.wasm"
    return _build_component(out, _ONE_UNKNOWN_WIT, _ONE_UNKNOWN_WAT, {"acme-missing": _ACME_WIT})


def test_unknown_import_is_named(seeded: Seeded, one_unknown: Path) -> None:
    seeded.refused(
        "component",
        "add",
        str(one_unknown),
        code=INVALID_INPUT,
        says="acme:missing/thing@1.0.0.ping",
    )


def test_every_unknown_import_is_named(seeded: Seeded, unknown_imports: Path) -> None:
    stderr = seeded.refused(
        "component",
        "add",
        str(unknown_imports),
        "--name",
        "bad",
        code=INVALID_INPUT,
        says=[
            "acme:missing/thing@1.0.0.ping",
            "acme:missing/other@1.0.0.pong",
            "golem:api/host@1.3.0.frobnicate-promise",
        ],
    )
    assert "does not provide" in stderr
    # The real create-promise of the same interface is not reported missing.
    assert "create-promise" not in stderr


def test_host_reports_missing_imports(tmp_path: Path, unknown_imports: Path) -> None:
    host = HostService(tmp_path / "direct")
    try:
        with pytest.raises(InvalidComponent) as info:
            host.add_component(unknown_imports)
        assert set(info.value.missing_imports) == {
            "acme:missing/thing@1.0.0.ping",
            "acme:missing/other@1.0.0.pong",
            "golem:api/host@1.3.0.frobnicate-promise",
        }
        assert host.store.list_components() == []
        assert not (tmp_path / "direct" / "components").exists() or not list(
            (tmp_path / "direct" / "components").iterdir()
        )
    finally:
        host.close()


# -- malformed WAVE calls ----------------------------------------------------------------------
BAD_CALLS = [
    ('await("x")', "expected u64"),
    ("await(1, 2)", "given 2"),
    ("await()", "given 0"),
    ("await", "given 0"),
    ("nope()", "exports no function 'nope'"),
    ("await(1", "')'"),
    ("await(1))", ""),
    ("await)", ""),
    ("(1)", "function name"),
    ("", "function name"),
    ("await(-1)", "out of range"),
    ("await(18446744073709551616)", "out of range"),
    ("complete(3, [1, 300])", ""),
    ('complete(3, "ab")', ""),
    ("complete(3)", "given 1"),
    ("await-for(1, 2, alice, 3)", ""),
]


@pytest.mark.parametrize(("call", "says"), BAD_CALLS, ids=[c or "<empty>" for c, _ in BAD_CALLS])
def test_malformed_wave_call(seeded: Seeded, call: str, says: str) -> None:
    # An existing idle agent: no invocation queued, nothing recorded.
    seeded.refused("invoke", seeded.cid, "bob", call, code=INVALID_INPUT, says=says)
    # A new agent name: the agent is not even created.
    seeded.refused("invoke", seeded.cid, "newcomer", call, code=INVALID_INPUT, says=says)
    # A suspended agent: nothing queued behind its pending invocation.
    seeded.refused("invoke", seeded.cid, "alice", call, code=INVALID_INPUT, says=says)


def test_malformed_wave_call_through_host(host: HostService) -> None:
    record = host.add_component(build_fixture("promises-0.2.0"))
    agent, _ = host.create_agent(record.id, "bob")
    for call, _says in BAD_CALLS:
        with pytest.raises(InvalidInput):
            host.invoke(agent, call)
    assert host.store.list_invocations(agent) == []
    assert len(host.store.read_oplog(agent)) == 1


def test_invalid_agent_name(seeded: Seeded) -> None:
    seeded.refused(
        "invoke", seeded.cid, "bad name", "create()", code=INVALID_INPUT, says="invalid agent name"
    )


# -- payloads that are not bytes ---------------------------------------------------------------
BAD_PAYLOADS = [
    (["--bytes", "[1, 300]"], "0..255"),
    (["--bytes", "abc"], "0..255"),
    (["--bytes", "[-1]"], "0..255"),
    (["--bytes", "[1.5]"], "0..255"),
    (["--bytes", "[true]"], "0..255"),
    (["--bytes", '"ab"'], "0..255"),
    (["--bytes", '{"a": 1}'], "0..255"),
    (["--bytes", ""], "0..255"),
    (["--json", "{bad"], "not valid JSON"),
    (["--json", ""], "not valid JSON"),
    ([], "exactly one payload"),
    (["--text", "a", "--bytes", "[1]"], "exactly one payload"),
]


@pytest.mark.parametrize(
    ("option", "says"), BAD_PAYLOADS, ids=[" ".join(o) or "<none>" for o, _ in BAD_PAYLOADS]
)
def test_payload_not_bytes(seeded: Seeded, option: list[str], says: str) -> None:
    seeded.refused(
        "promise", "complete", seeded.cid, "alice", "3", *option, code=INVALID_INPUT, says=says
    )
    # Still pending and still suspended: the next good completion wins.
    result = seeded.run("promise", "complete", seeded.cid, "alice", "3", "--bytes", "[1, 2]")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:2] == ["true", "alice resumed: create-and-await -> [1, 2]"]


def test_payload_file_missing(seeded: Seeded, tmp_path: Path) -> None:
    seeded.refused(
        "promise",
        "complete",
        seeded.cid,
        "alice",
        "3",
        "--data-file",
        str(tmp_path / "missing.bin"),
        code=INVALID_INPUT,
        says="cannot read",
    )


# -- unknown things ----------------------------------------------------------------------------
UNKNOWN_COMPONENTS = ["nosuch", "00000000-0000-0000-0000-000000000000"]


@pytest.mark.parametrize("ref", UNKNOWN_COMPONENTS)
def test_unknown_component(seeded: Seeded, ref: str) -> None:
    for args in (
        ("invoke", ref, "alice", "create()"),
        ("agent", "create", ref, "carol"),
        ("agent", "show", ref, "alice"),
        ("agent", "delete", ref, "alice"),
        ("agent", "list", "--component", ref),
        ("component", "show", ref),
        ("oplog", ref, "alice"),
        ("promise", "list", ref, "alice"),
        ("promise", "complete", ref, "alice", "3", "--text", "x"),
    ):
        seeded.refused(*args, code=NOT_FOUND, says=f"no component {ref!r}")


def test_unknown_agent(seeded: Seeded) -> None:
    says = f"agent {seeded.cid}/nobody does not exist"
    for args in (
        ("agent", "show", seeded.cid, "nobody"),
        ("agent", "delete", seeded.cid, "nobody"),
        ("oplog", seeded.cid, "nobody"),
        ("promise", "list", seeded.cid, "nobody"),
        ("promise", "complete", seeded.cid, "nobody", "3", "--text", "x"),
    ):
        seeded.refused(*args, code=NOT_FOUND, says=says)


@pytest.mark.parametrize("idx", ["999", "1", "2", "4"])
def test_unknown_promise_index(seeded: Seeded, idx: str) -> None:
    # 1 is the agent-created entry, 2 the invocation, 4 the suspension: none is a promise.
    seeded.refused(
        "promise",
        "complete",
        seeded.cid,
        "alice",
        idx,
        "--text",
        "x",
        code=NOT_FOUND,
        says=f"promise {seeded.cid}/alice/{idx} does not exist",
    )


@pytest.mark.parametrize("idx", ["0", "-1", "abc"])
def test_invalid_promise_index(seeded: Seeded, idx: str) -> None:
    seeded.refused(
        "promise",
        "complete",
        seeded.cid,
        "alice",
        idx,
        "--text",
        "x",
        code=INVALID_INPUT,
        says="OPLOG_IDX",
    )


def test_unknown_promise_through_host(host: HostService) -> None:
    record = host.add_component(build_fixture("promises-1.1.0"))
    agent, _ = host.create_agent(record.id, "alice")
    with pytest.raises(PromiseNotFound):
        host.complete_promise(PromiseId(agent, 2), b"x")


def test_store_env_var_is_honoured_for_errors(tmp_path: Path) -> None:
    """AGENT_HOST_STORE picks the data directory; an error there still writes no component."""
    from click.testing import CliRunner

    from host.cli import main

    store = tmp_path / "env-store"
    path = _write(tmp_path, "junk.wasm", os.urandom(64).replace(b"\0asm", b""))
    result = CliRunner().invoke(
        main, ["component", "add", str(path)], env={"AGENT_HOST_STORE": str(store)}
    )
    assert result.exit_code == INVALID_INPUT
    assert result.stderr.startswith("Error: ")
    result = CliRunner().invoke(
        main, ["--json", "component", "list"], env={"AGENT_HOST_STORE": str(store)}
    )
    assert result.exit_code == 0 and result.stdout.strip() == "[]"
