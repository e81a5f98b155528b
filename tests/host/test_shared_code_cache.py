"""AGENT_HOST_CODE_CACHE: data directories that name one compiled-code directory share it,
so a component compiled for one store is not compiled again for another."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.service import HostService
from tests.fixtures.build import build_fixture


def _add(store: Path) -> list[str]:
    host = HostService(store)
    progress: list[str] = []
    host.registry.progress = progress.append
    try:
        host.add_component(build_fixture("promises-1.3.0"), "p")
    finally:
        host.close()
    return progress


def test_stores_share_the_named_code_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "code"
    monkeypatch.setenv("AGENT_HOST_CODE_CACHE", str(shared))
    assert any("compiling component" in line for line in _add(tmp_path / "one"))
    assert list(shared.glob("*.cwasm"))
    assert not (tmp_path / "one" / "cache").exists()
    assert _add(tmp_path / "two") == []  # the second store compiled nothing


def test_without_it_each_store_has_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENT_HOST_CODE_CACHE", raising=False)
    assert any("compiling component" in line for line in _add(tmp_path / "one"))
    assert list((tmp_path / "one" / "cache").glob("*.cwasm"))
    assert any("compiling component" in line for line in _add(tmp_path / "two"))
