"""Keep large value arrays in the heap instead of fresh mappings (glibc only).

A 1 MiB ``list<u8>`` crosses wasmtime's C API as a million 32-byte values: a 32 MiB array
allocated and freed by wasmtime (and another as Rust's own ``Vec<Val>``) for every payload.
glibc serves blocks that large with ``mmap`` and returns them with ``munmap`` at once, so
each payload page-faults 64 MiB of fresh memory: measured here, allocating one such array
took 250-310 ms on a loaded 2-core machine, and 30-90 ms once glibc kept it in its heap.

:func:`tune` raises glibc's mmap threshold to 64 MiB (payloads up to 2 MiB reuse heap
memory) and lets up to 128 MiB of free memory stay at the top of the heap before it is
given back, so a process that handled a large payload keeps up to that much resident.

It also keeps every thread on glibc's main heap (one arena). Agents run on pool threads,
and a thread's own arena is a 64 MiB mapping that cannot hold a 32 MiB array next to
anything else: glibc then maps the array afresh and unmaps it on free, whatever the
thresholds, so every payload page-faulted its 8,192 pages again (measured with
scripts/trace_payload.py: 34 ms CPU lowering a 1 MiB payload on a pool thread, 15 ms on
the main heap, the faults gone). The price is one heap lock for all threads; Python's own
small objects do not take it (pymalloc), and wasm code rarely calls malloc.
``agent-host serve`` calls it before it starts a thread; ``AGENT_HOST_MALLOC_TUNE=0``
leaves glibc's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 64 << 20
TRIM_THRESHOLD = 128 << 20
ARENA_MAX = 1
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters

_tuned = False


def tune() -> bool:
    """Apply the thresholds once per process; whether they are in effect."""
    global _tuned
    if _tuned:
        return True
    if os.environ.get("AGENT_HOST_MALLOC_TUNE", "1") in ("0", "false", "no"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc: nothing to tune
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    if not (
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        and mallopt(_M_ARENA_MAX, ARENA_MAX)
    ):
        log.warning("mallopt refused the thresholds; large payloads page-fault fresh memory")
        return False
    _tuned = True
    return True
