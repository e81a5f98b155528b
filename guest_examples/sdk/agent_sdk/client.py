"""Calling other agents: golem-rust's generated clients, for ``@agent`` classes.

``client(OtherAgent, "bob")`` names the agent ``OtherAgent("bob")`` (created on first
use) and returns a proxy whose methods are ``OtherAgent``'s: ``proxy.greet("hi")`` calls
and waits (``wasm-rpc.invoke-and-await``), ``proxy.trigger("greet", "hi")`` only enqueues
(``invoke``), ``await proxy.call_async("greet", "hi")`` awaits the result on the SDK's
event loop (``async-invoke-and-await`` and its future's pollable), and
``proxy.schedule(at, "greet", "hi")`` enqueues it at a later time (``schedule-invocation``;
``schedule_cancelable`` returns a token whose ``cancel()`` removes it before then).
Arguments and results go through the method's schema, as the host's own calls do. A type
served by another component is described by a class declared ``@agent(remote=True)``
(not announced here).

All of it rests on ``golem:agent/host@1.5.0``'s ``wasm-rpc`` resource.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

from . import _bindings as b
from ._convert import from_binding, to_binding
from .definition import AgentType, Method, definition_of
from .loop import wait_pollable
from .wit import ValueMismatch

__all__ = ["AgentClient", "RpcError", "client", "encode_args"]


class RpcError(RuntimeError):
    """A call to another agent failed: ``case`` is the ``rpc-error`` case
    (``protocol-error``, ``denied``, ``not-found``, ``remote-internal-error``,
    ``remote-agent-error``), ``detail`` its payload."""

    def __init__(self, case: str, detail: Any) -> None:
        super().__init__(f"{case}: {detail}")
        self.case = case
        self.detail = detail


def encode_args(method: Method, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The neutral data-value of a call's arguments; TypeError/ValueError if they do not fit."""
    params = [p for p in method.params if p.shape is not None]
    if len(args) > len(params):
        raise TypeError(f"{method.name} takes {len(params)} argument(s), got {len(args)}")
    values = dict(zip((p.name for p in params), args, strict=False))
    for key, value in kwargs.items():
        if key in values or key not in {p.name for p in params}:
            raise TypeError(f"{method.name}: unexpected or repeated argument {key!r}")
        values[key] = value
    elements = []
    for p in params:
        if p.name not in values:
            raise TypeError(f"{method.name}: missing argument {p.name!r}")
        try:
            nodes = p.shape.encode(values[p.name])  # type: ignore[union-attr]
        except ValueMismatch as exc:
            raise ValueError(f"{method.name}: argument '{p.name}': {exc}") from None
        elements.append(("component-model", {"nodes": nodes}))
    return ("tuple", elements)


def _decode_result(method: Method, data: Any) -> Any:
    case, elements = data
    if method.output is None:
        return None
    if case != "tuple" or len(elements) != 1 or elements[0][0] != "component-model":
        raise RpcError("protocol-error", f"{method.name} returned an unexpected data-value")
    return method.output.decode(elements[0][1]["nodes"])


class AgentClient:
    """A proxy for one remote agent (see the module's doc)."""

    def __init__(self, agent_type: AgentType, rpc: Any) -> None:
        self._type = agent_type
        self._rpc = rpc

    def _method(self, name: str) -> Method:
        method = self._type.methods.get(name)
        if method is None:
            raise AttributeError(f"agent type {self._type.name} has no method {name!r}")
        return method

    def _data(self, method: Method, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return to_binding(encode_args(method, args, kwargs), b.module("types").DataValue)

    def _unwrap(self, method: Method, outcome: Any) -> Any:
        types = b.module("types")
        if type(outcome).__name__ == "Err":
            case, detail = from_binding(outcome.value, b.module("golem_agent_host").RpcError)
            raise RpcError(case, detail)
        value = outcome.value if type(outcome).__name__ == "Ok" else outcome
        return _decode_result(method, from_binding(value, types.DataValue))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = self._method(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                out = self._rpc.invoke_and_await(name, self._data(method, args, kwargs))
            except Exception as exc:  # componentize-py raises a result's err as Err
                if type(exc).__name__ != "Err":
                    raise
                out = exc
            return self._unwrap(method, out)

        return call

    def trigger(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Enqueue the call and return at once (fire-and-forget)."""
        method = self._method(name)
        try:
            self._rpc.invoke(name, self._data(method, args, kwargs))
        except Exception as exc:
            if type(exc).__name__ != "Err":
                raise
            self._unwrap(method, exc)

    def schedule(self, at: datetime.datetime | float, name: str, *args: Any, **kwargs: Any) -> None:
        """Have the host enqueue the call at ``at`` (a datetime, or seconds since the
        epoch); durable: the host keeps it across restarts."""
        method = self._method(name)
        self._rpc.schedule_invocation(_datetime(at), name, self._data(method, args, kwargs))

    def schedule_cancelable(
        self, at: datetime.datetime | float, name: str, *args: Any, **kwargs: Any
    ) -> Any:
        """As :meth:`schedule`; returns the cancellation token (``.cancel()`` before ``at``
        removes the call, after it does nothing)."""
        method = self._method(name)
        data = self._data(method, args, kwargs)
        return self._rpc.schedule_cancelable_invocation(_datetime(at), name, data)

    async def call_async(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call and await the result on the SDK's event loop."""
        method = self._method(name)
        with self._rpc.async_invoke_and_await(name, self._data(method, args, kwargs)) as future:
            while True:
                outcome = future.get()
                if outcome is not None:
                    return self._unwrap(method, outcome)
                with future.subscribe() as ready:
                    await wait_pollable(ready)


def _datetime(at: datetime.datetime | float) -> Any:
    seconds = at.timestamp() if isinstance(at, datetime.datetime) else float(at)
    whole = int(seconds // 1)
    nanos = min(int(round((seconds - whole) * 1e9)), 999_999_999)
    return b.module("wall_clock").Datetime(whole, nanos)


def _agent_config(agent_type: AgentType, config: dict[str, Any]) -> list[Any]:
    """``list<typed-agent-config-value>`` for the callee's declared config keys."""
    shapes = dict(agent_type.config)
    out = []
    for key, value in config.items():
        shape = shapes.get(key)
        if shape is None:
            raise ValueError(f"agent type {agent_type.name} declares no config {key!r}")
        typed = {"value": {"nodes": shape.encode(value)}, "typ": {"nodes": shape.wit_type()}}
        item = {"path": key.split("."), "value": typed}
        out.append(to_binding(item, b.module("common").TypedAgentConfigValue))
    return out


def client(
    cls: type,
    *args: Any,
    phantom_id: uuid.UUID | None = None,
    config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> AgentClient:
    """A proxy for the agent of ``@agent`` class ``cls`` with these constructor arguments;
    ``config`` gives values of its declared config keys, used if the call creates it."""
    agent_type = definition_of(cls)
    data = to_binding(
        encode_args(agent_type.constructor, args, kwargs), b.module("types").DataValue
    )
    phantom = None
    if phantom_id is not None:
        value = phantom_id.int
        phantom = b.module("types").Uuid(value >> 64, value & ((1 << 64) - 1))
    agent_config = _agent_config(agent_type, config or {})
    rpc = b.module("golem_agent_host").WasmRpc(agent_type.name, data, phantom, agent_config)
    return AgentClient(agent_type, rpc)
