"""Golem 1.5 promises (``golem:api/host@1.5.0``) and the agent's own id.

=================================  ==============================================
golem-rust                         here
=================================  ==============================================
``create_promise()``               :func:`create_promise` -> :class:`PromiseId`
``await_promise(&id).await``       ``await`` :func:`await_promise` -> ``bytes``
``blocking_await_promise(&id)``    :func:`blocking_await_promise` -> ``bytes``
``complete_promise(&id, &data)``   :func:`complete_promise` -> ``bool``
``*_json`` (serde_json)            :func:`await_promise_json`,
                                   :func:`blocking_await_promise_json`,
                                   :func:`complete_promise_json`
(agent-host only)                  :func:`promise_secret` -> ``str``
=================================  ==============================================

While a promise is not completed, awaiting it durably suspends the agent. The async
forms run on the old SDK's asyncio loop over ``wasi:io/poll`` (an ``async def`` agent
method is driven by it), so several promises and timers are awaited in one poll.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from typing import Any, TypeVar

from . import _bindings as b
from ._convert import from_binding, to_binding
from .jsoncodec import JsonDecodeError, decode, describe_type, encode
from .loop import wait_pollable

__all__ = [
    "AgentId",
    "PromiseDecodeError",
    "PromiseId",
    "await_promise",
    "await_promise_json",
    "blocking_await_promise",
    "blocking_await_promise_json",
    "complete_promise",
    "complete_promise_json",
    "create_promise",
    "create_webhook",
    "promise_secret",
    "self_agent_id",
]

T = TypeVar("T")

# componentize-py bundles only the binding modules imported while it snapshots the app.
b.module("secrets")
_MASK64 = (1 << 64) - 1


@dataclasses.dataclass(frozen=True, order=True)
class AgentId:
    """``golem:core/types`` ``agent-id``: the component and the agent's id text, which in
    Golem 1.5 is ``Type(params)`` (``WorkflowAgent("alice")``)."""

    component_id: uuid.UUID
    agent_id: str

    def __str__(self) -> str:
        return f"{self.component_id}/{self.agent_id}"

    def to_neutral(self) -> dict[str, Any]:
        value = self.component_id.int
        return {
            "component_id": {"uuid": {"high_bits": value >> 64, "low_bits": value & _MASK64}},
            "agent_id": self.agent_id,
        }

    @staticmethod
    def from_neutral(data: dict[str, Any]) -> AgentId:
        halves = data["component_id"]["uuid"]
        whole = (halves["high_bits"] << 64) | halves["low_bits"]
        return AgentId(uuid.UUID(int=whole), data["agent_id"])


@dataclasses.dataclass(frozen=True, order=True)
class PromiseId:
    """A promise: its owner and the oplog index of its creation.
    ``str()`` is ``<component-uuid>/<agent-id>/<oplog-idx>``; :meth:`parse` reads it."""

    agent_id: AgentId
    oplog_idx: int

    def __str__(self) -> str:
        return f"{self.agent_id}/{self.oplog_idx}"

    @staticmethod
    def parse(text: str) -> PromiseId:
        """ValueError unless ``text`` is ``<component-uuid>/<agent-id>/<oplog-idx>`` (the
        agent id may itself hold ``/``: the uuid comes first and the index last)."""
        head, slash, idx = text.rpartition("/") if isinstance(text, str) else ("", "", "")
        component, _, name = head.partition("/")
        try:
            cid = uuid.UUID(component)
        except ValueError:
            cid = None
        if not slash or cid is None or not name or not (idx.isascii() and idx.isdigit()):
            raise ValueError(
                f"invalid promise id {text!r}: expected <component-uuid>/<agent-id>/<oplog-idx>"
            )
        return PromiseId(AgentId(cid, name), int(idx))

    def to_neutral(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id.to_neutral(), "oplog_idx": self.oplog_idx}

    @staticmethod
    def from_neutral(data: dict[str, Any]) -> PromiseId:
        return PromiseId(AgentId.from_neutral(data["agent_id"]), int(data["oplog_idx"]))


class PromiseDecodeError(ValueError):
    """A promise's payload is not the JSON the agent expected (``promise_id``,
    ``payload``, ``expected``, ``reason``)."""

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


def _host() -> Any:
    return b.module("golem_api_host")


def _check(promise_id: PromiseId) -> None:
    if not isinstance(promise_id, PromiseId):
        raise TypeError(
            f"expected an agent_sdk.PromiseId, got {type(promise_id).__name__}; "
            "PromiseId.parse(text) reads one from its string form"
        )


def _record(promise_id: PromiseId) -> Any:
    _check(promise_id)
    return to_binding(promise_id.to_neutral(), b.module("types").PromiseId)


def create_promise() -> PromiseId:
    """A new promise owned by this agent (on replay, the recorded one)."""
    record = _host().create_promise()
    return PromiseId.from_neutral(from_binding(record, b.module("types").PromiseId))


def blocking_await_promise(promise_id: PromiseId) -> bytes:
    """The payload; the agent is durably suspended until the promise is completed."""
    with _host().get_promise(_record(promise_id)) as result:
        while True:
            payload = result.get()
            if payload is not None:
                return bytes(payload)
            with result.subscribe() as ready:
                ready.block()


async def await_promise(promise_id: PromiseId) -> bytes:
    """The payload, awaited on the SDK's event loop (other tasks run meanwhile)."""
    with _host().get_promise(_record(promise_id)) as result:
        while True:
            payload = result.get()
            if payload is not None:
                return bytes(payload)
            with result.subscribe() as ready:
                await wait_pollable(ready)


def complete_promise(promise_id: PromiseId, data: bytes) -> bool:
    """Complete a promise: True the first time, False if it was already completed."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(
            f"promise data must be bytes, not {type(data).__name__}; "
            "complete_promise_json encodes a value as JSON"
        )
    return bool(_host().complete_promise(_record(promise_id), bytes(data)))


def complete_promise_json(promise_id: PromiseId, value: Any) -> bool:
    """:func:`complete_promise` with ``value`` as JSON (dataclasses become objects)."""
    return complete_promise(promise_id, encode(value))


def _decoded(promise_id: PromiseId, payload: bytes, tp: Any) -> Any:
    try:
        return decode(payload, tp)
    except JsonDecodeError as exc:
        raise PromiseDecodeError(promise_id, payload, describe_type(tp), str(exc)) from None


def blocking_await_promise_json(promise_id: PromiseId, tp: type[T] | Any = Any) -> T:
    """:func:`blocking_await_promise` decoded as JSON into ``tp`` (PromiseDecodeError)."""
    result: T = _decoded(promise_id, blocking_await_promise(promise_id), tp)
    return result


async def await_promise_json(promise_id: PromiseId, tp: type[T] | Any = Any) -> T:
    """:func:`await_promise` decoded as JSON into ``tp`` (a dataclass, ``Literal``...);
    PromiseDecodeError if the payload does not decode."""
    result: T = _decoded(promise_id, await await_promise(promise_id), tp)
    return result


def create_webhook(promise_id: PromiseId) -> str:
    """A URL whose ``POST`` completes the promise with the request body
    (``golem:agent/host@1.5.0`` ``create-webhook``, under the mount's webhook suffix)."""
    return str(b.module("golem_agent_host").create_webhook(_record(promise_id)))


def promise_secret(promise_id: PromiseId) -> str:
    """The secret of one of this agent's own promises (``agent-host:promises/secrets@0.1.0``):
    what a server run with ``--require-promise-secret`` asks of whoever completes the
    promise over HTTP (header ``X-Promise-Secret``). Hand it out with the promise id; the
    same for the same promise, and never recorded in the oplog. A promise of another
    agent has no secret here: ValueError."""
    _check(promise_id)
    me = self_agent_id()
    if me is not None and promise_id.agent_id != me:
        raise ValueError(f"promise {promise_id} is not one of this agent's ({me}) promises")
    return str(b.module("secrets").promise_secret(promise_id.oplog_idx))


def self_agent_id() -> AgentId | None:
    """This agent's id, from ``GOLEM_COMPONENT_ID`` and ``GOLEM_AGENT_ID``, if set."""
    name = os.environ.get("GOLEM_AGENT_ID")
    component = os.environ.get("GOLEM_COMPONENT_ID")
    if not name or not component:
        return None
    try:
        return AgentId(uuid.UUID(component), name)
    except ValueError:
        return None
