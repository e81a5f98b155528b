"""host.runtime.malloc: glibc's thresholds for large value arrays, applied once, opt-out."""

from __future__ import annotations

import platform

import pytest

from host.runtime import malloc


def test_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(malloc, "_tuned", False)
    monkeypatch.setenv("AGENT_HOST_MALLOC_TUNE", "0")
    assert malloc.tune() is False
    assert malloc._tuned is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_applied_once_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(malloc, "_tuned", False)
    monkeypatch.delenv("AGENT_HOST_MALLOC_TUNE", raising=False)
    assert malloc.tune() is True
    assert malloc._tuned is True
    assert malloc.tune() is True  # already in effect
