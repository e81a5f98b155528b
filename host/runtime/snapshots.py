"""Snapshots: calling a component's save-snapshot / load-snapshot exports, and when to.

Golem's user-defined snapshots: a component may export ``golem:api/save-snapshot``
(``save``) and ``golem:api/load-snapshot`` (``load``). At 1.5.0 they take and return a
``snapshot {payload: list<u8>, mime-type: string}`` record; the older generations
(golem:api@1.1.x) a bare ``list<u8>``. Both shapes are handled here by the export's own
types, so a component of any generation works.

Snapshots serve two things: snapshot-based updates (the old version saves, a fresh
instance of the new version loads) and fast recovery (the host saves after every n
invocations or per period, and a replay starts from the latest snapshot instead of the
first entry). The policy is the agent type's ``snapshotting`` (Golem 1.5 agent
components); ``default`` and plain components take the executor's
``default_snapshotting``, disabled unless configured, as Golem's executor config
``oplog.default_snapshotting`` is.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import wasmtime
import wasmtime.component as wc

from host.agents.agenttypes import Snapshotting
from host.errors import HostError
from host.oplog import Snapshot
from host.replay import PERSIST_NOTHING
from host.resume_entries import ELIDED
from host.runtime import fastvalues, golem, pollables
from host.runtime.registry import ComponentRegistry, Export, first_line, get_func
from host.runtime.session import Session, current_session_or_none
from host.runtime.typeconv import from_wasmtime, to_wasmtime
from host.values import Case
from host.values.types import RecordT

if TYPE_CHECKING:
    pass

SAVE = "golem:api/save-snapshot"
LOAD = "golem:api/load-snapshot"
DEFAULT_MIME = "application/octet-stream"


class SnapshotError(HostError):
    """A snapshot could not be saved or loaded (no export, a trap, load refused it)."""


@dataclass(frozen=True)
class SnapshotExports:
    save: Export | None
    load: Export | None


def _find(registry: ComponentRegistry, hash: str, iface: str, fname: str) -> Export | None:
    for export in registry.functions(hash):
        if len(export.path) == 2 and export.path[1] == fname:
            base = export.path[0].split("@", 1)[0]
            if base == iface:
                return export
    return None


def exports_of(registry: ComponentRegistry, hash: str) -> SnapshotExports:
    return SnapshotExports(_find(registry, hash, SAVE, "save"), _find(registry, hash, LOAD, "load"))


@contextmanager
def _unrecorded() -> Iterator[None]:
    """Host calls the guest makes while saving or loading (a componentize-py guest reads
    its environment on its first export call) run live and are neither recorded nor
    matched against the oplog: a snapshot stands outside the agent's history (the
    persist-nothing level of golem:api, for the duration of the call)."""
    session = current_session_or_none()
    if session is None:
        yield
        return
    level = session.persistence_level
    session.persistence_level = PERSIST_NOTHING
    try:
        yield
    finally:
        session.persistence_level = level


def save(
    registry: ComponentRegistry, hash: str, wstore: wasmtime.Store, instance: wc.Instance
) -> tuple[bytes, str]:
    """Call the instance's save-snapshot: (payload, mime type)."""
    export = exports_of(registry, hash).save
    if export is None:
        raise SnapshotError("the component does not export golem:api/save-snapshot")
    func = get_func(wstore, instance, export)
    try:
        with _unrecorded():
            raw = fastvalues.call(func, wstore, export.sig)
            func.post_return(wstore)
    except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
        raise SnapshotError(f"save-snapshot trapped: {first_line(exc)}") from None
    assert export.sig.result is not None
    value: Any = from_wasmtime(raw, export.sig.result)
    if isinstance(export.sig.result, RecordT):
        return bytes(value["payload"]), str(value["mime-type"])
    return bytes(value), DEFAULT_MIME


def load(
    registry: ComponentRegistry,
    hash: str,
    wstore: wasmtime.Store,
    instance: wc.Instance,
    payload: bytes,
    mime_type: str,
) -> None:
    """Call the instance's load-snapshot; SnapshotError with the guest's reason if it
    refuses the snapshot."""
    export = exports_of(registry, hash).load
    if export is None:
        raise SnapshotError("the component does not export golem:api/load-snapshot")
    (param_ty,) = export.sig.param_types
    arg: Any = (
        {"payload": payload, "mime-type": mime_type} if isinstance(param_ty, RecordT) else payload
    )
    func = get_func(wstore, instance, export)
    try:
        with _unrecorded():
            raw = fastvalues.call(func, wstore, export.sig, to_wasmtime(arg, param_ty))
            func.post_return(wstore)
    except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
        raise SnapshotError(f"load-snapshot trapped: {first_line(exc)}") from None
    if export.sig.result is None:
        return
    result: Any = from_wasmtime(raw, export.sig.result)
    if isinstance(result, Case) and result.name == "err":
        raise SnapshotError(f"load-snapshot refused the snapshot: {result.value!s}")


def encode(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def decode(text: str) -> bytes:
    return base64.b64decode(text)


@dataclass
class SnapshotClock:
    """Per agent: invocations finished live and the time of the last snapshot since this
    process started running it (Golem's invocation loop keeps the same two)."""

    invocations: int = 0
    last_ns: int = 0


def due(policy: Snapshotting, clock: SnapshotClock, now_ns: int) -> bool:
    """Whether a snapshot is due after an invocation finished (``clock`` counted it)."""
    if policy.kind == "every-n-invocation":
        return bool(policy.value) and clock.invocations >= (policy.value or 0)
    if policy.kind == "periodic":
        return bool(policy.value) and now_ns - clock.last_ns >= (policy.value or 0)
    return False


def resolve_policy(agent_policy: Snapshotting | None, default: Snapshotting) -> Snapshotting:
    """Golem's resolve_snapshot_policy: none or ``default`` take the host's default."""
    if agent_policy is None or agent_policy.kind == "default":
        return default
    return agent_policy


def restore_host_state(session: Session, index: int) -> None:
    """After the replay was started at the snapshot at oplog ``index``: the host's side of
    what the guest set or saw before it, which the snapshot (the guest's memory) does not
    hold and the replay no longer visits: the retry policy, idempotence mode and
    persistence level (golem:api/host), and the monotonic clock's floor. A snapshot entry
    carries them (:func:`golem.durable_state`); for one that does not (written before they
    were recorded, or a snapshot-based update) they are rebuilt from the entries before
    it, read from the store when the resume did not read them."""
    entry = session.entries[index - 1]
    if isinstance(entry, Snapshot) and isinstance(entry.host_state, dict):
        golem.apply_durable_state(session, entry.host_state)
        return
    if any(e is ELIDED for e in session.entries[: index - 1]):
        older = session.store.read_oplog(session.agent, 1, index - 1)
        session.entries[: index - 1] = older
    golem.restore_durable_state(session, index)
    pollables.restore_floor(session, index)
