"""Hostile components at registration: thousands of unknown imports get a readable refusal
that still names the interface; the deepest type nesting the tools allow registers and runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from host.conformance.build import wasm_tools
from host.errors import InvalidComponent
from host.service import HostService

EXPORT_WAT = (
    '(func (export "run") (param i32 i32)) (memory (export "memory") 1) '
    '(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)'
)


def _component(tmp: Path, wit: str, wat: str) -> Path:
    (tmp / "world.wit").write_text(wit)
    (tmp / "m.wat").write_text(wat)
    tool = wasm_tools()
    subprocess.run(
        [
            tool,
            "component",
            "embed",
            str(tmp / "world.wit"),
            str(tmp / "m.wat"),
            "-w",
            "w",
            "-o",
            str(tmp / "core.wasm"),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [tool, "component", "new", str(tmp / "core.wasm"), "-o", str(tmp / "c.wasm")],
        check=True,
        capture_output=True,
    )
    return tmp / "c.wasm"


def test_thousands_of_unknown_imports_are_refused_readably(tmp_path: Path) -> None:
    n = 3000
    funcs = "\n".join(f"    fn-{i}: func();" for i in range(n))
    wit = f"package acme:many;\ninterface big {{\n{funcs}\n}}\nworld w {{ import big; }}\n"
    imports = "\n".join(f'(import "acme:many/big" "fn-{i}" (func))' for i in range(n))
    wat = f'(module {imports} (memory (export "memory") 1))'
    path = _component(tmp_path, wit, wat)
    host = HostService(tmp_path / "store")
    try:
        with pytest.raises(InvalidComponent) as info:
            host.add_component(path)
        message = str(info.value)
        assert f"acme:many/big ({n} functions: fn-0" in message
        assert len(message) < 1000
        assert len(info.value.missing_imports) == n  # the full list, for --json users
        assert host.store.list_components() == []
    finally:
        host.close()


def test_the_deepest_nesting_the_tools_allow_registers_and_runs(tmp_path: Path) -> None:
    depth = 95  # wasm-tools itself refuses deeper type nesting
    ty = "list<" * depth + "u8" + ">" * depth
    path = _component(
        tmp_path,
        f"package acme:deep;\nworld w {{ export run: func(x: {ty}); }}\n",
        f"(module {EXPORT_WAT})",
    )
    host = HostService(tmp_path / "store")
    try:
        host.add_component(path, name="deep")
        agent, _ = host.create_agent("deep", "a")
        value = "[" * 10 + "]" * 10
        assert host.invoke(agent, f"run({value})").state == "done"
    finally:
        host.close()
