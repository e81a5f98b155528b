"""host.runtime.malloc: glibc's thresholds for large value arrays, applied once, opt-out."""

from __future__ import annotations

import os
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


# Two 32 MiB blocks held at once (a 1 MiB list<u8> as our value array, then as wasmtime's
# own Vec<Val>), allocated, written and freed twice on a new thread; the page faults of the
# second round, in a fresh interpreter.
_THREAD_FAULTS = """
import ctypes, resource, sys, threading
from host.runtime import malloc
if sys.argv[1] == "tuned":
    assert malloc.tune()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size, faults = 32 << 20, []
def rounds():
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        blocks = [libc.malloc(size) for _ in range(2)]
        for block in blocks:
            ctypes.memset(block, 1, size)
        for block in blocks:
            libc.free(block)
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
thread = threading.Thread(target=rounds)
thread.start()
thread.join()
print(faults[1])
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_thread_reuses_a_freed_payload_array() -> None:
    import subprocess
    import sys

    pages = 2 * (32 << 20) // 4096

    def second_round_faults(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _THREAD_FAULTS, mode],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "AGENT_HOST_MALLOC_TUNE": "1"},
        )
        return int(done.stdout)

    # glibc's defaults: a thread's arena cannot hold both, so one is a fresh mapping each
    # time, every page of it faulted again.
    assert second_round_faults("defaults") >= pages // 4
    # Tuned: the thread allocates from the main heap, which keeps the freed blocks.
    assert second_round_faults("tuned") < pages // 8
