#!/usr/bin/env python3
"""Build the Python guest examples into WebAssembly components with componentize-py.

Every directory ``guest_examples/<name>/`` holding an ``app.py`` and a ``wit/world.wit``
is built into ``guest_examples/<name>/<name>.wasm``; so is an *agent folder*, an
``app.py`` without ``wit/`` that imports the code-first ``agent_sdk``, built against the
SDK's world ``agent-host:sdk/agent@0.2.0`` (``wit/agent-host-sdk-0.2.0``). A NAME may
also be the path of such a folder anywhere. The WIT packages the example
refers to (``golem:api@1.3.0`` and whatever that uses, transitively) are taken from the
repository's top-level ``wit/`` folder and assembled into a ``deps/`` folder inside
``build/examples/<name>/``, together with a copy of the sources and the Python bindings
(``build/examples/<name>/bindings``, handy for an editor or mypy). Nothing is generated
next to the sources except the ``.wasm`` and its ``.wasm.stamp``. Finding, laying out
and hashing the WIT packages is :mod:`host.witpkg`'s, as for the WAT guests.

An example whose Python imports ``agent_sdk`` gets the guest SDK
(``guest_examples/sdk/agent_sdk/``) copied next to its sources in the build (unless it
ships its own ``agent_sdk/``), so ``import agent_sdk`` works in every example without
installing anything. ``guest_examples/sdk/`` itself is a library, not an example.

A build is skipped when the stamp records the same content hash of the inputs (the
example's Python files and WIT, the SDK's files when it uses the SDK, the used top-level
WIT packages, the componentize-py version) and the output is unchanged since.
``--force`` rebuilds anyway.

    python scripts/build_examples.py [--force] [NAME ...]

Exits 1 if a build fails (componentize-py's output is shown), 2 on a usage problem.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: host/ is importable from the checkout
    sys.path.insert(0, str(REPO))

from host.witpkg import (  # noqa: E402
    InputsHash,
    WitIndex,
    WitPackage,
    WitPackageError,
    lay_out,
    source_files,
    world_names,
)

EXAMPLES_DIR = REPO / "guest_examples"
WIT_DIR = REPO / "wit"
BUILD_DIR = REPO / "build" / "examples"
# The code-first SDK: an agent folder is just Python built against the SDK's own world.
AGENT_SDK_PACKAGE = EXAMPLES_DIR / "sdk" / "agent_sdk"
AGENT_SDK_IMPORT_RE = re.compile(r"^\s*(?:from|import)\s+agent_sdk\b", re.M)
AGENT_SDK_WIT = WIT_DIR / "agent-host-sdk-0.2.0"
STAMP_FORMAT = 1  # bump when the way outputs are produced changes

_SKIP_DIRS = {"__pycache__", "wit", "wit_world"}


def _rel(path: Path) -> str:
    """path relative to the repository when it is inside it, for messages."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


class BuildError(Exception):
    """A build failed; the message is shown to the user."""


class UsageError(Exception):
    """The command line or the repository layout is wrong."""


@dataclass(frozen=True)
class Example:
    name: str
    root: Path

    @property
    def wit(self) -> Path:
        """The example's own WIT folder, or for an agent folder the SDK's world."""
        own = self.root / "wit"
        return AGENT_SDK_WIT if not own.exists() and self.uses_agent_sdk() else own

    @property
    def output(self) -> Path:
        return self.root / f"{self.name}.wasm"

    @property
    def stamp(self) -> Path:
        return self.root / f"{self.name}.wasm.stamp"

    @property
    def build_dir(self) -> Path:
        return BUILD_DIR / self.name

    def python_files(self) -> list[Path]:
        def walk(d: Path) -> Iterator[Path]:
            for p in sorted(d.iterdir()):
                if p.is_dir():
                    if p.name not in _SKIP_DIRS and not p.name.startswith((".", "componentize_py")):
                        yield from walk(p)
                elif p.suffix == ".py":
                    yield p

        return list(walk(self.root))

    def wit_files(self) -> list[Path]:
        return source_files(self.wit)

    def _imports(self, pattern: re.Pattern[str], package: str) -> bool:
        if (self.root / package).is_dir():
            return False  # it ships its own copy
        return any(
            pattern.search(f.read_text(encoding="utf-8", errors="replace"))
            for f in self.python_files()
        )

    def uses_agent_sdk(self) -> bool:
        """Whether the example imports the code-first agent_sdk (no copy of its own)."""
        return self._imports(AGENT_SDK_IMPORT_RE, "agent_sdk")


def sdk_files(package: Path = AGENT_SDK_PACKAGE) -> list[Path]:
    """A guest SDK's files that go into a build (sources and the py.typed marker)."""
    return sorted(
        p
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".typed")
    )


# --- WIT packages (host.witpkg) -------------------------------------------------------


def index_top_level_wit(wit_dir: Path = WIT_DIR) -> WitIndex:
    """The packages of the top-level wit/ folder."""
    return WitIndex(wit_dir)


def resolve_deps(example: Example, index: WitIndex) -> list[WitPackage]:
    """The top-level packages the example needs, transitively, sorted by id."""
    try:
        return index.resolve(example.wit, example.name)
    except WitPackageError as e:
        raise BuildError(str(e)) from None


def world_name(example: Example) -> str:
    worlds = sorted(
        {w for f in example.wit.glob("*.wit") for w in world_names(f.read_text(encoding="utf-8"))}
    )
    if len(worlds) == 1:
        return worlds[0]
    if example.name in worlds:
        return example.name
    raise BuildError(f"{example.name}: expected one world in {_rel(example.wit)}, found {worlds}")


# --- componentize-py -------------------------------------------------------------------


def find_componentize_py() -> str:
    """componentize-py from the running interpreter's environment, else from PATH."""
    override = os.environ.get("COMPONENTIZE_PY")
    if override:
        return override
    exe = "componentize-py.exe" if os.name == "nt" else "componentize-py"
    sibling = Path(sys.executable).parent / exe
    if sibling.is_file():
        return str(sibling)
    found = shutil.which("componentize-py")
    if found:
        return found
    raise UsageError(
        f"componentize-py not found next to {sys.executable} nor on PATH; "
        "install it with: pip install componentize-py==0.25.1"
    )


def componentize_py_version(tool: str) -> str:
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise UsageError(f"{tool} --version failed: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout.strip()


# --- stamps ----------------------------------------------------------------------------


def inputs_hash(example: Example, deps: list[WitPackage], tool_version: str) -> str:
    h = InputsHash()
    h.add("format", str(STAMP_FORMAT).encode())
    h.add("componentize-py", tool_version.encode())
    if example.wit.is_relative_to(example.root):
        h.add_files("example:", example.root, example.python_files() + example.wit_files())
    else:  # an agent folder, on the SDK's world
        h.add_files("example:", example.root, example.python_files())
        h.add_files("sdk-world:", example.wit, example.wit_files())
    if example.uses_agent_sdk():
        h.add_files("agent-sdk:", AGENT_SDK_PACKAGE, sdk_files(AGENT_SDK_PACKAGE))
    h.add_packages(deps)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def up_to_date(example: Example, digest: str) -> bool:
    try:
        stamp = json.loads(example.stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("inputs") == digest
        and example.output.is_file()
        and stamp.get("output_sha256") == file_sha256(example.output)
    )


# --- building --------------------------------------------------------------------------


def discover(names: list[str]) -> list[Example]:
    found: dict[str, Example] = {}
    if EXAMPLES_DIR.is_dir():
        for d in sorted(EXAMPLES_DIR.iterdir()):
            if (d / "app.py").is_file() and (d / "wit" / "world.wit").is_file():
                found[d.name] = Example(d.name, d)
            elif (d / "app.py").is_file() and Example(d.name, d).uses_agent_sdk():
                found[d.name] = Example(d.name, d)  # an agent folder: just Python
    for n in names:  # a folder anywhere: an agent folder (or one with its own wit/)
        folder = Path(n)
        if n not in found and (folder / "app.py").is_file():
            example = Example(folder.resolve().name, folder.resolve())
            if example.wit.is_dir():
                found[n] = example
    unknown = [n for n in names if n not in found]
    if unknown:
        have = ", ".join(found) or "none"
        raise UsageError(f"no such example(s): {', '.join(unknown)} (have: {have})")
    return [found[n] for n in names] if names else list(found.values())


def prepare_build_dir(example: Example, deps: list[WitPackage]) -> tuple[Path, Path]:
    """Fresh build/examples/<name>/ with wit/ (+ deps/) and src/; returns (wit, src)."""
    if example.build_dir.exists():
        shutil.rmtree(example.build_dir)
    wit = lay_out(example.wit, deps, example.build_dir / "wit")  # the example's own deps win
    src = example.build_dir / "src"
    for f in example.python_files():
        dest = src / f.relative_to(example.root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    packages = [AGENT_SDK_PACKAGE] if example.uses_agent_sdk() else []
    for package in packages:
        for f in sdk_files(package):
            dest = src / package.name / f.relative_to(package)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
    return wit, src


def run_with_progress(cmd: list[str], log: Path, label: str) -> int:
    """Runs cmd with its output in log; on a terminal, ticks the elapsed seconds."""
    tty = sys.stdout.isatty()
    start = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
        try:
            while True:
                try:
                    code = proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    if tty:
                        print(f"\r{label} {time.monotonic() - start:.0f} s", end="", flush=True)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if tty:
                print("\r\033[K", end="", flush=True)
    return code


def build(
    example: Example,
    tool: str,
    tool_version: str,
    index: WitIndex,
    force: bool,
    position: str,
) -> bool:
    """Builds one example; returns True if componentize-py ran. Concurrent builds of one
    example (parallel test workers) take turns: the later one finds it up to date."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / f".{example.name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        label = f"{position} {example.name}:"
        deps = resolve_deps(example, index)
        digest = inputs_hash(example, deps, tool_version)
        if not force and up_to_date(example, digest):
            print(f"{label} up to date ({_rel(example.output)}), skipped", flush=True)
            return False
        world = world_name(example)
        sdk = " + agent_sdk" if example.uses_agent_sdk() else ""
        print(
            f"{label} building world {world!r}{sdk} with {tool_version} "
            f"(deps: {', '.join(p.id for p in deps) or 'none'})",
            flush=True,
        )
        start = time.monotonic()
        example.stamp.unlink(missing_ok=True)
        wit, src = prepare_build_dir(example, deps)
        bindings = subprocess.run(
            [tool, "-d", str(wit), "-w", world, "bindings", str(example.build_dir / "bindings")],
            capture_output=True,
            text=True,
            check=False,
        )
        if bindings.returncode != 0:
            raise BuildError(
                f"{example.name}: componentize-py bindings failed:\n"
                f"{bindings.stdout}{bindings.stderr}".rstrip()
            )
        tmp_out = example.build_dir / f"{example.name}.wasm"
        log = example.build_dir / "componentize.log"
        cmd = [tool, "-d", str(wit), "-w", world, "componentize", "-p", str(src), "app"]
        cmd += ["-o", str(tmp_out)]
        code = run_with_progress(cmd, log, f"{label} building...")
        if code != 0 or not tmp_out.is_file():
            text = log.read_text(encoding="utf-8", errors="replace")
            text = text.split("\nStack backtrace:")[0].rstrip()  # keep the error, not Rust frames
            text = text.split("\nstack backtrace:")[0].rstrip()
            if "duplicate items detected" in text:
                text += (
                    "\nhint: componentize-py links the world's exports next to the C library's "
                    "symbols; an exported function named like one of them (open, read, write, "
                    "close, exit...) clashes: rename it"
                )
            raise BuildError(
                f"{example.name}: componentize-py failed (exit {code}):\n{text}\n"
                f"(full log: {_rel(log)})"
            )
        os.replace(tmp_out, example.output)
        stamp = {
            "format": STAMP_FORMAT,
            "inputs": digest,
            "componentize_py": tool_version,
            "world": world,
            "wit_deps": [p.id for p in deps],
            "agent_sdk": example.uses_agent_sdk(),
            "output_sha256": file_sha256(example.output),
        }
        example.stamp.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        size = example.output.stat().st_size / (1 << 20)
        print(
            f"{label} built in {time.monotonic() - start:.1f} s -> "
            f"{_rel(example.output)} ({size:.1f} MiB)",
            flush=True,
        )
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the guest examples under guest_examples/ with componentize-py."
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="examples to build (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    try:
        examples = discover(args.names)
        if not examples:
            print(f"no examples under {EXAMPLES_DIR}")
            return 0
        tool = find_componentize_py()
        version = componentize_py_version(tool)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    index = index_top_level_wit()
    failed = []
    for n, example in enumerate(examples, 1):
        try:
            build(example, tool, version, index, args.force, f"[{n}/{len(examples)}]")
        except BuildError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            failed.append(example.name)
    if failed:
        print(f"{len(failed)} example(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
