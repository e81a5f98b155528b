"""A promise's payload is stored once: the oplog refers to it instead of holding a copy.

When an agent reads the payload of one of its own completed promises (``await-promise``,
``poll-promise``, ``get-promise-result.get``), the host-call entry that records the
answer used to hold the payload's bytes, so a 1 MiB completion was written to the store
twice, each time inside a commit of its own (the completion, then the end of the
invocation that read it). The entry now records ``{"$promise-payload": <oplog index>}``
and replay reads the bytes back from the promise's row, which holds them for as long as
the oplog can refer to them:

- a payload never changes once written (the first completion wins);
- the row stays when the guest deletes the promise (``deleted`` is a flag), and
  :meth:`~host.store.base.Store.promise_payload` reads it deleted or not;
- only the agent's own promises can be read (``_own_promise``), so the oplog index is
  the whole reference; a fork copies the promise rows up to its cut-off together with
  the entries, and the rows go only with the agent itself;
- entries recorded before hold the bytes inline and replay as before.

The oplog's text form (``agent-host oplog``, the REST oplog pages) shows the reference;
the payload is the promise's (``promise list --all``).
"""

from __future__ import annotations

from typing import Any

from host.ids import PromiseId
from host.values import U8, ListT, OptionT, Some, from_json, to_json

REF_KEY = "$promise-payload"
_BYTES = ListT(U8)
_MAYBE_BYTES = OptionT(_BYTES)


class StoredPayload(bytes):
    """The payload of the agent's promise ``oplog_idx``, as read from its row: bytes that
    know where they are stored, so the recorded answer can name the row instead."""

    oplog_idx: int

    def __new__(cls, data: bytes, oplog_idx: int) -> StoredPayload:
        payload = super().__new__(cls, data)
        payload.oplog_idx = oplog_idx
        return payload


def snapshot_bytes(value: Any) -> Any:
    """The recorded answer of a call returning ``list<u8>`` (``await-promise``)."""
    if isinstance(value, StoredPayload):
        return {REF_KEY: value.oplog_idx}
    return to_json(value, _BYTES, compact_bytes=True)


def snapshot_maybe_bytes(value: Any) -> Any:
    """The recorded answer of a call returning ``option<list<u8>>`` (poll, get)."""
    if isinstance(value, Some) and isinstance(value.value, StoredPayload):
        return {REF_KEY: value.value.oplog_idx}
    return to_json(value, _MAYBE_BYTES, compact_bytes=True)


def _referenced(session: Any, response: Any) -> bytes | None:
    """The payload a recorded answer refers to, or None if it holds no reference."""
    if not (isinstance(response, dict) and set(response) == {REF_KEY}):
        return None
    idx = response[REF_KEY]
    data: bytes | None = session.store.promise_payload(PromiseId(session.agent, int(idx)))
    if data is None:  # the row says pending: the store is not the one the oplog was made in
        raise ValueError(
            f"agent {session.agent}'s oplog refers to the payload of its promise {idx}, "
            "which its store holds as not completed"
        )
    return data


def rebuild_bytes(session: Any, response: Any) -> Any:
    """Replay of a recorded ``list<u8>`` answer: the referenced payload, or the inline one."""
    data = _referenced(session, response)
    return from_json(response, _BYTES, compact_bytes=True) if data is None else data


def rebuild_maybe_bytes(session: Any, response: Any) -> Any:
    """Replay of a recorded ``option<list<u8>>`` answer."""
    data = _referenced(session, response)
    return from_json(response, _MAYBE_BYTES, compact_bytes=True) if data is None else Some(data)
