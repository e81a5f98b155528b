"""Golem promises from Python: the seed's ``golem_rust`` functions, one for one.

=================================  ==============================================
Rust (``golem_rust``)              here
=================================  ==============================================
``create_promise()``               :func:`create_promise` -> :class:`PromiseId`
``blocking_await_promise(&id)``    :func:`blocking_await_promise` -> ``bytes``
``await_promise(&id).await``       ``await`` :func:`await_promise` -> ``bytes``
``complete_promise(&id, &data)``   :func:`complete_promise` -> ``bool``
``*_json`` helpers (serde_json)    :func:`await_promise_json`,
                                   :func:`blocking_await_promise_json`,
                                   :func:`complete_promise_json`
=================================  ==============================================

All of them rest on ``golem:api/host@1.3.0`` (``create-promise``, ``get-promise`` ->
``subscribe``/``get``, ``complete-promise``). While a promise is not completed, awaiting
it durably suspends the agent: agent-host records the wait, drops the instance and
resumes it by replay when the promise is completed (by a person over HTTP, by the CLI,
by another agent).
"""

from __future__ import annotations

import os
from typing import Any, TypeVar, overload

from . import _bindings as b
from .ids import AgentId, PromiseId
from .jsoncodec import JsonDecodeError, decode, describe_type, encode
from .loop import wait_pollable

__all__ = [
    "PromiseDecodeError",
    "await_promise",
    "await_promise_json",
    "blocking_await_promise",
    "blocking_await_promise_json",
    "complete_promise",
    "complete_promise_json",
    "create_promise",
    "promise_secret",
    "self_agent_id",
]

T = TypeVar("T")


class PromiseDecodeError(ValueError):
    """A promise's payload is not the JSON the agent expected.

    ``promise_id``, ``payload`` (the bytes), ``expected`` (a type name) and ``reason``
    say what happened; ``str(error)`` says all of it in one line."""

    def __init__(self, promise_id: PromiseId, payload: bytes, expected: str, reason: str):
        shown = repr(payload) if len(payload) <= 60 else repr(payload[:57]) + "..."
        super().__init__(
            f"the payload of promise {promise_id} is not a valid {expected}: {reason} "
            f"(payload: {shown})"
        )
        self.promise_id = promise_id
        self.payload = payload
        self.expected = expected
        self.reason = reason


def _wit(promise_id: PromiseId) -> Any:
    if not isinstance(promise_id, PromiseId):
        raise TypeError(
            f"expected an agent_host_sdk.PromiseId, got {type(promise_id).__name__}; "
            "PromiseId.parse(text) reads one from its string form"
        )
    return promise_id.to_wit(b.host.PromiseId)


def create_promise() -> PromiseId:
    """Create a promise owned by this agent. On replay the host returns the recorded id
    and creates nothing."""
    return PromiseId.from_wit(b.host.create_promise())


def blocking_await_promise(promise_id: PromiseId) -> bytes:
    """The payload; until the promise is completed the agent is durably suspended.
    Only the agent that created the promise may await it (the host fails the
    invocation otherwise)."""
    record = _wit(promise_id)
    with b.host.get_promise(record) as result:
        while True:
            payload = result.get()
            if payload is not None:
                return bytes(payload)
            with result.subscribe() as ready:
                ready.block()


async def await_promise(promise_id: PromiseId) -> bytes:
    """The payload, awaited on the SDK's event loop (:func:`agent_host_sdk.run`), so
    other coroutines run meanwhile and several promises (and timers) are awaited in one
    ``wasi:io/poll.poll``: ``asyncio.gather``, ``asyncio.wait``, ``asyncio.wait_for``
    work. When everything the loop waits on is a promise or a timer and nothing is
    ready, the agent is durably suspended."""
    record = _wit(promise_id)
    with b.host.get_promise(record) as result:
        while True:
            payload = result.get()
            if payload is not None:
                return bytes(payload)
            with result.subscribe() as ready:
                await wait_pollable(ready)


def complete_promise(promise_id: PromiseId, data: bytes) -> bool:
    """Complete any agent's promise with ``data``: True the first time, False if it was
    already completed (the first payload stays). Completing another agent's promise
    resumes that agent if it waits on it. An unknown promise fails the invocation."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(
            f"promise data must be bytes, not {type(data).__name__}; "
            "complete_promise_json encodes a value as JSON"
        )
    record = _wit(promise_id)  # a wrong argument is a TypeError before any host call
    return bool(b.host.complete_promise(record, bytes(data)))


def complete_promise_json(promise_id: PromiseId, value: Any) -> bool:
    """:func:`complete_promise` with ``value`` as JSON (dataclasses become objects)."""
    return complete_promise(promise_id, encode(value))


def _decoded(promise_id: PromiseId, payload: bytes, tp: Any) -> Any:
    try:
        return decode(payload, tp)
    except JsonDecodeError as exc:
        raise PromiseDecodeError(promise_id, payload, describe_type(tp), str(exc)) from None


@overload
def blocking_await_promise_json(promise_id: PromiseId) -> Any: ...
@overload
def blocking_await_promise_json(promise_id: PromiseId, tp: type[T]) -> T: ...
@overload
def blocking_await_promise_json(promise_id: PromiseId, tp: Any) -> Any: ...
def blocking_await_promise_json(promise_id: PromiseId, tp: Any = Any) -> Any:
    """:func:`blocking_await_promise`, decoded as JSON into ``tp`` (a dataclass,
    ``str``, ``list[int]``, ``X | None``... see :mod:`agent_host_sdk.jsoncodec`).
    A payload that does not decode raises :class:`PromiseDecodeError`."""
    return _decoded(promise_id, blocking_await_promise(promise_id), tp)


@overload
async def await_promise_json(promise_id: PromiseId) -> Any: ...
@overload
async def await_promise_json(promise_id: PromiseId, tp: type[T]) -> T: ...
@overload
async def await_promise_json(promise_id: PromiseId, tp: Any) -> Any: ...
async def await_promise_json(promise_id: PromiseId, tp: Any = Any) -> Any:
    """:func:`await_promise`, decoded as JSON into ``tp``; PromiseDecodeError if the
    payload does not decode."""
    return _decoded(promise_id, await await_promise(promise_id), tp)


def promise_secret(promise_id: PromiseId) -> str:
    """The secret of one of this agent's own promises: hand it out with the id, and the
    holder can complete the promise on a server that requires promise secrets. Never
    recorded in the oplog."""
    me = self_agent_id()
    if me is not None and promise_id.agent_id != me:
        raise ValueError(
            f"promise {promise_id} belongs to agent {promise_id.agent_id}, not to this "
            f"agent ({me}): only a promise's owner can read its secret"
        )
    return str(b.secrets.promise_secret(promise_id.oplog_idx))


def self_agent_id() -> AgentId | None:
    """This agent's id, from ``GOLEM_COMPONENT_ID`` and ``GOLEM_AGENT_ID`` (the agent's
    name, as Golem sets it), if present."""
    name = os.environ.get("GOLEM_AGENT_ID")
    component = os.environ.get("GOLEM_COMPONENT_ID")
    if not name or not component:
        return None
    text = f"{component}/{name}"
    try:
        return AgentId.parse(text)
    except ValueError:
        return None
