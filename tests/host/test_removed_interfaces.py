"""A component that imports or exports an interface agent-host removed (the WIT-first
SDK's ``agent-host:http/endpoints@0.1.0``) is refused at registration, through the host
and the CLI, with a message saying it was removed and what to write instead; nothing is
registered. The components are hand-written component-model text, assembled by
wasm-tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from host.cli import main
from host.errors import InvalidComponent
from host.service import HostService
from tests.fixtures.build import _wasm_tools

EXPORTS = """
(component
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (instance $e (export "get-definition" (func $f)))
  (export "agent-host:http/endpoints@0.1.0" (instance $e))
)
"""

IMPORTS = """
(component
  (import "agent-host:http/endpoints@0.1.0" (instance $e
    (export "get-definition" (func))
  ))
)
"""


def _component(tmp_path: Path, name: str, text: str) -> Path:
    source, out = tmp_path / f"{name}.wat", tmp_path / f"{name}.wasm"
    source.write_text(text)
    subprocess.run([_wasm_tools(), "parse", str(source), "-o", str(out)], check=True)
    return out


@pytest.mark.parametrize(
    ("name", "text", "verb"), [("exports", EXPORTS, "exports"), ("imports", IMPORTS, "imports")]
)
def test_the_removed_endpoint_interface_is_refused_naming_the_replacement(
    tmp_path: Path, name: str, text: str, verb: str
) -> None:
    wasm = _component(tmp_path, name, text)
    host = HostService(tmp_path / "store")
    try:
        with pytest.raises(InvalidComponent) as info:
            host.add_component(wasm, name)
        message = str(info.value)
        assert f"{verb} agent-host:http/endpoints@0.1.0" in message
        assert "no longer provides" in message and "removed" in message
        assert "golem:agent/guest@1.5.0" in message and "@agent(mount=" in message
        assert host.store.list_components() == []
    finally:
        host.close()


def test_the_cli_says_so_without_a_traceback(tmp_path: Path) -> None:
    wasm = _component(tmp_path, "exports", EXPORTS)
    result = CliRunner().invoke(
        main, ["--store", str(tmp_path / "store"), "component", "add", str(wasm)]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "agent-host:http/endpoints@0.1.0" in result.stderr
    assert "@endpoint(post=" in result.stderr
