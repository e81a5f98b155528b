"""The resource instances an agent owns, read from its oplog alone (no instance, no wasm).

Golem's agent metadata lists the instances of exported resources an agent holds
(``exportedResourceInstances``: key, created at, the owning interface and the resource's
name), kept from the oplog's create/drop-resource entries. agent-host records no entries
of its own for them: the numbers are given by :class:`host.runtime.handles.ExportedResources`
in the order the guest creates instances, and a replay, which re-runs the invocations in
order, gives each the same number. So the same walk over the finished invocations, with
their recorded parameters and results, yields the table a replay would build: a handle in
a result is a new instance, an owned handle passed in is moved into the guest, a drop
forgets one, and a call on an indexed resource (``{counter("c1").inc-by}``) makes its
instance on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from host.errors import HostError
from host.oplog import Entry, InvocationFinished, InvocationStarted, Jump
from host.runtime.exports import Export
from host.values.resources import has_resource, map_resources
from host.values.types import ResourceRef, ResourceT, Value, WitType
from host.values.wave import parse_value


@dataclass(frozen=True)
class OwnedResource:
    """One live instance of an exported resource: Golem's agent-resource-id and
    agent-resource-description."""

    key: int
    resource_owner: str  # the exported interface (empty for a world-level resource)
    resource_name: str
    created_at: int  # ns since the epoch: when the invocation that made it finished


class _Table:
    def __init__(self) -> None:
        self.next = 0
        self.live: dict[int, OwnedResource] = {}
        self.indexed: dict[tuple[str, tuple[str, ...]], int] = {}

    def add(self, owner: str, name: str, at: int) -> int:
        key = self.next
        self.next += 1
        self.live[key] = OwnedResource(key, owner, name, at)
        return key

    def forget(self, key: int) -> None:
        self.live.pop(key, None)
        for index, number in list(self.indexed.items()):
            if number == key:
                del self.indexed[index]


def owned_resources(
    entries: Sequence[Entry], resolve: Callable[[str], Export]
) -> list[OwnedResource]:
    """The instances alive after the finished invocations of ``entries`` (an agent's
    oplog), by key; ``resolve`` names an invocation's export (the agent's component).
    Invocations whose export or recorded values no longer resolve are passed over."""
    deleted = [(e.start, e.end) for e in entries if isinstance(e, Jump)]
    started: dict[str, InvocationStarted] = {}
    exports: dict[str, Export | None] = {}  # an agent calls few functions, many times
    table = _Table()
    for index, entry in enumerate(entries, start=1):
        if any(start <= index <= end for start, end in deleted):
            continue
        if isinstance(entry, InvocationStarted):
            started[entry.invocation_id] = entry
        elif isinstance(entry, InvocationFinished) and entry.invocation_id in started:
            call = started.pop(entry.invocation_id)
            if call.function not in exports:
                try:
                    exports[call.function] = resolve(call.function)
                except HostError:
                    exports[call.function] = None
            export = exports[call.function]
            if export is None:
                continue
            try:
                _apply(table, export, call, entry)
            except (HostError, ValueError):
                continue
    return [table.live[k] for k in sorted(table.live)]


def _owner(export: Export) -> str:
    return export.path[0] if len(export.path) > 1 else ""


def _refs(value: Value, ty: WitType, own_only: bool = False) -> list[tuple[int, ResourceT]]:
    found: list[tuple[int, ResourceT]] = []

    def seen(handle: Value, rty: ResourceT) -> Value:
        if isinstance(handle, ResourceRef) and (rty.own or not own_only):
            found.append((handle.id, rty))
        return handle

    map_resources(value, ty, seen)
    return found


def _apply(
    table: _Table, export: Export, call: InvocationStarted, done: InvocationFinished
) -> None:
    """What :func:`host.runtime.handles.call_export` did to the table in this call."""
    at = done.timestamp
    owner = _owner(export)
    target: int | None = None
    if export.ctor is not None and export.resource is not None:
        key = (export.resource, export.ctor_params)
        target = table.indexed.get(key)
        if target is None:
            target = table.add(owner, export.resource, at)
            table.indexed[key] = target
    if export.drop:
        if target is None:
            given = parse_value(call.params[0], export.sig.param_types[0])
            if not isinstance(given, ResourceRef):
                return
            target = given.id
        table.forget(target)
        return
    # Only values whose type may hold a handle are parsed: most invocations have none.
    for param, ty in zip(call.params, export.sig.param_types, strict=True):
        if has_resource(ty):
            for moved, _ in _refs(parse_value(param, ty), ty, own_only=True):
                table.forget(moved)  # moved into the guest
    result_ty = export.sig.result
    if result_ty is None or done.result is None or not has_resource(result_ty):
        return
    if export.ctor and export.path == export.ctor.path:
        return  # {r(params).new} returns the indexed instance itself
    for _key, rty in _refs(parse_value(done.result, result_ty), result_ty):
        table.add(owner, rty.name, at)
