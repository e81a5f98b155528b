"""One execution of an agent: a wasmtime store, its host resources, and the
oplog cursor that decides whether a host call is replayed or run live.

Host functions are classified by :class:`Kind`:

- ``PURE``: a function of the guest's inputs and host-side bookkeeping (handing
  out a stdout stream, dropping a handle). Never recorded; runs in both modes.
- ``READ``: non-deterministic (clocks, random, environment, a promise's state)
  or a local side effect whose loss in a crash is harmless (guest stdout).
  Recorded live and kept in memory until the next commit; on replay the
  recorded response is returned and the function does not run.
- ``EFFECT``: a side effect others can see (completing a promise, a new
  idempotency key). Recorded and committed before the guest sees the result.
- ``STATE``: changes deterministic per-agent state (idempotence mode, retry
  policy). Recorded, and runs in both modes so that replay rebuilds the state.
- ``JOURNALED``: the function writes its own oplog entry in the same store
  transaction as its effect (creating or completing a promise); on replay its
  ``replay`` hook (or the recorded response) answers.

Uncommitted ``READ`` entries are safe to lose: nothing outside the agent saw
them, because every externally visible step (an effect, a suspension, an
invocation result) commits everything recorded before it.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from host import oplog
from host.errors import Divergence, HostError
from host.ids import AgentId
from host.limits import Limits
from host.oplog import Entry, HostCall, InvocationFailed, PromiseCreated, Retried, Suspended
from host.secrets import PromiseSecrets
from host.store.base import Store


class Kind(enum.Enum):
    PURE = "pure"
    READ = "read"
    EFFECT = "effect"
    STATE = "state"
    JOURNALED = "journaled"


@dataclass(frozen=True)
class HostFunc:
    """A host function implementation: ``impl(session, *args) -> result``.

    Arguments and results are values of :mod:`host.values` (resources as the
    host objects themselves). ``rebuild`` recreates a resource result from its
    recorded response on replay, for READ functions that return resources.
    """

    impl: Callable[..., Any]
    kind: Kind = Kind.PURE
    snapshot: Callable[[Any], Any] | None = None
    rebuild: Callable[[Session, Any], Any] | None = None
    replay: Callable[[Session, Any, int], Any] | None = None


class Suspend(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a host call to suspend the agent durably.

    Subclasses Exception (not BaseException) on purpose: wasmtime hands an
    Exception raised in a host import back out of the export call unchanged.
    """

    def __init__(self, promises: tuple[int, ...], wake_at_ns: int | None) -> None:
        super().__init__(f"suspend on promises {promises} / timer {wake_at_ns}")
        self.promises = promises
        self.wake_at_ns = wake_at_ns


class LimitExceeded(HostError):
    """The guest went past one of its limits; its invocation fails with this message."""


class GuestExit(Exception):  # noqa: N818
    """The guest called wasi:cli/exit."""

    def __init__(self, ok: bool) -> None:
        super().__init__("guest exited " + ("successfully" if ok else "with an error"))
        self.ok = ok


class ResourceTable:
    """Host objects handed to the guest, by representation number."""

    def __init__(self) -> None:
        self._objects: dict[int, Any] = {}
        self._next = 1

    def add(self, obj: Any) -> int:
        rep = self._next
        self._next += 1
        self._objects[rep] = obj
        return rep

    def get(self, rep: int) -> Any:
        try:
            return self._objects[rep]
        except KeyError:
            raise RuntimeError(f"unknown host resource handle {rep}") from None

    def remove(self, rep: int) -> None:
        self._objects.pop(rep, None)

    def __len__(self) -> int:
        return len(self._objects)


class Session:
    """The state of one agent execution (one wasmtime store)."""

    def __init__(
        self,
        agent: AgentId,
        store: Store,
        entries: list[Entry],
        *,
        args: tuple[str, ...] = (),
        env: tuple[tuple[str, str], ...] = (),
        on_output: Callable[[str, bytes], None] | None = None,
        on_promise_completed: Callable[[Any], None] | None = None,
    ) -> None:
        self.agent = agent
        self.store = store
        self.entries = entries
        self.persisted = len(entries)  # entries[:persisted] are in the store
        self.cursor = 1 if entries else 0  # entry 1 (AgentCreated) is the executor's
        self.retried = {e.invocation_id for e in entries if isinstance(e, Retried)}
        self.limits = Limits()
        self.secrets: PromiseSecrets | None = None
        self.args = args
        self.env = env
        self.resources = ResourceTable()
        self.on_output = on_output
        self.on_promise_completed = on_promise_completed
        self.current_function: str | None = None
        self.last_monotonic = 0  # the agent's monotonic floor (host/runtime/pollables.py)
        self.monotonic_base: tuple[int, int] | None = None  # (host ns, agent ns), live
        self.state: dict[str, Any] = {}
        self.raised: Exception | None = None  # what the last failed host call raised
        # A scratch session runs a component outside any agent (reading its endpoint
        # definition): reads are answered live and recorded nowhere, effects are refused.
        self.scratch = False

    # -- the cursor ---------------------------------------------------------------
    @property
    def replaying(self) -> bool:
        return self.cursor < len(self.entries)

    def index_of_cursor(self) -> int:
        """The oplog index (1-based) of the entry at the cursor."""
        return self.cursor + 1

    def is_marker(self, entry: Entry) -> bool:
        """Entries replay passes over: suspensions, retries, and failures that were retried."""
        if isinstance(entry, Suspended | Retried):
            return True
        return isinstance(entry, InvocationFailed) and entry.invocation_id in self.retried

    def skip_markers(self) -> None:
        while self.cursor < len(self.entries) and self.is_marker(self.entries[self.cursor]):
            self.cursor += 1

    def next_recorded(self, called: str) -> HostCall | PromiseCreated:
        """The recorded answer to the host call ``called``; Divergence if it does not match."""
        self.skip_markers()
        index = self.index_of_cursor()
        entry = self.entries[self.cursor]
        if not isinstance(entry, HostCall | PromiseCreated) or entry.function != called:
            recorded = (
                entry.function
                if isinstance(entry, HostCall | PromiseCreated)
                else (f"<{oplog.kind(entry)}>")
            )
            raise Divergence(str(self.agent), index, recorded, called)
        self.cursor += 1
        return entry

    # -- recording ------------------------------------------------------------------
    def record(self, entry: Entry) -> int:
        """Append a live entry in memory; returns its oplog index."""
        assert not self.replaying, "recording while replaying"
        self.check_size(entry)
        self.entries.append(entry)
        self.cursor = len(self.entries)
        return len(self.entries)

    def check_size(self, entry: Entry) -> None:
        size = len(oplog.encode(entry))
        if size > self.limits.max_payload_bytes:
            raise LimitExceeded(
                f"an oplog entry of {size} bytes ({oplog.kind(entry)}) exceeds the agent's "
                f"limit of {self.limits.max_payload_bytes} bytes (max_payload_bytes)"
            )

    @property
    def next_index(self) -> int:
        return len(self.entries) + 1

    def pending(self) -> tuple[int, list[Entry]]:
        """(first index, entries) recorded but not yet committed."""
        return self.persisted + 1, self.entries[self.persisted :]

    def mark_persisted(self, *extra: Entry) -> None:
        """After a store transition committed the pending entries plus ``extra``."""
        for entry in extra:
            self.entries.append(entry)
        self.persisted = len(self.entries)
        self.cursor = len(self.entries)

    def flush(self) -> None:
        first, pending = self.pending()
        if pending:
            self.store.append(self.agent, first, pending)
            self.persisted = len(self.entries)


# The session whose guest code is running on this thread. Host callbacks are
# registered once per component linker, so they find their session here.
_current = threading.local()


def current_session() -> Session:
    session: Session | None = getattr(_current, "session", None)
    if session is None:
        raise RuntimeError("a host function was called with no agent session active")
    return session


def set_current(session: Session | None) -> None:
    _current.session = session
