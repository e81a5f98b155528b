"""The ``agent-host`` adapter: an in-process :class:`~host.runtime.executor.Host` on a
temporary data directory.

Invocations run on threads of their own (``Host.invoke`` returns when the invocation
finishes or suspends); a scheduler thread calls ``Host.run_due`` every few milliseconds,
as ``agent-host worker`` or the server's scanner would, so timers fire and agents left
running resume. A restart closes the Host, once every invocation thread has come to
rest, and opens a new one on the same directory: nothing but the store survives.

It cannot crash the host while an invocation runs (no ``kill``: the process under test
is this one) and has no HTTP API; the ``http`` adapter covers both.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host.conformance.adapters.base import (
    Adapter,
    AdapterError,
    AgentState,
    Invocation,
    NotFound,
    OplogEntry,
    Outcome,
)
from host.conformance.cases import PROMISE_LISTING, RESTART, SUSPENSION_HOOK, UPDATE, WAVE
from host.conformance.errors import SuiteError

if TYPE_CHECKING:
    from host.ids import AgentId
    from host.runtime.executor import Host

SCHEDULER_INTERVAL_S = 0.02
QUIESCE_TIMEOUT_S = 60.0


class _Invocation(Invocation):
    def __init__(self, adapter: AgentHostAdapter, agent: AgentId, call: str, key: str | None):
        self.adapter = adapter
        self.agent = agent
        self.invocation_id: str | None = None
        self.error: str | None = None
        self.host = adapter.host
        self.thread = threading.Thread(target=self._run, args=(call, key), daemon=True)

    def _run(self, call: str, key: str | None) -> None:
        from host.errors import HostError

        try:
            self.invocation_id = self.host.invoke(self.agent, call, key).invocation_id
        except HostError as exc:
            self.error = str(exc)
        except Exception as exc:  # a host bug: report it as the invocation's failure
            self.error = f"the host raised {type(exc).__name__}: {exc}"

    def outcome(self) -> Outcome:
        from host.store.base import DONE, ERRORED, FAILED, QUEUED
        from host.values import parse_value, to_json

        if self.error is not None:
            return Outcome("failed", error=self.error)
        if self.host is not self.adapter._host:
            return Outcome("lost", error="the host was restarted")
        if self.invocation_id is None:
            return Outcome("pending")
        store = self.host.store
        record = store.get_invocation(self.invocation_id)
        if record.state == DONE:
            hash = store.get_agent(self.agent).component_hash
            ty = self.host.resolve_export(hash, record.function).sig.result
            result = None
            if ty is not None and record.result is not None:
                result = to_json(parse_value(record.result, ty), ty)
            return Outcome("done", result)
        if record.state == ERRORED:
            return Outcome("failed", error=record.error or "")
        agent = store.get_agent(self.agent)
        if agent.status == FAILED:  # failed while replaying: the invocation never ends
            return Outcome("failed", error=agent.last_error or "")
        return Outcome("pending", queued=record.state == QUEUED)

    def wait(self, timeout: float) -> Outcome:
        deadline = time.monotonic() + timeout
        while True:
            outcome = self.outcome()
            if outcome.state != "pending" or time.monotonic() >= deadline:
                return outcome
            time.sleep(0.005)


class AgentHostAdapter(Adapter):
    name = "agent-host"
    capabilities = frozenset({RESTART, WAVE, UPDATE, SUSPENSION_HOOK, PROMISE_LISTING})

    def __init__(self, url: str | None = None, data_dir: Path | None = None) -> None:
        if url is not None:
            raise SuiteError(
                "the agent-host adapter runs a Host in this process; --url is for the http adapter"
            )
        super().__init__(url, data_dir)
        self._tmp: str | None = None
        self.data_dir = Path()
        self._host: Host | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop_scheduler = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._hooks: dict[AgentId, bytes] = {}

    def describe(self) -> str:
        return f"agent-host in-process Host on {self.data_dir}"

    @property
    def host(self) -> Host:
        if self._host is None:
            raise AdapterError("the adapter is not started")
        return self._host

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self.given_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="agent-host-conformance-")
            self.data_dir = Path(self._tmp)
        else:
            self.data_dir = self.given_dir
        self._open()

    def _open(self) -> None:
        from host.runtime.executor import Host

        self._host = Host(self.data_dir)
        self._host.before_suspend = self._before_suspend
        self._stop_scheduler.clear()
        self._scheduler = threading.Thread(target=self._schedule, name="scheduler", daemon=True)
        self._scheduler.start()

    def _schedule(self) -> None:
        host = self.host
        while not self._stop_scheduler.is_set():
            try:
                host.run_due()
            except Exception:  # noqa: S110 - a due agent's error is its own status
                pass
            self._stop_scheduler.wait(SCHEDULER_INTERVAL_S)

    def _close(self) -> None:
        """Let every invocation thread come to rest, stop the scheduler, close the Host."""
        self._stop_scheduler.set()
        if self._scheduler is not None:
            self._scheduler.join(QUIESCE_TIMEOUT_S)
        with self._lock:
            threads, self._threads = self._threads, []
        deadline = time.monotonic() + QUIESCE_TIMEOUT_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in threads):
            raise AdapterError(
                f"an invocation was still running after {QUIESCE_TIMEOUT_S:.0f} s; the "
                "in-process host cannot be restarted under it"
            )
        if self._host is not None:
            self._host.close()
            self._host = None

    def stop(self) -> None:
        try:
            self._close()
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

    def restart(self, kill: bool) -> None:
        if kill:
            raise AdapterError("the in-process host cannot be killed")
        self._close()
        self._open()

    # -- operations -----------------------------------------------------------------------------
    def _agent(self, component_id: str, agent: str) -> AgentId:
        from host.ids import AgentId

        return AgentId(uuid.UUID(component_id), agent)

    def register(self, wasm: Path, name: str) -> str:
        return self.host.add_component(wasm, name).id

    def update(self, component_id: str, wasm: Path, name: str, agent: str) -> None:
        record = self.host.add_component(wasm, name)
        if record.id != component_id:
            raise AdapterError(f"{name} registered as {record.id}, not as {component_id}")
        self.host.update_agent(self._agent(component_id, agent))

    def invoke(
        self,
        component_id: str,
        agent: str,
        function: str,
        args: list[Any] | None,
        wave: str | None = None,
        idempotency_key: str | None = None,
    ) -> Invocation:
        from host.errors import HostError

        host = self.host
        agent_id = self._agent(component_id, agent)
        try:
            host.create_agent(component_id, agent)  # (id, False) when it exists
            call = self._call(agent_id, function, args, wave)
        except HostError as exc:
            failed = _Invocation(self, agent_id, "", None)
            failed.error = f"refused: {exc}"
            return failed
        invocation = _Invocation(self, agent_id, call, idempotency_key)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(invocation.thread)
        invocation.thread.start()
        return invocation

    def _call(self, agent: AgentId, function: str, args: list[Any] | None, wave: str | None) -> str:
        """WAVE call text for the invocation: JSON arguments converted through the
        export's own parameter types."""
        from host.errors import InvalidInput
        from host.values import ValuesError, format_value, from_json

        if wave is not None:
            return f"{function}({wave})"
        host = self.host
        export = host.resolve_export(host.store.get_agent(agent).component_hash, function)
        values = args or []
        if len(values) != len(export.sig.params):
            raise InvalidInput(
                f"{export.name} takes {len(export.sig.params)} parameters, {len(values)} given"
            )
        texts = []
        for i, (value, (_, ty)) in enumerate(zip(values, export.sig.params, strict=True)):
            try:
                texts.append(format_value(from_json(value, ty, f"$.args[{i}]"), ty))
            except ValuesError as exc:
                raise InvalidInput(str(exc)) from None
        return f"{export.name}({', '.join(texts)})"

    def complete(self, component_id: str, agent: str, oplog_idx: int, data: bytes) -> bool:
        from host.errors import NotFound as HostNotFound
        from host.ids import PromiseId

        try:
            return self.host.complete_promise(
                PromiseId(self._agent(component_id, agent), oplog_idx), data
            )
        except HostNotFound as exc:
            raise NotFound(str(exc)) from None

    def status(self, component_id: str, agent: str) -> AgentState | None:
        from host.errors import AgentNotFound
        from host.store.base import QUEUED

        agent_id = self._agent(component_id, agent)
        store = self.host.store
        try:
            record = store.get_agent(agent_id)
        except AgentNotFound:
            return None
        queued = len(store.list_invocations(agent_id, [QUEUED]))
        return AgentState(record.status, queued, record.last_error)

    def oplog(self, component_id: str, agent: str) -> list[OplogEntry]:
        from host import oplog

        entries = self.host.store.read_oplog(self._agent(component_id, agent))
        return [OplogEntry(oplog.kind(e), getattr(e, "function", None)) for e in entries]

    def pending_promises(self, component_id: str, agent: str) -> list[int]:
        promises = self.host.store.list_promises(self._agent(component_id, agent))
        return [p.id.oplog_idx for p in promises]

    def complete_at_suspension(self, component_id: str, agent: str, data: bytes) -> None:
        with self._lock:
            self._hooks[self._agent(component_id, agent)] = data

    def _before_suspend(self, agent: AgentId) -> None:
        # The Host's test seam: runs between "nothing is ready" and the suspension commit.
        with self._lock:
            data = self._hooks.pop(agent, None)
        if data is None:
            return
        store = self.host.store
        for promise in store.list_promises(agent):
            store.complete_promise(promise.id, data)
