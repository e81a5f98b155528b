"""The wasmtime engine and the compiled-code cache.

Compiling an 18 MB componentize-py guest takes seconds; deserializing its
cached machine code (memory-mapped) takes milliseconds. The cache is keyed by
the component's content hash and by everything that makes compiled code
incompatible: the wasmtime version and the engine configuration.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime
import wasmtime.component as wc

from host.errors import InvalidComponent

# The engine's epoch advances every tick; a store's deadline is counted in ticks.
EPOCH_TICK_S = 0.05
# Everything that makes compiled code incompatible: the wasmtime version and the Config.
ENGINE_FINGERPRINT = f"wasmtime-{importlib.metadata.version('wasmtime')}-epoch-fuel"


def make_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    # Epoch interruption lets the host stop a guest that loops forever; fuel bounds the
    # work of one invocation where a deadline alone is too coarse (a limit per agent).
    config.epoch_interruption = True
    config.consume_fuel = True
    return wasmtime.Engine(config)


class EpochTicker:
    """Advances an engine's epoch from a daemon thread."""

    def __init__(self, engine: wasmtime.Engine) -> None:
        self._engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="epoch-ticker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(EPOCH_TICK_S):
            self._engine.increment_epoch()

    def stop(self) -> None:
        self._stop.set()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ComponentCache:
    """Compiled components in memory and on disk, by content hash."""

    def __init__(self, engine: wasmtime.Engine, cache_dir: Path) -> None:
        self.engine = engine
        self.cache_dir = cache_dir
        self._memory: dict[str, wc.Component] = {}
        self._lock = threading.Lock()

    def _path(self, hash: str) -> Path:
        return self.cache_dir / f"{hash}.{ENGINE_FINGERPRINT}.{sys.platform}.cwasm"

    def load(
        self,
        hash: str,
        wasm: Callable[[], bytes],
        progress: Callable[[str], None] | None = None,
        validate: Callable[[wc.Component], object] | None = None,
    ) -> wc.Component:
        """The compiled component for ``hash``; ``wasm`` supplies the bytes on a cache miss.
        ``validate`` may refuse a freshly compiled component before anything is cached."""
        with self._lock:
            cached = self._memory.get(hash)
            if cached is not None:
                return cached
            path = self._path(hash)
            component: wc.Component | None = None
            if path.exists():
                try:
                    component = wc.Component.deserialize_file(self.engine, str(path))
                except wasmtime.WasmtimeError:
                    path.unlink(missing_ok=True)  # stale or damaged: compile again
            if component is None:
                component = self._compile(hash, wasm(), progress)
                if validate is not None:
                    validate(component)
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
                tmp.write_bytes(component.serialize())
                os.replace(tmp, path)
            self._memory[hash] = component
            return component

    def _compile(
        self, hash: str, data: bytes, progress: Callable[[str], None] | None
    ) -> wc.Component:
        done = threading.Event()
        if progress is not None:
            start = time.monotonic()

            def report() -> None:
                progress(f"compiling component {hash[:12]} ({len(data) / 1e6:.1f} MB)...")
                while not done.wait(1.0):
                    progress(f"  still compiling, {time.monotonic() - start:.0f} s")

            threading.Thread(target=report, daemon=True).start()
        try:
            return wc.Component(self.engine, data)
        except wasmtime.WasmtimeError as exc:
            raise InvalidComponent(
                f"not a valid WebAssembly component: {_first_line(exc)}"
            ) from None
        finally:
            done.set()


def _first_line(exc: BaseException) -> str:
    """The message's first line, with its root cause (wasmtime's last "Caused by" line)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[0] + (f": {lines[-1]}" if len(lines) > 1 else "")
