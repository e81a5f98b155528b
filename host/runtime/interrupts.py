"""Stopping a running guest from outside: its deadline, shutdown, or a user's interrupt.

wasmtime checks a store's epoch deadline at function entries and loop back-edges, but it
keeps the deadline it read in a register while a function runs, so lowering the deadline
of a running store from another thread does not stop a tight loop (measured: a
``(loop br 0)`` ran on to its old deadline). Instead every store's deadline is one epoch
tick away, and at each tick wasmtime calls back into :class:`StoreWatch`, which decides:
go on for another tick, or trap because the invocation is past its wall-clock deadline,
the host is shutting down, or someone asked to interrupt this agent. A running guest
is therefore stopped within a tick (``EPOCH_TICK_S``) of the request, whatever it runs.
The callback is wasmtime's ``wasmtime_store_epoch_deadline_callback``, which wasmtime-py
binds in its FFI layer but does not wrap.
"""

from __future__ import annotations

import ctypes
import time
import weakref
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from host.limits import Limits

# The trap messages; "interrupt" in the deadline's is what host.runtime.failures matches.
DEADLINE_TRAP = "wasm trap: interrupt (the invocation's time limit)"
SHUTDOWN_TRAP = "wasm trap: interrupt (the host is shutting down)"
REQUESTED_TRAP = "agent-host: the agent was interrupted by request"

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_NO_FINALIZER = _FINALIZER()  # a null function pointer: nothing to free
_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE


class StoreWatch:
    """The epoch callback of one store, and what it checks at every tick."""

    def __init__(self, wstore: wasmtime.Store, stopping: Callable[[], bool]) -> None:
        self.stopping = stopping
        self.expires_ns: int | None = None  # time.monotonic_ns past which the call traps
        self.interrupted = False  # set from another thread: trap at the next tick
        self.restart = False  # with it: run again at once (an automatic update waits)
        self._callback = _CALLBACK(self._tick)  # kept alive as long as the store
        ffi.wasmtime_store_epoch_deadline_callback(
            wstore.ptr(), self._callback, None, _NO_FINALIZER
        )
        wstore.set_epoch_deadline(1)

    def arm(self, wstore: wasmtime.Store, deadline_s: float) -> None:
        """A new call starts: its deadline counts from now."""
        self.expires_ns = time.monotonic_ns() + int(deadline_s * 1e9)
        self.interrupted = False  # a request that came after the last call had ended
        self.restart = False
        wstore.set_epoch_deadline(1)

    def trap_reason(self) -> str | None:
        if self.interrupted:
            return REQUESTED_TRAP
        if self.stopping():
            return SHUTDOWN_TRAP
        if self.expires_ns is not None and time.monotonic_ns() > self.expires_ns:
            return DEADLINE_TRAP
        return None

    def _tick(self, _ctx: Any, _data: Any, delta: Any, kind: Any) -> int:
        try:
            reason = self.trap_reason()
        except Exception:  # never raise into wasmtime's frames
            reason = DEADLINE_TRAP
        if reason is None:
            delta[0] = 1
            kind[0] = _CONTINUE
            return 0
        error = ffi.wasmtime_error_new(ctypes.create_string_buffer(reason.encode()))
        return int(ctypes.cast(error, ctypes.c_void_p).value or 0)


class StoppedWaiting(Exception):  # noqa: N818
    """A host call's wait (an in-function retry's sleep) ended by an interrupt or a
    shutdown: it carries the epoch trap's message, so the executor treats it as that trap
    (an interrupted invocation stays started; a resume or the next start replays it)."""


def sleep_unless_stopped(watch: StoreWatch | None, seconds: float) -> None:
    """Sleep ``seconds`` in host code, waking within a few milliseconds if the guest's
    watch would trap at its next epoch tick (interrupt, update restart, shutdown): the
    same check the epoch callback makes, which cannot run while a host call sleeps.
    Raises StoppedWaiting with the trap's message then. The deadline is the session's
    (check_deadline)."""
    end = time.monotonic() + seconds
    while True:
        if watch is not None:
            reason = watch.trap_reason()
            if reason is not None and reason != DEADLINE_TRAP:
                raise StoppedWaiting(reason)
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(_WAIT_SLICE_S, left))


_WAIT_SLICE_S = 0.01


def was_requested(exc: BaseException) -> bool:
    """Whether a trap is an interrupt somebody asked for (not a limit, not shutdown)."""
    return REQUESTED_TRAP in str(exc)


_WATCHES: weakref.WeakKeyDictionary[wasmtime.Store, StoreWatch] = weakref.WeakKeyDictionary()
_UNLIMITED_FUEL = 2**62
_LONGEST_DEADLINE_S = 86_400.0


def watch_store(wstore: wasmtime.Store, owner: object, stopping_attr: str) -> StoreWatch:
    """Give the store its watch; ``getattr(owner, stopping_attr)`` says the host is
    shutting down. The owner is held weakly: the watch lives as long as the store, and
    must not keep it alive through the owner's kept instances."""
    ref = weakref.ref(owner)

    def stopping() -> bool:
        target = ref()
        return target is not None and bool(getattr(target, stopping_attr))

    watch = _WATCHES[wstore] = StoreWatch(wstore, stopping)
    return watch


def watch_of(wstore: wasmtime.Store) -> StoreWatch | None:
    return _WATCHES.get(wstore)


def arm(wstore: wasmtime.Store, limits: Limits) -> None:
    """Give the store a fresh deadline and fuel for the next call."""
    watch = _WATCHES.get(wstore)
    if watch is None:  # a store made elsewhere: only its deadline stops it
        watch = _WATCHES[wstore] = StoreWatch(wstore, lambda: False)
    watch.arm(wstore, min(limits.deadline_s, _LONGEST_DEADLINE_S))
    wstore.set_fuel(limits.fuel if limits.fuel is not None else _UNLIMITED_FUEL)
