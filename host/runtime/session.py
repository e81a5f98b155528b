"""One execution of an agent: its host resources, its limits and the oplog cursor.

The cursor, the checks replay makes and the record-or-replay decision by a host
function's :class:`Kind` are :mod:`host.replay`'s (wasm-free, tested on golden
oplogs); :class:`Session` adds what a real run needs: the store it commits to, the
agent's limits, its host resources and guest I/O.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from host import oplog
from host.errors import HostError
from host.ids import AgentId, PromiseId
from host.limits import Limits
from host.oplog import Entry
from host.oplog_codec import entry_size
from host.replay import HostFunc as HostFunc
from host.replay import Kind as Kind
from host.replay import Replay
from host.runtime.handles import ExportedResources
from host.secrets import PromiseSecrets
from host.store.base import PromiseRecord, Store


class Suspend(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a host call to suspend the agent durably.

    Subclasses Exception (not BaseException) on purpose: wasmtime hands an
    Exception raised in a host import back out of the export call unchanged.
    """

    def __init__(
        self, promises: tuple[int, ...], wake_at_ns: int | None, committed: bool = False
    ) -> None:
        super().__init__(f"suspend on promises {promises} / timer {wake_at_ns}")
        self.promises = promises
        self.wake_at_ns = wake_at_ns
        # The suspension is in the store already (a parked agent that gave up its
        # instance, host/runtime/parking.py): the executor only drops the instance.
        self.committed = committed


ParkHook = Callable[[tuple[int, ...], int | None, int | None, Callable[[], bool]], bool | None]


class LimitExceeded(HostError):
    """The guest went past one of its limits; its invocation fails with this message."""


def deadline_message(limits: Limits) -> str:
    """What an invocation that ran past its wall-clock deadline fails with."""
    return (
        f"the invocation exceeded its time limit of {limits.deadline_s:g} s and was "
        "stopped (limit deadline_s)"
    )


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
        # The object of a representation number, or None: the lean trampoline's lookup
        # (host/runtime/leancall.py), a C-level call rather than get()'s Python frame.
        self.find: Callable[[int], Any] = self._objects.get

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

    def pop(self, rep: int) -> Any:
        """Remove ``rep``, answering its object (None if there is none)."""
        return self._objects.pop(rep, None)

    def __len__(self) -> int:
        return len(self._objects)


class Session(Replay):
    """The state of one agent execution (one wasmtime store): the oplog cursor, plus the
    store it commits to, its limits, resources and I/O."""

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
        super().__init__(agent, entries)
        self.store = store
        self.limits = Limits()
        self.secrets: PromiseSecrets | None = None
        # golem:agent/host create-webhook: the URL of a promise's webhook (None: none served).
        self.webhook_url: Callable[[Any], str] | None = None
        self.args = args
        self.env = env
        self.resources = ResourceTable()
        # The instances of resources the component exports, numbered; a replay rebuilds it.
        self.exported = ExportedResources(agent)
        # Guest output is delivered to ``deliver`` only once the oplog entries that record
        # it are committed, so a crash (or an interrupt) never shows output that a replay
        # would then write again: until the next commit it is held here. A guest that
        # writes for long without committing is committed every HOLD_OUTPUT_S.
        self.deliver = on_output
        self.held_output: list[tuple[str, bytes]] = []
        self.held_since = 0.0
        self.on_output: Callable[[str, bytes], None] | None = (
            None if on_output is None else self._hold_output
        )
        self.on_promise_completed = on_promise_completed
        self.current_function: str | None = None
        # The running invocation (its id and start time): golem:api/context's trace id and
        # root span are functions of them (host/runtime/context.py), made on first use.
        self.invocation_id: str | None = None
        self.invocation_started_ns: int | None = None
        self.invocation_traceparent: str | None = None  # the W3C one its request carried
        self.invocation_tracestate: str | None = None  # and the tracestate beside it
        # Its idempotency key: a callee's names its caller (host/runtime/inherited_context.py).
        self.invocation_key: str | None = None
        self.trace: Any = None
        # allow-forwarding-trace-context-headers: outgoing HTTP carries a traceparent.
        self.forward_trace_headers = True
        self.last_monotonic = 0  # the agent's monotonic floor (host/runtime/pollables.py)
        self.monotonic_base: tuple[int, int] | None = None  # (host ns, agent ns), live
        self.state: dict[str, Any] = {}
        # The host's default golem:api/host retry-policy fields (None: Golem's): what
        # golem:api/retry@1.5.0's catch-all ``default`` named policy is built from.
        self.default_retry_policy: dict[str, object] | None = None
        self.raised: Exception | None = None  # what the last failed host call raised
        # Golem's max_in_function_retry_delay (host/runtime/http_retry.py): a longer step
        # falls back to a trap. The host's setting (HostService).
        self.max_in_function_retry_delay_ns = 20 * 10**9
        # The running store's watch (host/runtime/interrupts.py), while an invocation runs:
        # a host call that waits asks it whether an interrupt or shutdown stops the guest.
        self.watch: Any = None
        # The named retry policies of the agent's config (golem_retry.from_config; once).
        self.config_retry_policies: list[Any] | None = None
        # The running invocation's wall-clock deadline (time.monotonic_ns) and the bytes it
        # wrote to stdout and stderr; set by start_invocation_clock. The epoch deadline only
        # interrupts wasm code, so host calls check this one (a guest spending its time in
        # host calls would escape the epoch).
        self.deadline_ns: int | None = None
        self.output_bytes = 0
        # The last bytes the guest wrote to stderr (the executor keeps them; failure
        # messages end with them).
        self.stderr_tail = bytearray()
        # A scratch session runs a component outside any agent (reading its endpoint
        # definition): reads are answered live and recorded nowhere, effects are refused.
        self.scratch = False
        # Agent-to-agent calls and the registered agent types (host.runtime.agent_rpc's
        # AgentCalls, served by the service layer); None outside a HostService.
        self.agent_calls: Any = None
        # Let the scheduler know another agent has work (a fork's copy); None: nobody to tell.
        self.wake_agent: Callable[[AgentId], None] | None = None
        # An update was requested and is not applied yet: the executor applies it once
        # the agent is between invocations (host/runtime/updates.py).
        self.update_pending = False
        # Park instead of suspending (host/runtime/parking.py): called with (promises,
        # wake_at_ns, ns to the nearest timer, ready); None: the agent never parks.
        self.park: ParkHook | None = None
        # The last completed promise record read (see promise()).
        self._completed: tuple[int, PromiseRecord] | None = None
        # The lean trampoline's out-parameter and resource lookup (host/runtime/leancall.py):
        # a session runs on one thread at a time, so its calls never share the out-parameter;
        # made on the first call.
        self.lean_scratch: Any = None

    def promise(self, idx: int) -> PromiseRecord:
        """The store's record of this agent's promise ``idx``; PromiseNotFound for an
        unknown or deleted one. The last completed record read is kept for the rest of
        the invocation: a completion is final, and a deletion is the agent's own
        (:meth:`promise_deleted`) or an operator's, racing the invocation as before; so
        the next looks at it need no store read. A resume looks at its promise four
        times (get-promise, subscribe's pollable, block, get), each a read before."""
        kept = self._completed
        if kept is not None and kept[0] == idx:
            return kept[1]
        record = self.store.get_promise(PromiseId(self.agent, idx))
        if record.completed:
            self._completed = (idx, record)  # one only: a large payload is not hoarded
        return record

    def promise_deleted(self, idx: int) -> None:
        if self._completed is not None and self._completed[0] == idx:
            self._completed = None

    def start_invocation_clock(self) -> None:
        """An invocation (live or replayed) starts: its deadline and output count anew."""
        self.deadline_ns = time.monotonic_ns() + int(self.limits.deadline_s * 1e9)
        self._completed = None  # an operator may have deleted it since the last invocation
        self.output_bytes = 0

    def check_deadline(self) -> None:
        """LimitExceeded once the invocation is past its wall-clock deadline."""
        if self.deadline_ns is not None and time.monotonic_ns() > self.deadline_ns:
            raise LimitExceeded(deadline_message(self.limits))

    def count_output(self, stream: str, size: int) -> None:
        """Account ``size`` bytes about to be written to ``stream`` (stdout, stderr);
        LimitExceeded if the invocation's output would exceed max_output_bytes. Only live
        writes count: replayed ones were checked when they ran."""
        limit = self.limits.max_output_bytes
        if self.output_bytes + size > limit:
            raise LimitExceeded(
                f"the invocation wrote {self.output_bytes} bytes to stdout and stderr and a "
                f"{stream} write of {size} more would exceed its limit of {limit} bytes "
                "(max_output_bytes)"
            )
        self.output_bytes += size

    def jump_limit(self) -> int | None:
        return self.limits.max_oplog_jumps

    def check_size(self, entry: Entry) -> None:
        size = entry_size(entry)  # the row is kept for the store: encoded once
        if size > self.limits.max_payload_bytes:
            raise LimitExceeded(
                f"an oplog entry of {size} bytes ({oplog.kind(entry)}) exceeds the agent's "
                f"limit of {self.limits.max_payload_bytes} bytes (max_payload_bytes)"
            )

    def flush(self) -> None:
        first, pending = self.pending()
        if pending:
            self.store.append(self.agent, first, pending)
            self.persisted = len(self.entries)
        self._deliver_held()

    def mark_persisted(self, *extra: Entry) -> None:
        super().mark_persisted(*extra)
        self._deliver_held()

    def _hold_output(self, stream: str, data: bytes) -> None:
        now = time.monotonic()
        if self.held_output and now - self.held_since > HOLD_OUTPUT_S and not self.replaying:
            self.flush()  # commits the records of what is held (this write's comes after)
        if not self.held_output:
            self.held_since = now
        self.held_output.append((stream, data))

    def _deliver_held(self) -> None:
        held, self.held_output = self.held_output, []
        if self.deliver is not None:
            for stream, data in held:
                self.deliver(stream, data)


HOLD_OUTPUT_S = 0.2

# The session whose guest code is running on this thread. Host callbacks are
# registered once per component linker, so they find their session here.
_current = threading.local()


def current_session() -> Session:
    session: Session | None = getattr(_current, "session", None)
    if session is None:
        raise RuntimeError("a host function was called with no agent session active")
    return session


def current_session_or_none() -> Session | None:
    """The running session, or None outside one."""
    found: Session | None = getattr(_current, "session", None)
    return found


def set_current(session: Session | None) -> None:
    _current.session = session
