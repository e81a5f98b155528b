"""The resource instances an agent's component exports, and calls that use them.

A guest's resource lives in its instance's memory; the host holds the handle and
names it to callers by a number (Golem's worker resource id, from 0, with the agent's
``urn:worker:`` uri). Numbers are given in the order the guest creates instances, so a
replay, which re-executes the same invocations in the same order on a fresh instance,
gives every instance the number it had: a handle created by invocation 1 and used by
invocation 3 after the agent was suspended and replayed is the same object.
"""

from __future__ import annotations

from typing import Any

import wasmtime
import wasmtime.component as wc

from host.errors import HostError
from host.ids import AgentId
from host.runtime import fastvalues
from host.runtime.exports import Export
from host.runtime.typeconv import from_wasmtime, to_wasmtime
from host.values.resources import has_resource, map_resources
from host.values.types import FuncSig, Handle, ResourceRef, ResourceT, Value, WitType
from host.values.wave import parse_value


class UnknownResource(HostError):
    """An invocation named a resource instance the agent does not have."""


def agent_uri(agent: AgentId) -> str:
    """Golem's uri of an agent in a handle: ``urn:worker:<component id>/<agent name>``."""
    return f"urn:worker:{agent.component_id}/{agent.name}"


class ExportedResources:
    """One instance's table of exported resource instances, by number."""

    def __init__(self, agent: AgentId) -> None:
        self.agent = agent
        self.uri = agent_uri(agent)
        self._live: dict[int, tuple[str, Any]] = {}  # number -> (resource name, handle)
        self._next = 0
        # Indexed instances (Golem's `{counter("c1").inc-by}`): (resource, constructor
        # parameters) -> number.
        self.indexed: dict[tuple[str, tuple[str, ...]], int] = {}

    def add(self, resource: str, handle: Any) -> ResourceRef:
        number = self._next
        self._next += 1
        self._live[number] = (resource, handle)
        return ResourceRef(number, self.uri)

    def get(self, ref: ResourceRef, ty: ResourceT) -> Any:
        if ref.uri and ref.uri != self.uri:
            raise UnknownResource(
                f"the handle {ref.text} belongs to another agent, not {self.agent}"
            )
        found = self._live.get(ref.id)
        if found is None:
            raise UnknownResource(
                f"agent {self.agent} has no {ty.name} {ref.id}: it was dropped or never "
                "created (handles are numbered from 0 in the order the agent creates them)"
            )
        if found[0] != ty.name and ty.name != "resource":
            raise UnknownResource(
                f"resource {ref.id} of agent {self.agent} is a {found[0]}, not a {ty.name}"
            )
        return found[1]

    def forget(self, ref: ResourceRef) -> None:
        self._live.pop(ref.id, None)
        for key, number in list(self.indexed.items()):
            if number == ref.id:
                del self.indexed[key]

    def live(self) -> list[tuple[int, str]]:
        """(number, resource name) of every live instance."""
        return sorted((n, r) for n, (r, _) in self._live.items())


def call_export(
    table: ExportedResources,
    wstore: wasmtime.Store,
    instance: wc.Instance,
    export: Export,
    values: list[Value],
    get_func: Any,
) -> Value:
    """Call ``export`` with typed values whose handles are references into ``table``;
    returns its result with the handles it holds entered in the table. Raises what the
    guest raises, and UnknownResource for a handle the agent does not have."""
    if export.ctor is not None:
        ref = _indexed(table, wstore, instance, export, get_func)
        if export.drop:
            _drop(table, wstore, ref, ResourceT(export.resource or "resource"))
            return None
        if export.path == export.ctor.path:
            return ref  # {r(params).new}: the indexed instance itself
        values = [ref, *values]
        target_types: list[WitType] = [ResourceT(export.resource or "", own=False)]
        target_types += export.sig.param_types
    else:
        target_types = list(export.sig.param_types)
    if export.drop:
        given = values[0]
        assert isinstance(given, ResourceRef)
        _drop(table, wstore, given, ResourceT(export.resource or "resource"))
        return None
    consumed: list[ResourceRef] = []

    def lower(value: Value, ty: ResourceT) -> Value:
        if not isinstance(value, ResourceRef):
            return value
        if ty.own:
            consumed.append(value)  # moved into the guest
        return Handle(table.get(value, ty))

    raw = [
        to_wasmtime(map_resources(v, t, lower) if has_resource(t) else v, t)
        for v, t in zip(values, target_types, strict=True)
    ]
    func = get_func(wstore, instance, export)
    called = FuncSig(export.name, tuple(("", t) for t in target_types), export.sig.result)
    result = fastvalues.call(func, wstore, called, *raw)
    func.post_return(wstore)
    for ref in consumed:
        table.forget(ref)
    ty = export.sig.result
    if ty is None:
        return None
    return _lift(table, from_wasmtime(result, ty), ty)


def _lift(table: ExportedResources, value: Value, ty: WitType) -> Value:
    def enter(handle: Value, rty: ResourceT) -> Value:
        assert isinstance(handle, Handle)
        return table.add(rty.name, handle.resource)

    return map_resources(value, ty, enter)


def _indexed(
    table: ExportedResources,
    wstore: wasmtime.Store,
    instance: wc.Instance,
    export: Export,
    get_func: Any,
) -> ResourceRef:
    """The agent's instance of an indexed resource, constructed on first use."""
    ctor = export.ctor
    assert ctor is not None and export.resource is not None
    key = (export.resource, export.ctor_params)
    number = table.indexed.get(key)
    if number is not None:
        return ResourceRef(number, table.uri)
    args = [
        parse_value(p, t) for p, t in zip(export.ctor_params, ctor.sig.param_types, strict=True)
    ]
    ref = call_export(table, wstore, instance, ctor, args, get_func)
    assert isinstance(ref, ResourceRef)
    table.indexed[key] = ref.id
    return ref


def _drop(
    table: ExportedResources, wstore: wasmtime.Store, ref: ResourceRef, ty: ResourceT
) -> None:
    handle = table.get(ref, ty)
    table.forget(ref)
    handle.drop(wstore)  # the guest's destructor runs
