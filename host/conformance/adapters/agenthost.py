"""The ``agent-host`` adapter: an in-process :class:`~host.service.HostService` on a
temporary data directory.

Invocations run on threads of their own (``HostService.submit`` returns when the
invocation finishes or suspends); a scheduler thread calls ``HostService.run_due`` every
few milliseconds, as ``agent-host worker`` or the server's scanner would, so timers fire
and agents left running resume. A restart closes the service, once every invocation
thread has come to rest, and opens a new one on the same directory: nothing but the
store survives.

It cannot crash the host while an invocation runs (no ``kill``: the process under test
is this one) and has no REST API (``http`` steps); the ``http`` adapter covers both.
Agent routes and webhooks (``route``, ``webhook``) it does serve, through the server's own
routing and webhook code without a server (:mod:`.inprocess_http`).
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
    AgentRef,
    AgentState,
    HttpResponse,
    Invocation,
    NotFound,
    OplogEntry,
    Outcome,
)
from host.conformance.cases import (
    AGENTS,
    PROMISE_LISTING,
    RESTART,
    REVERT,
    ROUTES,
    SUSPENSION_HOOK,
    UPDATE,
    WAVE,
    WEBHOOKS,
)
from host.conformance.errors import SuiteError

if TYPE_CHECKING:
    from host.ids import AgentId
    from host.server.mounts import MountRouter
    from host.service import Call, HostService

SCHEDULER_INTERVAL_S = 0.02
QUIESCE_TIMEOUT_S = 60.0


class _Invocation(Invocation):
    def __init__(
        self, adapter: AgentHostAdapter, agent: AgentId, call: Call | None, key: str | None
    ):
        self.adapter = adapter
        self.agent = agent
        self.invocation_id: str | None = None
        self.error: str | None = None
        self.host = adapter.host
        self.agent_call = False  # a method of an agent component: read through agent_result
        self.thread = threading.Thread(target=self._run, args=(call, key), daemon=True)

    def _run(self, call: Call, key: str | None) -> None:
        from host.errors import HostError

        try:
            self.invocation_id = self.host.submit(call, key).invocation_id
        except HostError as exc:
            self.error = str(exc)
        except Exception as exc:  # a host bug: report it as the invocation's failure
            self.error = f"the host raised {type(exc).__name__}: {exc}"

    def outcome(self) -> Outcome:
        if self.error is not None:
            return Outcome("failed", error=self.error)
        if self.host is not self.adapter._host:
            return Outcome("lost", error="the host was restarted")
        if self.invocation_id is None:
            return Outcome("pending")
        view = self.host.invocation(self.invocation_id)
        record, agent = view.invocation, view.agent
        if record.state == "done" and self.agent_call:
            result = self.host.agent_result(record)
            if result is None:
                return Outcome("failed", error="the host has no agent result for the call")
            if result.error is not None:
                return Outcome("failed", error=result.error)
            return Outcome("done", result.json)
        if record.state == "done":
            return Outcome("done", view.result_json)
        if record.state == "failed":
            return Outcome("failed", error=record.error or "")
        if agent.status == "failed":  # failed while replaying: the invocation never ends
            return Outcome("failed", error=agent.last_error or "")
        return Outcome("pending", queued=record.state == "queued")

    def wait(self, timeout: float) -> Outcome:
        deadline = time.monotonic() + timeout
        while True:
            outcome = self.outcome()
            if outcome.state != "pending" or time.monotonic() >= deadline:
                return outcome
            time.sleep(0.005)


class AgentHostAdapter(Adapter):
    name = "agent-host"
    capabilities = frozenset(
        {RESTART, WAVE, UPDATE, REVERT, SUSPENSION_HOOK, PROMISE_LISTING, AGENTS, ROUTES, WEBHOOKS}
    )

    def __init__(self, url: str | None = None, data_dir: Path | None = None) -> None:
        if url is not None:
            raise SuiteError(
                "the agent-host adapter runs a Host in this process; --url is for the http adapter"
            )
        super().__init__(url, data_dir)
        self._tmp: str | None = None
        self.data_dir = Path()
        self._host: HostService | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop_scheduler = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._hooks: dict[AgentId, bytes] = {}
        self._router: MountRouter | None = None

    def describe(self) -> str:
        return f"agent-host in-process Host on {self.data_dir}"

    @property
    def host(self) -> HostService:
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
        from host.server.mounts import MountRouter
        from host.service import HostService

        self._host = HostService(self.data_dir, before_suspend=self._before_suspend)
        self._router = MountRouter(self._host)
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
        from host.errors import HostError
        from host.ids import AgentId

        if "(" in agent:  # an agent id of an agent component: the host canonicalises it
            try:
                return self.host.agent_id(component_id, agent)
            except HostError as exc:
                raise AdapterError(f"agent id {agent!r}: {exc}") from None
        return AgentId(uuid.UUID(component_id), agent)

    def register(self, wasm: Path, name: str) -> str:
        return self.host.add_component(wasm, name).id

    def update(
        self, component_id: str, wasm: Path, name: str, agent: str, mode: str = "automatic"
    ) -> None:
        from host.errors import UpdateFailed

        record = self.host.add_component(wasm, name)
        if record.id != component_id:
            raise AdapterError(f"{name} registered as {record.id}, not as {component_id}")
        if mode == "none":
            return
        try:
            self.host.update_agent(self._agent(component_id, agent), record.version, mode)
        except UpdateFailed:
            pass  # recorded in the oplog (failed-update): later steps check it

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
            if wave is not None:
                call = host.call_from_wave(agent_id, f"{function}({wave})")
            else:
                call = host.call_from_json(agent_id, function, args or [])
        except HostError as exc:
            failed = _Invocation(self, agent_id, None, None)
            failed.error = f"refused: {exc}"
            return failed
        invocation = _Invocation(self, agent_id, call, idempotency_key)
        self._start(invocation)
        return invocation

    def invoke_agent(
        self,
        component_id: str,
        agent: AgentRef,
        method: str,
        args: list[Any] | None,
        wave: str | None = None,
        idempotency_key: str | None = None,
    ) -> Invocation:
        from host.errors import HostError

        host = self.host
        try:
            agent_id = self._agent(component_id, agent.name)
            host.create_agent(component_id, agent_id.name)  # queues initialize when new
            if wave is not None:
                call = host.agent_call_from_wave(agent_id, f"{method}({wave})")
            else:
                call = host.agent_call_from_json(agent_id, method, args or [])
        except (HostError, AdapterError) as exc:
            failed = _Invocation(self, self._agent(component_id, "refused"), None, None)
            failed.error = f"refused: {exc}"
            return failed
        invocation = _Invocation(self, agent_id, call, idempotency_key)
        invocation.agent_call = True
        self._start(invocation)
        return invocation

    def _start(self, invocation: _Invocation) -> None:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(invocation.thread)
        invocation.thread.start()

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

        try:
            view = self.host.agent(self._agent(component_id, agent))
        except AgentNotFound:
            return None
        record = view.record
        return AgentState(view.status, view.queued, record.last_error, record.retry_count)

    def oplog(self, component_id: str, agent: str) -> list[OplogEntry]:
        from host import oplog

        page = self.host.oplog(self._agent(component_id, agent))
        # A failed update names no function: its reason stands in (specification.md). A
        # guest's durable function is the host call Golem records it as, by its own name.
        return [
            OplogEntry(
                "host-call" if isinstance(e, oplog.DurableFunctionCall) else oplog.kind(e),
                getattr(e, "function", getattr(e, "details", None)),
            )
            for _, e in page.entries
        ]

    def pending_promises(self, component_id: str, agent: str) -> list[int]:
        promises = self.host.list_promises(self._agent(component_id, agent))
        return [p.id.oplog_idx for p in promises]

    def route(
        self,
        component_id: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> HttpResponse:
        from host.conformance.adapters.inprocess_http import route_request

        if self._router is None:
            raise AdapterError("the adapter is not started")
        return route_request(self.host, self._router, method, path, headers, body)

    def webhook(self, component_id: str, url: str, body: bytes) -> HttpResponse:
        from host.conformance.adapters.inprocess_http import webhook_request

        return webhook_request(self.host, url, body)

    def revert(
        self, component_id: str, agent: str, last_invocations: int | None, to_index: int | None
    ) -> None:
        self.host.revert_agent(self._agent(component_id, agent), to_index, last_invocations)

    def complete_at_suspension(self, component_id: str, agent: str, data: bytes) -> None:
        with self._lock:
            self._hooks[self._agent(component_id, agent)] = data

    def _before_suspend(self, agent: AgentId) -> None:
        # The Host's test seam: runs between "nothing is ready" and the suspension commit.
        with self._lock:
            data = self._hooks.pop(agent, None)
        if data is None:
            return
        # Inside the agent's run: the completion wakes it, and the run re-checks.
        for promise in self.host.list_promises(agent):
            self.host.complete_promise(promise.id, data)
