"""The use cases of agent-host, one method each, over an injected store.

Front ends (the CLI, the HTTP server, the conformance adapters, the console) parse
input, call one of these, and format what comes back; none of them reads the store or
drives the executor. Methods return frozen values (:mod:`host.service.views`) or
store records and raise the :class:`~host.errors.HostError` tree.

Which thread runs an agent is the scheduler's business: with the
:class:`~host.runtime.scheduler.InlineScheduler` (the default) every method returns once
the agents it woke have come to rest (finished, suspended or failed); with a
:class:`~host.runtime.scheduler.PoolScheduler` (the server) they run on the pool and
callers wait with :meth:`HostService.wait_async`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host import oplog, oplog_pages, oplog_search
from host.clock import steady_ns
from host.errors import (
    AgentBusy,
    AgentExists,
    AgentFailed,
    AgentNotFound,
    InvalidInput,
    LeaseHeld,
    NotFound,
    StoreError,
)
from host.ids import AgentId, check_agent_name
from host.limits import Limits, validate
from host.oplog_pages import Cursor
from host.oplog_pages import Page as OplogPublicPage
from host.runtime import remote_interrupt, update_queue
from host.runtime.engine import make_engine
from host.runtime.executor import LEASE_TTL_S, Executor
from host.runtime.registry import ComponentRegistry, Export
from host.runtime.scheduler import InlineScheduler, Scheduler
from host.secrets import CompletionPolicy, PromiseSecrets
from host.service.agent_calls import AgentCallsService
from host.service.agents import AgentProtocol
from host.service.promises import PromiseService
from host.service.retry_policies import RetryPolicyService
from host.service.views import (
    AgentView,
    CheckReport,
    ComponentView,
    InvocationView,
    OplogPage,
    status_line,
)
from host.service.worker_ops import WorkerOps
from host.store import (
    ComponentRecord,
    InvocationRecord,
    Store,
    open_store,
    resolve,
)
from host.store.base import DONE, ERRORED, FAILED, INTERRUPTED, QUEUED, RUNNING, STARTED
from host.tracecontext import TraceContext
from host.values import convert


@dataclass(frozen=True)
class Call:
    """An invocation ready to queue: its agent, the export it calls (on the component
    version the agent runs, or will run once created) and canonical WAVE parameters."""

    agent: AgentId
    export: Export
    params: tuple[str, ...]
    agent_exists: bool


DEFAULT_PUBLIC_URL = "http://127.0.0.1:9881"  # `serve`'s default address
# How long an interrupt waits for another process running the agent to stop it.
INTERRUPT_WAIT_S = 10.0


class HostService(AgentProtocol, AgentCallsService, PromiseService, RetryPolicyService, WorkerOps):
    """One host process's view of a data directory (database, components, code cache)."""

    def __init__(
        self,
        target: Path | str,
        *,
        store: Store | None = None,
        data_dir: Path | None = None,
        scheduler: Scheduler | None = None,
        limits: Limits | None = None,
        output: Callable[[AgentId, str, bytes], None] | None = None,
        progress: Callable[[str], None] | None = None,
        before_suspend: Callable[[AgentId], None] | None = None,
        completion_policy: CompletionPolicy = "open",
        lease_ttl_s: float = LEASE_TTL_S,
        retry_policy: dict[str, object] | None = None,
        public_url: str = DEFAULT_PUBLIC_URL,
        max_in_function_retry_delay_s: float = 20.0,
    ) -> None:
        """``target`` is a data directory or a store URL (:mod:`host.store.url`); a URL that
        names only a database needs ``data_dir`` as well. ``store`` injects a store instead
        of opening one. ``completion_policy`` says who may complete another agent's promise
        from a guest ("open": anyone, Golem's model; "secret": only with its secret).
        ``before_suspend`` is a test seam, off by default: it runs between "nothing the
        agent awaits is ready" and the suspension's commit, the window of spec rule 4.
        ``lease_ttl_s`` is the agents' lease TTL (host/store/sqlite.py; short in tests).
        ``retry_policy`` (golem:api/host retry-policy fields, e.g. ``{"max-attempts": 0}``)
        is the retry policy of agents whose guest set none; Golem's default otherwise.
        ``max_in_function_retry_delay_s`` is Golem's max_in_function_retry_delay: an
        in-function retry whose delay is longer falls back to a trap (http_retry.py).
        ``public_url`` is where clients reach this host's server: webhook URLs
        (``create-webhook``) start with it."""
        location = resolve(target)
        env_dir = os.environ.get("AGENT_HOST_DATA_DIR")
        chosen = data_dir or location.data_dir or (Path(env_dir) if env_dir else None)
        if chosen is None:
            raise StoreError(
                "this store URL names only the database: give a data directory too "
                "(--data-dir or $AGENT_HOST_DATA_DIR; components and compiled code live there)"
            )
        self.data_dir = chosen
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store: Store = store or open_store(location)
        self.scheduler: Scheduler = scheduler or InlineScheduler()
        self.registry = ComponentRegistry(
            make_engine(), self.store, self.data_dir, progress=progress
        )
        # The guest side of the completion model (see host.secrets.CompletionPolicy);
        # the HTTP side is host.server.auth.
        self.secrets = PromiseSecrets(self.data_dir, completion_policy)
        self.executor = Executor(
            self.store,
            self.registry,
            self.scheduler,
            limits=limits or Limits(),
            secrets=self.secrets,
            output=output,
            lease_ttl_s=lease_ttl_s,
        )
        self.executor.default_retry_policy = retry_policy
        self.executor.max_in_function_retry_delay_ns = int(max_in_function_retry_delay_s * 1e9)
        self.public_url = public_url.rstrip("/")
        self.executor.webhook_url = self.webhook_url
        self.executor.agent_calls = self  # guests' agent-to-agent calls (agent_calls.py)
        self.registry.scratch_store = (self.executor.new_store, self.executor.limits)
        self.executor.before_suspend = before_suspend

    def close(self) -> None:
        self.executor.close()
        self.store.close()

    @property
    def limits(self) -> Limits:
        """The host's default limits."""
        return self.executor.limits

    # -- components -------------------------------------------------------------------
    def add_component(self, path: Path | str, name: str | None = None) -> ComponentRecord:
        """Register a component file (checked: a component, every import provided)."""
        return self.registry.add(path, name)

    def add_component_bytes(self, data: bytes, name: str) -> ComponentRecord:
        return self.registry.add_bytes(data, name)

    def list_components(self) -> list[ComponentRecord]:
        return self.store.list_components()

    def component(self, ref: str) -> ComponentView:
        """A component (latest version, by id or name) with its exported functions."""
        record = self.store.get_component(ref)
        return ComponentView(record, tuple(self.registry.functions(record.hash)))

    def exports(self, hash: str) -> dict[str, Export]:
        return self.registry.exports(hash)

    def resolve_export(self, hash: str, function: str) -> Export:
        return self.registry.resolve_export(hash, function)

    def call_scratch(self, record: ComponentRecord, function: str) -> Any:
        """Call a parameterless export on a throwaway instance (no agent, no oplog)."""
        return self.registry.call_scratch(record, function, self.executor.new_store, self.limits)

    # -- agents -------------------------------------------------------------------------
    def agent_id(self, component_ref: str, name: str) -> AgentId:
        """An agent by name: on an agent component the name is an agent id
        (``CounterAgent("c1")``), canonicalised."""
        record = self.store.get_component(component_ref)
        return AgentId(uuid.UUID(record.id), self._agent_name(record, name))

    def _agent_name(self, record: ComponentRecord, name: str) -> str:
        types = self.registry.agent_types(record.hash)
        if types is None:
            return _name(name)
        from host.agents.agentid import canonical_agent_id

        return canonical_agent_id(name, types)

    def create_agent(
        self,
        component_ref: str,
        name: str,
        args: Sequence[str] = (),
        env: Sequence[tuple[str, str]] = (),
        config: oplog.AgentConfig = (),
    ) -> tuple[AgentId, bool]:
        """Create an agent on the latest version of a component; (id, created now)."""
        record = self.store.get_component(component_ref)
        agent = AgentId(uuid.UUID(record.id), self._agent_name(record, name))
        full_env = (
            # As Golem sets them: the agent's name, its component and the version it
            # was created on (REVISION is Golem 1.3's name for VERSION).
            ("GOLEM_AGENT_ID", agent.name),
            ("GOLEM_WORKER_NAME", agent.name),
            ("GOLEM_COMPONENT_ID", str(agent.component_id)),
            ("GOLEM_COMPONENT_VERSION", str(record.version)),
            ("GOLEM_COMPONENT_REVISION", str(record.version)),
            *self.agent_env(agent),
            *env,
        )
        created = oplog.AgentCreated(record.id, record.hash, tuple(args), full_env, config=config)
        made = self.store.create_agent(agent, record.hash, created, record.version)
        # An agent component's agent: its first invocation is `initialize`.
        self._initialize(agent, self.store.get_agent(agent).component_hash)
        return agent, made

    def create_new_agent(
        self,
        component_ref: str,
        name: str,
        args: Sequence[str] = (),
        env: Sequence[tuple[str, str]] = (),
        config: Sequence[str] = (),
    ) -> AgentId:
        """:meth:`create_agent`, refusing a name already taken (AgentExists)."""
        stored = self.config_from_wave(component_ref, name, config)  # KEY=WAVE pairs
        agent, created = self.create_agent(component_ref, name, args, env, stored)
        if not created:
            raise AgentExists(str(agent))
        return agent

    def agent(self, agent: AgentId) -> AgentView:
        return self._view(self.store.get_agent(agent))

    def list_agents(
        self, component_ref: str | None = None, status: str | None = None
    ) -> list[AgentView]:
        cid = self.store.get_component(component_ref).id if component_ref else None
        views = []
        for record, created, promises, invocations in self.store.agent_listing(cid, status):
            assert isinstance(created, oplog.AgentCreated)
            # The version by number, as the agents row keeps it: two versions may hold
            # the same file (host/agent_versions.py).
            views.append(
                AgentView(
                    record, created, record.component_version, tuple(promises), tuple(invocations)
                )
            )
        return views

    def _view(self, record: Any) -> AgentView:
        created = self.store.read_oplog(record.agent, 1, 1)[0]
        assert isinstance(created, oplog.AgentCreated)
        return AgentView(
            record,
            created,
            record.component_version,
            tuple(self.store.list_promises(record.agent)),
            tuple(self.store.list_invocations(record.agent, [QUEUED, STARTED])),
        )

    def status_line(self, agent: AgentId) -> str:
        return status_line(self.store.get_agent(agent))

    def delete_agent(self, agent: AgentId) -> None:
        """Delete the agent with its oplog, promises and queue; refused (AgentBusy) while
        an invocation of it runs here or in another live process."""
        self.store.get_agent(agent)
        if self.executor.is_running_here(agent):
            raise AgentBusy(str(agent), "deleting it")
        holder = self.store.acquire_lease(agent, self.executor.owner, self.executor.lease_ttl_s)
        if holder is not None:
            raise AgentBusy(str(agent), "deleting it")
        try:
            self.store.delete_agent(agent)
        finally:
            self.store.release_lease(agent, self.executor.owner)
            self.executor.forget_instance(agent)

    def interrupt(self, agent: AgentId) -> AgentView:
        """Stop the agent: nothing runs (no queued invocation, no wake-up) until
        :meth:`resume`. A running invocation (run by this process) is stopped within an
        epoch tick and left started: the resume replays it and continues it live."""
        if self.store.get_agent(agent).status != RUNNING:
            self.store.interrupt(agent)
        elif self.executor.interrupt_running(agent):
            if self.store.get_agent(agent).status != INTERRUPTED:
                self.store.interrupt(agent)  # it finished just before the interrupt came
        elif holder := self.store.acquire_lease(
            agent, self.executor.owner, self.executor.lease_ttl_s
        ):
            # Another process runs it: asked to stop it (host/runtime/remote_interrupt.py);
            # Conflict if it does not.
            remote_interrupt.interrupt_elsewhere(self.store, agent, holder, INTERRUPT_WAIT_S)
            if self.store.get_agent(agent).status != INTERRUPTED:
                self.store.interrupt(agent)  # it finished just before the interrupt came
        else:
            # Running in the store but run by no process (a crash stopped it): it stays
            # started, and the resume replays it.
            try:
                self.store.set_status(agent, INTERRUPTED)
            finally:
                self.store.release_lease(agent, self.executor.owner)
        self.executor.forget_instance(agent)
        return self.agent(agent)

    def resume(self, agent: AgentId) -> AgentView:
        """Let an interrupted agent run again, or retry a failed one (its failed invocation
        runs again, replayed up to where it failed)."""
        if self.store.get_agent(agent).status == FAILED:
            self.store.retry(agent)
        else:
            self.store.resume(agent)
        self.scheduler.settle(agent)
        return self.agent(agent)

    def retry(self, agent: AgentId) -> str | None:
        """Let a failed agent run again without running it now; returns the invocation
        that will be re-executed, if the failure was recorded in one."""
        invocation = self.store.retry(agent)
        self.scheduler.wake(agent)
        return invocation

    def run_agent(self, agent: AgentId) -> str:
        """Run the agent here while it has work (whatever the scheduler); its status."""
        return self.executor.run_agent(agent)

    def run_due(self) -> list[AgentId]:
        """Run every agent with work due now (woken, timers, interrupted, queued) on this
        thread: what `agent-host worker` does."""
        ran = []
        self.fire_due_schedules(_now_ns())  # scheduled invocations due: queued, agents woken
        for agent in self.store.runnable_agents(_now_ns()):
            if self.executor.is_running_here(agent):
                continue  # this process is running it now; do not queue behind it
            try:
                self.executor.run_agent(agent)
                ran.append(agent)
            except LeaseHeld:
                continue
        self.scheduler.settle(None)
        return ran

    # -- invocations --------------------------------------------------------------------
    def _target(self, agent: AgentId) -> tuple[str, bool]:
        """The component version an agent's calls resolve against, and whether it exists:
        an existing agent's pinned version, else the component's latest."""
        try:
            return self.store.get_agent(agent).component_hash, True
        except AgentNotFound:
            return self.store.get_component(str(agent.component_id)).hash, False

    def export_for(self, agent: AgentId, function: str) -> Export:
        """The export ``function`` names on the component version the agent runs (or, not
        created yet, will run)."""
        return self.registry.resolve_export(self._target(agent)[0], function)

    def call_from_wave(self, agent: AgentId, call: str) -> Call:
        """A call written as WAVE text: ``fn(1, "x", {a: 1})``."""
        hash, exists = self._target(agent)
        name, argtext, base = convert.split_call(call)
        export = self.registry.resolve_export(hash, name)
        return Call(agent, export, convert.params_from_wave(export.sig, argtext, base), exists)

    def call_from_json(self, agent: AgentId, function: str, params: Sequence[Any]) -> Call:
        """A call with JSON parameters typed by the function's WIT types."""
        hash, exists = self._target(agent)
        export = self.registry.resolve_export(hash, function)
        return Call(agent, export, convert.params_from_json(export.sig, params), exists)

    def call_from_values(self, agent: AgentId, export: Export, values: Sequence[Any]) -> Call:
        """A call with typed values (:mod:`host.values`) for a known export."""
        _, exists = self._target(agent)
        return Call(agent, export, convert.params_from_values(export.sig, values), exists)

    def submit(
        self, call: Call, idempotency_key: str | None = None, trace: TraceContext | None = None
    ) -> InvocationRecord:
        """Queue the call (creating its agent on first use) and let it run: inline, this
        returns once the agent comes to rest; on a pool, at once. Returns the invocation
        as it is then. ``trace``: the W3C trace context of its request
        (:func:`host.tracecontext.trace_context`), kept with the invocation."""
        call = self.ephemeral_call(call, idempotency_key)
        if not call.agent_exists or not self.store.list_invocations(call.agent):
            self.create_agent(str(call.agent.component_id), call.agent.name)
        agent = self.store.get_agent(call.agent)
        export = self.registry.resolve_export(agent.component_hash, call.export.name)
        convert.check_params(export.sig, call.params)
        if agent.status == FAILED and not self._known_key(call.agent, idempotency_key):
            raise AgentFailed(str(call.agent), agent.last_error)
        self.refuse_second_initialize(call.agent, export.name, idempotency_key)
        invocation = self.store.enqueue(
            call.agent,
            str(uuid.uuid4()),
            export.name,
            call.params,
            idempotency_key,
            None if trace is None else trace.traceparent,
            None if trace is None else trace.tracestate,
        )
        if invocation.state not in (DONE, ERRORED):
            self.scheduler.settle(call.agent)
        return self.store.get_invocation(invocation.invocation_id)

    def _known_key(self, agent: AgentId, idempotency_key: str | None) -> bool:
        """Whether an invocation of the agent already has this idempotency key (its
        record is returned as it is, even by a failed agent)."""
        if idempotency_key is None:
            return False
        return any(i.idempotency_key == idempotency_key for i in self.store.list_invocations(agent))

    def invoke(
        self, agent: AgentId, call: str, idempotency_key: str | None = None
    ) -> InvocationRecord:
        """:meth:`submit` of a WAVE call."""
        return self.submit(self.call_from_wave(agent, call), idempotency_key)

    def invocation(self, invocation_id: str, agent: AgentId | None = None) -> InvocationView:
        """An invocation as it is now (NotFound if ``agent`` is given and not its agent)."""
        record = self.store.get_invocation(invocation_id)
        if agent is not None and record.agent != agent:
            raise NotFound(f"agent {agent} has no invocation {invocation_id}")
        return self._invocation_view(record)

    def _invocation_view(self, record: InvocationRecord) -> InvocationView:
        agent = self.store.get_agent(record.agent)
        result = None
        if record.state == DONE and not update_queue.is_update(record.function):
            # (a queued update request, host/runtime/update_queue.py, has no result)
            export = self.registry.resolve_export(agent.component_hash, record.function)
            result = convert.result_to_json(export.sig, record.result)
        return InvocationView(record, agent, result)

    def _settled(
        self,
        invocation_id: str,
        until_suspended: bool,
        ended: list[InvocationRecord] | None = None,
    ) -> Callable[[], bool]:
        """``done()`` for a held wait; an ended invocation's record is appended to
        ``ended`` (an ended invocation does not change: the answer needs no re-read)."""

        def done() -> bool:
            record = self.store.get_invocation(invocation_id)
            if record.state in (DONE, ERRORED):
                if ended is not None:
                    ended.append(record)
                return True
            status = self.store.get_agent(record.agent).status
            if status == FAILED:
                return True  # failed while replaying: nothing more will happen
            return until_suspended and status in ("suspended", "interrupted")

        return done

    async def wait_async(
        self, invocation_id: str, timeout: float, until_suspended: bool = False
    ) -> InvocationView:
        """The invocation once it is done or failed (or, with ``until_suspended``, once its
        agent is suspended or interrupted), or as it is when ``timeout`` passes. Holds no
        thread while it waits."""
        record = self.store.get_invocation(invocation_id)
        ended: list[InvocationRecord] = []
        await self.scheduler.wait_async(
            record.agent, self._settled(invocation_id, until_suspended, ended), timeout
        )
        if ended:  # read a moment ago, on this thread (the event loop's): one read less
            return self._invocation_view(ended[-1])
        return self.invocation(invocation_id)

    # -- the oplog ----------------------------------------------------------------------
    def oplog(self, agent: AgentId, start: int = 1, count: int | None = None) -> OplogPage:
        length = self.store.get_agent(agent).oplog_length
        entries = self.store.read_oplog(agent, start, count)
        return OplogPage(tuple((start + i, e) for i, e in enumerate(entries)), length)

    def public_oplog(
        self, agent: AgentId, start: int, count: int, cursor: Cursor | None, query: str | None
    ) -> OplogPublicPage:
        """A page of the agent's oplog as Golem's public entries (host/oplog_pages.py):
        from ``cursor`` (else ``start``), or with ``query`` the entries matching it (a
        QueryError, InvalidInput, if it is not a query)."""
        if query is None:
            return oplog_pages.get_page(self.store, agent, start, count, cursor)
        return oplog_pages.search_page(self.store, agent, count, oplog_search.parse(query), cursor)

    # -- limits ---------------------------------------------------------------------------
    def limit_scope(self, component_ref: str, agent_name: str | None = None) -> str:
        """The scope limits are kept under: a component's id or an agent's ``<id>/<name>``."""
        if agent_name:
            return str(self.agent_id(component_ref, agent_name))
        return self.store.get_component(component_ref).id

    def set_limits(
        self, scope: str, overrides: dict[str, Any], replace: bool = False
    ) -> dict[str, object]:
        """Set limits for a component (scope: its id) or an agent (``<id>/<name>``);
        returns the scope's layer as it is now."""
        current = {} if replace else self.store.get_limits(scope)
        self.store.set_limits(scope, {**current, **validate(overrides)})
        return self.store.get_limits(scope)

    def limits_for(self, agent: AgentId) -> Limits:
        """The limits in force for an agent: defaults, component's, agent's."""
        return self.executor.limits_for(agent)

    def component_limits(self, component_ref: str) -> Limits:
        cid = self.store.get_component(component_ref).id
        return self.limits.merged(self.store.get_limits(cid))

    # -- integrity -------------------------------------------------------------------------
    def health(self) -> None:
        """A cheap read of the store; StoreError if it cannot be used now."""
        self.store.health()

    def verify_store(self) -> None:
        """The whole database file's integrity (SQLite quick_check); StoreError naming
        the damage. ``serve`` runs it before answering anything."""
        self.store.verify()

    def backup(self, dest: Path) -> Path:
        """A consistent copy of the database at ``dest`` (a new file, or a directory to
        hold ``agent-host.db``), safe while a server writes; the file written."""
        from host.store import DB_FILENAME

        target = dest / DB_FILENAME if dest.is_dir() else dest
        self.store.backup(target)
        return target

    def check(self, component_ref: str | None = None, agent_name: str | None = None) -> CheckReport:
        """Verify oplogs (all agents, one component's or one agent's); changes nothing."""
        from host.store.check import check_store

        if component_ref:
            cid = self.store.get_component(component_ref).id
            if agent_name:
                agent = AgentId(uuid.UUID(cid), agent_name)
                self.store.get_agent(agent)
                agents = [agent]
            else:
                agents = [a.agent for a in self.store.list_agents(cid)]
        else:
            agents = [a.agent for a in self.store.list_agents()]
        problems = check_store(self.store, agents)
        return CheckReport(len(agents), tuple(str(p) for p in problems))


def _name(name: str) -> str:
    try:
        return check_agent_name(name)
    except InvalidInput as exc:
        raise InvalidInput(str(exc), field="name") from None


def _now_ns() -> int:
    return steady_ns()
