"""The component registry: component files, their compiled code, linkers and export tables.

A component is registered once (checked: a component, every import provided), kept as
``<data dir>/components/<hash>.wasm`` and compiled once into the compiled-code cache.
Everything here is keyed by the content hash of the (poll-wrapped) component, so two
processes sharing a data directory agree on it without talking to each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as wc

from host.agents.model import AgentType, agent_types_from_json, agent_types_to_json
from host.errors import InvalidComponent, InvalidInput
from host.ids import AgentId
from host.limits import Limits
from host.runtime import fastvalues
from host.runtime.agentproto import agent_types_from_discovery, export_name, guest_generation
from host.runtime.engine import ComponentCache, content_hash
from host.runtime.exports import Export, drop_export, resolve_resource_call
from host.runtime.linking import build_linker
from host.runtime.pollshim import with_poll_shim
from host.runtime.removed import refuse_removed
from host.runtime.session import Session, set_current
from host.runtime.typeconv import from_wasmtime, func_sig
from host.store import ComponentRecord, Store

__all__ = ["ComponentRegistry", "Export", "first_line", "get_func"]


class ComponentRegistry:
    """Registered components of one data directory, compiled and linked on demand."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        store: Store,
        data_dir: Path,
        *,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.components_dir = data_dir / "components"
        # AGENT_HOST_CODE_CACHE: one compiled-code directory shared by several data
        # directories (the test suite sets it, so each 20 MB guest compiles once per run;
        # entries are keyed by content hash and engine, written by atomic rename).
        shared = os.environ.get("AGENT_HOST_CODE_CACHE")
        self.cache = ComponentCache(engine, Path(shared) if shared else data_dir / "cache")
        self.progress = progress
        self._linkers: dict[str, wc.Linker] = {}
        self._exports: dict[str, dict[str, Export]] = {}
        self._agent_types: dict[str, list[AgentType] | None] = {}
        # How scratch instances get a wasmtime store and limits (the executor's; set by
        # the service), for discover-agent-types at registration.
        self.scratch_store: tuple[Callable[[Limits], wasmtime.Store], Limits] | None = None

    # -- registration -------------------------------------------------------------------
    def add(
        self, path: Path | str, name: str | None = None, display: str | None = None
    ) -> ComponentRecord:
        """Register a component file; refuses files that are not components or that import
        what the host does not provide, naming every missing import."""
        path = Path(path)
        shown = display or str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {shown}: {exc.strerror}") from None
        return self._add(data, name or path.stem, shown)

    def add_bytes(self, data: bytes, name: str) -> ComponentRecord:
        """Register a component from its bytes (an HTTP upload)."""
        return self._add(data, name, "the uploaded file")

    def _add(self, data: bytes, name: str, shown: str) -> ComponentRecord:
        if not data.startswith(b"\0asm"):
            raise InvalidComponent(f"{shown} is not a WebAssembly file (no \\0asm header)")
        if data[4:8] == b"\1\0\0\0":
            raise InvalidComponent(
                f"{shown} is a core WebAssembly module, not a component; wrap it with "
                "`wasm-tools component new`"
            )
        size = len(data)
        data = with_poll_shim(data, self.progress)
        hash = content_hash(data)

        def validate(component: wc.Component) -> None:
            refuse_removed(component, self.engine, shown)
            self.linker(hash, component)

        component = self.cache.load(hash, lambda: data, self.progress, validate=validate)
        validate(component)
        self.components_dir.mkdir(parents=True, exist_ok=True)
        target = self.components_dir / f"{hash}.wasm"
        if not target.exists():
            tmp_path = target.with_suffix(f".tmp{uuid.uuid4().hex[:6]}")
            tmp_path.write_bytes(data)
            tmp_path.replace(target)
        generation = guest_generation(set(self.exports(hash)))
        if generation is not None and self.store.get_agent_types(hash) is None:
            # Refused before it is registered: a guest that traps or answers an
            # agent-error, or a type the host cannot serve, names the reason.
            raw = self._scratch(
                hash, uuid.UUID(int=0), export_name(generation, "discover-agent-types")
            )
            types = agent_types_from_discovery(raw, generation, shown)
            self.store.set_agent_types(hash, agent_types_to_json(types))
            self._agent_types[hash] = types
        return self.store.add_component(name, hash, size)

    def guest_generation(self, hash: str) -> str:
        """The agent guest protocol an agent component exports ("1.5" or "1.4")."""
        generation = guest_generation(set(self.exports(hash)))
        if generation is None:
            raise InvalidInput("not an agent component: it exports no golem:agent/guest")
        return generation

    def agent_types(self, hash: str) -> list[AgentType] | None:
        """The agent types of an agent component file (None for a plain component)."""
        if hash in self._agent_types:
            return self._agent_types[hash]
        text = self.store.get_agent_types(hash)
        # Kept either way, None too: a file's agent types are fixed by its bytes and
        # recorded when it is registered, before any agent of it runs (this is read at
        # every invocation's end, by the snapshotting policy).
        types = None if text is None else agent_types_from_json(text)
        self._agent_types[hash] = types
        return types

    # -- compiled code and linking ---------------------------------------------------------
    def component(self, hash: str) -> wc.Component:
        path = self.components_dir / f"{hash}.wasm"
        return self.cache.load(hash, path.read_bytes, self.progress)

    def linker(self, hash: str, component: wc.Component | None = None) -> wc.Linker:
        linker = self._linkers.get(hash)
        if linker is None:
            linker = build_linker(self.engine, component or self.component(hash))
            self._linkers[hash] = linker
        return linker

    # -- exports ------------------------------------------------------------------------
    def exports(self, hash: str) -> dict[str, Export]:
        """Every exported function by its qualified name (and unambiguous short aliases)."""
        table = self._exports.get(hash)
        if table is not None:
            return table
        component = self.component(hash)
        found: list[Export] = []
        for name, ext in component.type.exports(self.engine).items():
            ty = ext.ty
            if isinstance(ty, wc.FuncType):
                found.append(Export(name, (name,), func_sig(name, ty)))
            elif isinstance(ty, wc.ComponentInstanceType):
                items = ty.exports(self.engine).items()
                resources = [(r, x.ty) for r, x in items if isinstance(x.ty, wc.ResourceType)]
                for fname, fext in items:
                    if isinstance(fext.ty, wc.FuncType):
                        qualified = f"{name}.{{{fname}}}"
                        sig = func_sig(qualified, fext.ty, resources)
                        owner = fname.partition("]")[2].split(".")[0] if "]" in fname else None
                        found.append(Export(qualified, (name, fname), sig, owner))
                found.extend(drop_export(name, r) for r, _ in resources)
        table = {e.name: e for e in found}
        aliases: dict[str, list[Export]] = {}
        for e in found:
            if len(e.path) == 2:
                for alias in (f"{e.path[0]}#{e.path[1]}", f"{e.path[0]}.{e.path[1]}", e.path[1]):
                    aliases.setdefault(alias, []).append(e)
        for alias, targets in aliases.items():
            if alias not in table and len(targets) == 1:
                table[alias] = targets[0]
        self._exports[hash] = table
        return table

    def functions(self, hash: str) -> list[Export]:
        """Every exported function once (no aliases), by name."""
        unique = {e.name: e for e in self.exports(hash).values()}
        return sorted(unique.values(), key=lambda e: e.name)

    def resolve_export(self, hash: str, function: str) -> Export:
        table = self.exports(hash)
        export = table.get(function)
        if export is None:
            export = resolve_resource_call(table, function)
        if export is None:
            names = sorted({e.name for e in table.values()})
            raise InvalidInput(
                f"the component exports no function {function!r}; it exports: "
                + (", ".join(names) or "nothing"),
                field="function",
            )
        return export

    # -- throwaway instances -------------------------------------------------------------
    def call_scratch(
        self,
        record: ComponentRecord,
        function: str,
        new_store: Callable[[Limits], wasmtime.Store],
        limits: Limits,
    ) -> Any:
        """Call a parameterless export on a throwaway instance that is not an agent (no
        oplog); returns its result as a value. Used to read endpoint definitions."""
        return self._scratch(record.hash, uuid.UUID(record.id), function, (new_store, limits))

    def _scratch(
        self,
        hash: str,
        component_id: uuid.UUID,
        function: str,
        how: tuple[Callable[[Limits], wasmtime.Store], Limits] | None = None,
    ) -> Any:
        how = how or self.scratch_store
        if how is None:
            raise RuntimeError("the registry has no scratch store configured")
        new_store, limits = how
        component = self.component(hash)
        linker = self.linker(hash, component)
        export = self.resolve_export(hash, function)
        session = Session(AgentId(component_id, "scratch"), self.store, [])
        session.scratch = True
        session.limits = limits.merged({"deadline_s": 10.0})
        wstore = new_store(session.limits)
        set_current(session)
        try:
            instance = linker.instantiate(wstore, component)
            func = get_func(wstore, instance, export)
            raw = fastvalues.call(func, wstore, export.sig)
            value = None if export.sig.result is None else from_wasmtime(raw, export.sig.result)
            func.post_return(wstore)
            return value
        except Exception as exc:
            cause = session.raised or exc
            raise InvalidComponent(
                f"calling {function} on the component failed: {first_line(cause)}"
            ) from None
        finally:
            set_current(None)


def get_func(wstore: wasmtime.Store, instance: wc.Instance, export: Export) -> Any:
    index: wc.ExportIndex | None = None
    for part in export.path:
        index = instance.get_export_index(wstore, part, index)
        if index is None:
            raise InvalidInput(f"export {export.name} not found in the instance")
    assert index is not None
    func = instance.get_func(wstore, index)
    if func is None:
        raise InvalidInput(f"export {export.name} is not a function")
    return func


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
