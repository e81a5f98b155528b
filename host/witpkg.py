"""The project's WIT packages: which ones some WIT sources need, laid out as ``deps/``.

The repository's ``wit/`` folder holds one folder per package version, named
``<namespace>-<package>-<version>`` (``golem-api-1.3.0``) and declaring
``package <namespace>:<package>@<version>;``. A guest's WIT (a world file, or a folder
of them) refers to those packages by name in its ``import``, ``export``, ``use`` and
``include`` clauses (``golem:api/host@1.3.0``), and the packages refer to each other the
same way. Every guest build in the project goes through here (scripts/build_examples.py
for componentize-py, host/conformance/build.py and so tests/fixtures/build.py for WAT):

* :class:`WitIndex` indexes a ``wit/`` folder by the packages its entries declare, and
  :meth:`WitIndex.resolve` finds every package some sources need, transitively: a
  versioned reference takes exactly that version, an unversioned one the only version
  there is; anything missing or ambiguous is a :class:`WitPackageError` naming it;
* :func:`lay_out` copies the sources and those packages into one folder, the packages
  under ``deps/<folder>/``, as wasm-tools and componentize-py read it;
* :class:`InputsHash` hashes labelled build inputs, :meth:`InputsHash.add_packages` the
  files of the packages used, for build caches keyed by content.

Pure Python (regular expressions over the text with comments removed, no WIT parser,
no wasm), so it runs anywhere the build scripts do.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_PACKAGE = re.compile(r"^\s*package\s+([a-z][a-z0-9-]*:[a-z][a-z0-9-]*(?:@[^\s;{]+)?)\s*[;{]", re.M)
_WORLD = re.compile(r"^\s*world\s+(%?[a-z][a-z0-9-]*)\s*\{", re.M)
# `ns:pkg/iface@1.2.3`, `ns:pkg@1.2.3` or unversioned, as in use/import/export/include
_REFERENCE = re.compile(
    r"\b([a-z][a-z0-9-]*:[a-z][a-z0-9-]*)(?:/%?[a-z][a-z0-9-]*)?"
    r"(?:@(\d+\.\d+\.\d+(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?))?"
)


class WitPackageError(Exception):
    """A package the sources need is missing or ambiguous; the message names it."""


@dataclass(frozen=True)
class WitPackage:
    """A package of a ``wit/`` folder: the folder (or single ``.wit`` file) declaring it."""

    id: str  # "ns:pkg@x.y.z", or "ns:pkg" for an unversioned package
    path: Path

    def files(self) -> list[Path]:
        """Its files (all of them, as they are copied into deps/), sorted."""
        return source_files(self.path)

    def label(self, file: Path) -> str:
        """``file`` as ``<folder>/<path inside it>``, i.e. relative to the wit/ folder."""
        return file.relative_to(self.path.parent).as_posix()


def source_files(source: Path) -> list[Path]:
    """A file as itself, a folder as every file under it, sorted."""
    if source.is_file():
        return [source]
    return sorted(p for p in source.rglob("*") if p.is_file())


def strip_comments(text: str) -> str:
    """WIT text without its ``//`` (so also ``///`` doc) and ``/* */`` comments."""
    return _COMMENT.sub("", text)


def _wit_text(path: Path) -> str:
    return strip_comments(path.read_text(encoding="utf-8"))


def declared_packages(files: Iterable[Path]) -> set[str]:
    """The packages the ``.wit`` files among ``files`` declare (``ns:pkg@x.y.z``)."""
    return {str(m) for f in files if f.suffix == ".wit" for m in _PACKAGE.findall(_wit_text(f))}


def references(files: Iterable[Path]) -> set[str]:
    """The packages the ``.wit`` files among ``files`` name (``ns:pkg@x.y.z`` or ``ns:pkg``),
    their own declarations included."""
    refs = set()
    for f in files:
        if f.suffix == ".wit":
            for name, version in _REFERENCE.findall(_wit_text(f)):
                refs.add(f"{name}@{version}" if version else name)
    return refs


def world_names(text: str) -> list[str]:
    """The worlds a WIT text declares, in order, without a leading ``%``."""
    return [str(w).lstrip("%") for w in _WORLD.findall(strip_comments(text))]


def folder_name(package_id: str) -> str:
    """The folder a package version has in wit/: ``golem:api@1.3.0`` -> ``golem-api-1.3.0``."""
    return package_id.replace(":", "-").replace("@", "-")


class WitIndex:
    """The packages of a ``wit/`` folder, by the id each entry declares.

    An entry is a folder (one package version, ``<namespace>-<package>-<version>``) or a
    single ``.wit`` file; hidden entries and other files (a README) are not packages."""

    def __init__(self, wit_dir: Path) -> None:
        self.root = wit_dir
        self.packages: dict[str, list[WitPackage]] = {}
        if not wit_dir.is_dir():
            return
        for entry in sorted(wit_dir.iterdir()):
            if entry.name.startswith(".") or not (entry.is_dir() or entry.suffix == ".wit"):
                continue
            for pkg_id in sorted(declared_packages(source_files(entry))):
                self.packages.setdefault(pkg_id, []).append(WitPackage(pkg_id, entry))

    def resolve(self, sources: Path | Iterable[Path], who: str) -> list[WitPackage]:
        """The packages ``sources`` (a ``.wit`` file, a folder, or several) need from here,
        transitively, sorted by id. Packages the sources declare themselves (e.g. in
        their own ``deps/``) are theirs, not looked up. ``who`` starts error messages."""
        roots = [sources] if isinstance(sources, Path) else list(sources)
        files = [f for root in roots for f in source_files(root)]
        own = declared_packages(files)
        own_names = {p.split("@")[0] for p in own}
        needed: dict[str, WitPackage] = {}
        # (reference, who refers to it), popped from the end
        todo = [(r, "its WIT") for r in sorted(references(files) - own, reverse=True)]
        while todo:
            ref, referrer = todo.pop()
            if ref in needed or ref in own or ("@" not in ref and ref in own_names):
                continue
            pkg = self._find(ref, referrer, who)
            needed[ref] = pkg
            pkg_files = pkg.files()
            more = references(pkg_files) - declared_packages(pkg_files) - set(needed)
            by = f"{pkg.id} ({self._shown(pkg.path)})"
            todo.extend((r, by) for r in sorted(more, reverse=True))
        unique = {p.path: p for p in needed.values()}
        return sorted(unique.values(), key=lambda p: p.id)

    def _find(self, ref: str, referrer: str, who: str) -> WitPackage:
        found = self.packages.get(ref, [])
        name = ref.split("@")[0]
        versions = sorted(pid for pid in self.packages if pid.split("@")[0] == name)
        if not found and "@" not in ref:  # an unversioned reference to a versioned package
            found = [p for pid in versions for p in self.packages[pid]]
            if len(found) > 1:
                raise WitPackageError(
                    f"{who}: {referrer} refers to {ref} without a version, and {self.root} "
                    f"has several: {', '.join(versions)}; write the version "
                    f"(e.g. {versions[-1]})"
                )
        if not found:
            hint = f"expected in {self.root / folder_name(ref)}/; " if "@" in ref else ""
            hint += f"it has {', '.join(versions)}" if versions else f"it has no {name} at all"
            raise WitPackageError(
                f"{who}: {referrer} refers to {ref}, which no package in {self.root} "
                f"declares ({hint})"
            )
        if len(found) > 1:
            where = ", ".join(self._shown(p.path) for p in found)
            raise WitPackageError(f"{who}: {ref} is declared more than once: {where}")
        return found[0]

    def _shown(self, path: Path) -> str:
        return f"{self.root.name}/{path.relative_to(self.root).as_posix()}"


def lay_out(sources: Path, packages: Iterable[WitPackage], dest: Path) -> Path:
    """Copy ``sources`` (a ``.wit`` file or a folder) into the folder ``dest`` and each
    package into ``dest/deps/<its folder name>/``, unless the sources bring their own
    copy there (theirs wins). Returns ``dest``, ready for ``wasm-tools component embed``
    or ``componentize-py -d``."""
    if sources.is_file():
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(sources, dest / sources.name)
    else:
        shutil.copytree(sources, dest, dirs_exist_ok=True)
    for pkg in packages:
        target = dest / "deps" / pkg.path.name
        if target.exists():
            continue
        if pkg.path.is_file():
            target.mkdir(parents=True)
            shutil.copy2(pkg.path, target / pkg.path.name)
        else:
            shutil.copytree(pkg.path, target)
    return dest


class InputsHash:
    """SHA-256 over labelled inputs, for build caches keyed by content.

    Each label and each content goes in with its length in front, so two different sets
    of inputs never feed the same bytes."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, label: str, data: bytes) -> None:
        for part in (label.encode(), data):
            self._h.update(len(part).to_bytes(8, "little"))
            self._h.update(part)

    def add_files(self, prefix: str, root: Path, files: Iterable[Path]) -> None:
        """Each file under the label ``<prefix><path relative to root>``."""
        for f in files:
            self.add(f"{prefix}{f.relative_to(root).as_posix()}", f.read_bytes())

    def add_packages(self, packages: Iterable[WitPackage]) -> None:
        """Every file of the packages, labelled ``wit:<folder>/<path inside it>``."""
        for pkg in packages:
            for f in pkg.files():
                self.add(f"wit:{pkg.label(f)}", f.read_bytes())

    def hexdigest(self) -> str:
        return self._h.hexdigest()
