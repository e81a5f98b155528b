"""The exported ``golem:agent/guest@1.5.0``: ``discover-agent-types``, ``get-definition``,
``initialize`` and ``invoke`` over the ``@agent`` classes of the component.

:class:`Runtime` does the work on neutral data (no bindings: the unit tests drive it);
:class:`Guest` is the class componentize-py instantiates for the export (``@agent``
places it in the app module), converting bindings to neutral data and back
(:mod:`agent_sdk._convert`) and failures to ``agent-error``:

* an unknown agent type, or ``initialize`` twice: ``invalid-type``;
* an unknown method: ``invalid-method``;
* an input that does not fit the schema: ``invalid-input`` naming the parameter;
* an exception raised by the agent's code (or a return value that does not fit its
  hint): ``custom-error`` carrying the message as a string, as golem-ts does.

State is the instance ``initialize`` made; after a suspension or a restart the host
rebuilds it by replaying ``initialize`` and the invocations.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import _bindings as b
from . import _convert as c
from .definition import AgentType, InputError, Principal, agent_types
from .loop import run as _run_loop
from .wit import ValueMismatch

__all__ = ["AgentFailure", "Guest", "LoadSnapshot", "Runtime", "SaveSnapshot", "principal_of"]


class AgentFailure(Exception):
    """An ``agent-error``: ``case`` is its WIT case, ``message`` the text."""

    def __init__(self, case: str, message: str) -> None:
        super().__init__(f"{case}: {message}")
        self.case = case
        self.message = message

    def neutral(self) -> tuple[str, Any]:
        if self.case != "custom-error":
            return (self.case, self.message)
        typ = {"nodes": [{"name": None, "owner": None, "type": ("prim-string-type", None)}]}
        return ("custom-error", {"value": {"nodes": [("prim-string", self.message)]}, "typ": typ})


def principal_of(neutral: tuple[str, Any]) -> Principal:
    """A ``principal`` (neutral data) as :class:`Principal`."""
    kind, detail = neutral
    if kind == "agent":
        agent_id = detail["agent_id"]
        return Principal("agent", agent_id["agent_id"])
    if kind == "oidc":
        return Principal("oidc", detail["sub"])
    if kind == "golem-user":
        halves = detail["account_id"]["uuid"]
        return Principal("golem-user", f"{halves['high_bits']:016x}{halves['low_bits']:016x}")
    return Principal()


def _run(result: Any) -> Any:
    if asyncio.iscoroutine(result):
        return _run_loop(result)  # the old SDK's asyncio loop over wasi:io/poll
    return result


def _failure(exc: Exception) -> AgentFailure:
    return AgentFailure("custom-error", f"{type(exc).__name__}: {exc}")


class Runtime:
    """One component instance's agent: which type, and the instance ``initialize`` made."""

    def __init__(self, types: list[AgentType] | None = None) -> None:
        self._types = types  # default: every @agent class of the component
        self.agent_type: AgentType | None = None
        self.instance: Any = None

    def known(self) -> list[AgentType]:
        return agent_types() if self._types is None else self._types

    def discover(self) -> list[dict[str, Any]]:
        return [t.definition() for t in self.known()]

    def definition(self) -> dict[str, Any]:
        if self.agent_type is not None:
            return self.agent_type.definition()
        known = self.known()
        if not known:
            raise AgentFailure("invalid-type", "this component defines no @agent class")
        return known[0].definition()

    def initialize(self, type_name: str, data: tuple[str, Any], principal: Principal) -> None:
        known = {t.name: t for t in self.known()}
        if self.agent_type is not None:
            raise AgentFailure(
                "invalid-type", f"this agent is already initialized as {self.agent_type.name}"
            )
        chosen = known.get(type_name)
        if chosen is None:
            raise AgentFailure(
                "invalid-type",
                f"no agent type {type_name!r} here (known: {', '.join(known) or 'none'})",
            )
        try:
            args = chosen.constructor.decode_input(data, principal)
        except InputError as exc:
            raise AgentFailure("invalid-input", str(exc)) from None
        try:
            self.instance = chosen.cls(**args)
        except Exception as exc:
            raise _failure(exc) from None
        self.agent_type = chosen

    def save(self) -> bytes:
        """The snapshot of the agent: a header naming its type, then its save_snapshot()."""
        if self.agent_type is None:
            raise AgentFailure("invalid-type", "the agent is not initialized: nothing to save")
        hook = getattr(self.instance, "save_snapshot", None)
        if hook is None:
            raise AgentFailure(
                "invalid-type", f"{self.agent_type.name} defines no save_snapshot: no snapshots"
            )
        data = hook()
        if not isinstance(data, bytes | bytearray):
            raise AgentFailure(
                "custom-error", f"{self.agent_type.name}.save_snapshot returned {type(data)!r}"
            )
        return SNAPSHOT_MAGIC + self.agent_type.name.encode() + b"\n" + bytes(data)

    def load(self, payload: bytes) -> None:
        """A fresh instance of the snapshot's type (without ``__init__``) given the
        state through its load_snapshot(data); AgentFailure if it cannot be."""
        if not payload.startswith(SNAPSHOT_MAGIC) or b"\n" not in payload:
            raise AgentFailure("invalid-input", "not a snapshot saved by agent_sdk")
        name, _, data = payload[len(SNAPSHOT_MAGIC) :].partition(b"\n")
        chosen = {t.name: t for t in self.known()}.get(name.decode(errors="replace"))
        if chosen is None or not callable(getattr(chosen.cls, "load_snapshot", None)):
            raise AgentFailure("invalid-type", f"no agent type {name!r} with load_snapshot here")
        instance: Any = object.__new__(chosen.cls)
        try:
            instance.load_snapshot(data)
        except Exception as exc:
            raise _failure(exc) from None
        self.agent_type, self.instance = chosen, instance

    def invoke(self, method_name: str, data: tuple[str, Any], principal: Principal) -> Any:
        if self.agent_type is None:
            raise AgentFailure("invalid-type", "the agent is not initialized: call initialize")
        method = self.agent_type.methods.get(method_name)
        if method is None:
            names = ", ".join(self.agent_type.methods) or "none"
            raise AgentFailure(
                "invalid-method",
                f"{self.agent_type.name} has no method {method_name!r} (methods: {names})",
            )
        try:
            args = method.decode_input(data, principal)
        except InputError as exc:
            raise AgentFailure("invalid-input", str(exc)) from None
        try:
            result = _run(method.func(self.instance, **args))
        except Exception as exc:
            raise _failure(exc) from None
        try:
            return method.encode_output(result)
        except ValueMismatch as exc:
            raise AgentFailure(
                "custom-error", f"{self.agent_type.name}.{method_name} returned a bad value: {exc}"
            ) from None


SNAPSHOT_MAGIC = b"agent_sdk snapshot 1\n"

_runtime = Runtime()


class Guest:
    """The ``golem:agent/guest@1.5.0`` export, as componentize-py calls it."""

    def _types(self) -> tuple[Any, Any]:
        return b.module("types"), b.module("common")

    def _err(self, failure: AgentFailure) -> BaseException:
        return b.err(c.to_binding(failure.neutral(), self._types()[1].AgentError))

    def initialize(self, agent_type: str, input: Any, principal: Any) -> None:
        types, common = self._types()
        try:
            _runtime.initialize(
                agent_type,
                c.from_binding(input, types.DataValue),
                principal_of(c.from_binding(principal, common.Principal)),
            )
        except AgentFailure as failure:
            raise self._err(failure) from None

    def invoke(self, method_name: str, input: Any, principal: Any) -> Any:
        types, common = self._types()
        try:
            out = _runtime.invoke(
                method_name,
                c.from_binding(input, types.DataValue),
                principal_of(c.from_binding(principal, common.Principal)),
            )
        except AgentFailure as failure:
            raise self._err(failure) from None
        return c.to_binding(out, types.DataValue)

    def get_definition(self) -> Any:
        return c.to_binding(_runtime.definition(), self._types()[1].AgentType)

    def discover_agent_types(self) -> list[Any]:
        common = self._types()[1]
        try:
            return [c.to_binding(t, common.AgentType) for t in _runtime.discover()]
        except AgentFailure as failure:
            raise self._err(failure) from None


class SaveSnapshot:
    """The ``golem:api/save-snapshot@1.5.0`` export."""

    def save(self) -> Any:
        try:
            payload = _runtime.save()
        except AgentFailure as failure:
            raise RuntimeError(f"save-snapshot: {failure}") from None  # traps
        return b.module("golem_api_host").Snapshot(payload, "application/x-agent-sdk-snapshot")


class LoadSnapshot:
    """The ``golem:api/load-snapshot@1.5.0`` export: an err refuses the snapshot."""

    def load(self, snapshot: Any) -> None:
        try:
            _runtime.load(bytes(snapshot.payload))
        except AgentFailure as failure:
            raise b.err(str(failure)) from None
