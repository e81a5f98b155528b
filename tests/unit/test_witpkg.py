"""host.witpkg: which packages of a wit/ folder some WIT sources need, laid out as deps/
and hashed. Pure file work on temporary trees: no wasm, no wasm-tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.witpkg import InputsHash, WitIndex, WitPackageError, lay_out

TYPES = "package a:x@{v};\n\ninterface types {{\n    type t = u32;\n}}\n"
API = (
    "package a:y@1.0.0;\n\n"
    "interface api {{\n    use a:x/types@{v}.{{t}};\n    get: func() -> t;\n}}\n"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def wit(tmp_path: Path) -> Path:
    """wit/ with a:x at 1.0.0 and 2.0.0, and a:y@1.0.0 using a:x/types@1.0.0."""
    root = tmp_path / "wit"
    write(root / "a-x-1.0.0" / "types.wit", TYPES.format(v="1.0.0"))
    write(root / "a-x-2.0.0" / "types.wit", TYPES.format(v="2.0.0"))
    write(root / "a-y-1.0.0" / "api.wit", API.format(v="1.0.0"))
    write(root / "README.md", "not a package\n")
    return root


def world(tmp_path: Path, body: str) -> Path:
    return write(tmp_path / "guest" / "world.wit", f"package my:guest;\n\nworld w {{\n{body}\n}}\n")


def test_the_index_holds_each_declared_package_version(wit: Path) -> None:
    index = WitIndex(wit)
    assert sorted(index.packages) == ["a:x@1.0.0", "a:x@2.0.0", "a:y@1.0.0"]
    assert [p.path for p in index.packages["a:x@2.0.0"]] == [wit / "a-x-2.0.0"]


def test_a_package_brings_the_packages_it_uses(wit: Path, tmp_path: Path) -> None:
    src = world(tmp_path, "    import a:y/api@1.0.0;")
    deps = WitIndex(wit).resolve(src, "guest")
    assert [(p.id, p.path.name) for p in deps] == [
        ("a:x@1.0.0", "a-x-1.0.0"),
        ("a:y@1.0.0", "a-y-1.0.0"),
    ]


def test_the_version_written_is_the_version_taken(wit: Path, tmp_path: Path) -> None:
    index = WitIndex(wit)
    new = world(tmp_path, "    import a:x/types@2.0.0;")
    assert [p.id for p in index.resolve(new, "guest")] == ["a:x@2.0.0"]
    old = world(tmp_path, "    import a:x/types@1.0.0;")
    assert [p.id for p in index.resolve(old, "guest")] == ["a:x@1.0.0"]


def test_an_unversioned_reference_needs_a_single_version(wit: Path, tmp_path: Path) -> None:
    index = WitIndex(wit)
    assert [p.id for p in index.resolve(world(tmp_path, "    import a:y/api;"), "g")] == [
        "a:x@1.0.0",
        "a:y@1.0.0",
    ]
    with pytest.raises(WitPackageError, match=r"a:x without a version.*a:x@1\.0\.0, a:x@2\.0\.0"):
        index.resolve(world(tmp_path, "    import a:x/types;"), "g")


def test_a_missing_package_is_named(wit: Path, tmp_path: Path) -> None:
    src = world(tmp_path, "    import a:x/types@3.0.0;")
    with pytest.raises(WitPackageError) as info:
        WitIndex(wit).resolve(src, "guest 'g'")
    message = str(info.value)
    assert message.startswith("guest 'g': its WIT refers to a:x@3.0.0, which no package in")
    assert "a-x-3.0.0" in message  # the folder it would be in
    assert "a:x@1.0.0, a:x@2.0.0" in message  # what there is instead


def test_a_package_missing_further_down_names_who_needs_it(wit: Path, tmp_path: Path) -> None:
    write(wit / "a-y-1.0.0" / "api.wit", API.format(v="9.9.9"))
    src = world(tmp_path, "    import a:y/api@1.0.0;")
    with pytest.raises(
        WitPackageError, match=r"a:y@1\.0\.0 \(wit/a-y-1\.0\.0\) refers to a:x@9\.9\.9"
    ):
        WitIndex(wit).resolve(src, "guest")


def test_comments_and_the_sources_own_packages_are_not_looked_up(wit: Path, tmp_path: Path) -> None:
    # the guest's own copy of a package (in its deps/) is its own; references in comments
    # (doc comments included) are no references
    guest = tmp_path / "guest"
    world(tmp_path, "    /// like a:z/nope@1.0.0\n    import a:q/own@1.0.0; // a:z/nope@2.0.0")
    write(guest / "deps" / "a-q-1.0.0" / "own.wit", "package a:q@1.0.0;\ninterface own {}\n")
    assert WitIndex(wit).resolve(guest, "guest") == []


def test_a_package_declared_twice_is_an_error(wit: Path, tmp_path: Path) -> None:
    write(wit / "copy-of-a-x" / "types.wit", TYPES.format(v="1.0.0"))
    src = world(tmp_path, "    import a:x/types@1.0.0;")
    with pytest.raises(WitPackageError, match=r"a:x@1\.0\.0 is declared more than once"):
        WitIndex(wit).resolve(src, "guest")


def test_lay_out_puts_the_packages_under_deps(wit: Path, tmp_path: Path) -> None:
    src = world(tmp_path, "    import a:y/api@1.0.0;")
    deps = WitIndex(wit).resolve(src, "guest")
    dest = lay_out(src, deps, tmp_path / "build" / "wit")
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["deps/a-x-1.0.0/types.wit", "deps/a-y-1.0.0/api.wit", "world.wit"]


def test_lay_out_keeps_the_sources_own_copy_of_a_package(wit: Path, tmp_path: Path) -> None:
    guest = tmp_path / "guest"
    world(tmp_path, "    import a:y/api@1.0.0;")
    own = write(guest / "deps" / "a-y-1.0.0" / "api.wit", API.format(v="1.0.0") + "// mine\n")
    index = WitIndex(wit)
    deps = index.resolve(guest, "guest")
    assert [p.id for p in deps] == ["a:x@1.0.0"]  # a:y is the guest's own
    # even when asked to lay out wit/'s a:y too, the guest's copy stays
    dest = lay_out(guest, index.packages["a:y@1.0.0"] + deps, tmp_path / "out")
    assert (dest / "deps" / "a-y-1.0.0" / "api.wit").read_text() == own.read_text()
    assert (dest / "deps" / "a-x-1.0.0" / "types.wit").is_file()


def _digest(wit: Path, src: Path) -> str:
    h = InputsHash()
    h.add("world.wit", src.read_bytes())
    h.add_packages(WitIndex(wit).resolve(src, "guest"))
    return h.hexdigest()


def test_the_inputs_hash_follows_every_package_file(wit: Path, tmp_path: Path) -> None:
    src = world(tmp_path, "    import a:y/api@1.0.0;")
    before = _digest(wit, src)
    assert _digest(wit, src) == before  # same inputs, same hash
    types = wit / "a-x-1.0.0" / "types.wit"
    types.write_text(types.read_text() + "\n// edited\n")  # a dependency of a dependency
    edited = _digest(wit, src)
    assert edited != before
    write(wit / "a-x-1.0.0" / "more.wit", "interface more {}\n")  # a new file in a package
    assert _digest(wit, src) not in (before, edited)


def test_the_inputs_hash_separates_labels_from_contents() -> None:
    one, two = InputsHash(), InputsHash()
    one.add("ab", b"c")
    two.add("a", b"bc")
    assert one.hexdigest() != two.hexdigest()
