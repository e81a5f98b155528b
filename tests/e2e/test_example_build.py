"""The approval guest example builds with scripts/build_examples.py into a real component.

The first run builds with componentize-py (about 5-10 s); later runs reuse the output
while the stamp matches.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import wasmtime
from wasmtime import component

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "build_examples.py"
OUTPUT = REPO / "guest_examples" / "approval" / "approval.wasm"


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # from a foreign cwd, to check that the script finds its way
    result = run_script("approval", cwd=tmp_path_factory.mktemp("elsewhere"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "approval" in result.stdout
    assert OUTPUT.is_file()
    return OUTPUT


@pytest.fixture(scope="module")
def component_types(built: Path) -> tuple[wasmtime.Engine, component.Component]:
    engine = wasmtime.Engine()
    return engine, component.Component.from_file(engine, str(built))


def load_script_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_examples", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


def test_exports_the_golem_agent_guest_protocol(
    component_types: tuple[wasmtime.Engine, component.Component],
) -> None:
    engine, comp = component_types
    exports = comp.type.exports(engine)
    guest = exports["golem:agent/guest@1.5.0"].ty
    assert isinstance(guest, component.ComponentInstanceType), sorted(exports)
    funcs = guest.exports(engine)
    for name in ("initialize", "invoke", "get-definition", "discover-agent-types"):
        assert isinstance(funcs[name].ty, component.FuncType), sorted(funcs)
    # code-first: no per-agent functions and no custom endpoint interface
    assert "start-approval" not in exports
    assert "agent-host:http/endpoints@0.1.0" not in exports


def test_imports_the_golem_1_5_promise_api(
    component_types: tuple[wasmtime.Engine, component.Component],
) -> None:
    engine, comp = component_types
    imports = comp.type.imports(engine)
    assert "golem:api/host@1.5.0" in imports, sorted(imports)
    host = imports["golem:api/host@1.5.0"].ty
    assert isinstance(host, component.ComponentInstanceType)
    items = host.exports(engine)
    for name in ("create-promise", "get-promise", "complete-promise"):
        assert isinstance(items[name].ty, component.FuncType), sorted(items)
    assert isinstance(items["get-promise-result"].ty, component.ResourceType)


def test_second_run_is_skipped(built: Path, tmp_path: Path) -> None:
    before = built.stat().st_mtime_ns
    result = run_script("approval", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout
    assert built.stat().st_mtime_ns == before


def test_unknown_example_is_a_usage_error(tmp_path: Path) -> None:
    result = run_script("no-such-example", cwd=tmp_path)
    assert result.returncode == 2
    assert "no-such-example" in result.stderr


def test_wit_dependencies_are_resolved_transitively() -> None:
    script = load_script_module()
    example = script.Example("approval", REPO / "guest_examples" / "approval")
    deps = script.resolve_deps(example, script.index_top_level_wit())
    # the SDK world names agent-host:promises, golem:agent, golem:api and wasi:http;
    # golem:core, wasi:clocks and wasi:io come in through them
    assert [p.id for p in deps] == [
        "agent-host:promises@0.1.0",
        "golem:agent@1.5.0",
        "golem:api@1.5.0",
        "golem:core@1.5.0",
        "wasi:clocks@0.2.3",
        "wasi:http@0.2.3",
        "wasi:io@0.2.3",
    ]
