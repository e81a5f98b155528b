"""Agent-to-agent calls on the service side (issue 12, item 6), mixed into HostService:
:class:`host.runtime.agent_rpc.AgentCalls` for the guests' ``wasm-rpc`` and the
registered agent types for ``golem:agent/host``.

The callee is found by agent type name among the registered components (each at its
latest version), named by the canonical agent id of its constructor value (an
ephemeral type's callee gets a phantom id derived from the call's idempotency key, so
each call has its own fresh agent and a replaying caller still finds the same one),
created on first use (its ``initialize`` queued first) and sent ``invoke(method,
input, agent(caller))`` under the caller's idempotency key.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from host.agents import agentconfig
from host.agents.agentid import find_type, make_agent_id
from host.agents.agenttypes import AgentType
from host.agents.wittype import value_from_wit_value
from host.errors import Conflict, HostError, InvalidInput, NotFound
from host.ids import AgentId
from host.oplog import AgentConfig, AgentCreated, HostCall
from host.runtime.agent_rpc import RpcFailure, RpcTarget, WorkerTarget
from host.runtime.agent_schedule import SCHEDULE_PREFIX
from host.runtime.agentproto import export_name
from host.runtime.golem_workers import component_to
from host.runtime.inherited_context import caller_of
from host.service import agent_methods_0_2_2 as m022
from host.store import FAILED, AgentRecord
from host.store.schedules import CANCELLED, ENQUEUED, FIRING, WAITING, ScheduledCall
from host.store.schedules import FAILED as SCHEDULE_FAILED
from host.tracecontext import TraceContext, trace_context
from host.values import Case, Some
from host.values.types import Value, WitType

if TYPE_CHECKING:
    from host.runtime.registry import ComponentRegistry, Export
    from host.runtime.scheduler import Scheduler
    from host.service.core import Call
    from host.store import Store

# Phantom ids of ephemeral callees: uuid5 of the call's idempotency key in this namespace.
EPHEMERAL_NS = uuid.UUID("6f1d3a52-6a43-4b53-9d1c-9a4f0e1b2c7d")

log = logging.getLogger("agent-host")
SCHEDULE_KEY_PREFIX = "at:"  # keys of calls scheduled through the REST API without one


class AgentCallsService:
    """The service's side of agent-to-agent calls; a mixin of HostService."""

    if TYPE_CHECKING:  # what HostService provides
        store: Store
        registry: ComponentRegistry
        scheduler: Scheduler

        def create_agent(
            self, component_ref: str, name: str, args: Any = (), env: Any = (), config: Any = ()
        ) -> tuple[AgentId, bool]: ...
        def agent_type_of(self, agent: AgentId) -> AgentType | None: ...
        def call_from_values(self, agent: AgentId, export: Export, values: Any) -> Call: ...
        def agent_id(self, component_ref: str, name: str) -> AgentId: ...

    def registered_agent_types(self) -> list[tuple[str, AgentType]]:
        """Every registered agent type with the id of the component implementing it."""
        found: list[tuple[str, AgentType]] = []
        for record in self.store.list_components():
            for agent_type in self.registry.agent_types(record.hash) or []:
                found.append((record.id, agent_type))
        return found

    def agent_method_outcome(
        self, component_hash: str, agent_name: str, method: str, result: Case
    ) -> Case:
        """golem:rpc 0.2.2's answer to a ``<type>.{<method>}`` call whose ``invoke``
        answered ``result`` (agent_methods_0_2_2.py)."""
        types = self.registry.agent_types(component_hash)
        return m022.outcome(m022.callee_type(types, agent_name), method, result)

    def callee_result_type(self, component_hash: str, function: str) -> WitType | None:
        try:
            return self.registry.resolve_export(component_hash, function).sig.result
        except HostError:
            return None

    def enqueue_agent_call(
        self,
        caller: AgentId,
        target: RpcTarget,
        method: str,
        input: Value,
        key: str,
        awaiting: bool,
        trace: TraceContext | None = None,
    ) -> AgentId:
        agent, function, params = self._agent_call(caller, target, method, input, key, awaiting)
        self._callee(str(agent.component_id), agent, self._rpc_config(agent, target))
        self._enqueue_traced(agent, function, params, key, trace)
        self.scheduler.wake(agent)
        return agent

    def rpc_target_id(self, target: RpcTarget) -> str:
        """The agent a ``wasm-rpc`` resource names, as its rpc-connection span's
        ``target_agent_id`` (an ephemeral callee's phantom comes with each call: the id
        without one); the agent type's name if it names none."""
        found = self.registered_agent_types()
        try:
            agent_type = find_type(target.agent_type, [t for _, t in found])
            component_id = next(c for c, t in found if t is agent_type)
            name = make_agent_id(agent_type, target.constructor, _phantom(target.phantom))
        except (InvalidInput, AssertionError, ValueError, KeyError, TypeError):
            return target.agent_type
        return str(AgentId(uuid.UUID(component_id), name))

    def _agent_call(
        self,
        caller: AgentId,
        target: RpcTarget,
        method: str,
        input: Value,
        key: str,
        awaiting: bool,
    ) -> tuple[AgentId, str, tuple[str, ...]]:
        """The callee of a call by agent type, the export it queues and its parameters
        (typed against the callee's version, or the latest if it does not exist yet)."""
        found = self.registered_agent_types()
        try:
            agent_type = find_type(target.agent_type, [t for _, t in found])
        except InvalidInput as exc:
            raise RpcFailure("not-found", str(exc)) from None
        component_id = next(c for c, t in found if t is agent_type)
        if not any(m.name == method for m in agent_type.methods):
            known = ", ".join(m.name for m in agent_type.methods) or "none"
            raise RpcFailure(
                "not-found",
                f"agent type {agent_type.type_name} has no method {method!r} (methods: {known})",
            )
        phantom = _phantom(target.phantom)
        if agent_type.mode == "ephemeral":
            phantom = uuid.uuid5(EPHEMERAL_NS, key)
        try:
            name = make_agent_id(agent_type, target.constructor, phantom)
        except (InvalidInput, AssertionError, ValueError, KeyError, TypeError) as exc:
            raise RpcFailure(
                "protocol-error", f"invalid constructor value for {agent_type.type_name}: {exc}"
            ) from None
        agent = AgentId(uuid.UUID(component_id), name)
        if awaiting and agent == caller:
            raise RpcFailure(
                "denied",
                f"agent {name} cannot await a call to itself (its queue is busy "
                "with the awaiting call); use invoke to enqueue it",
            )
        hash = self._callee_hash(component_id, agent)
        generation = self.registry.guest_generation(hash)
        export = self.registry.resolve_export(hash, export_name(generation, "invoke"))
        args: list[Any] = [method, input]
        if generation == "1.5":
            args.append(_principal(caller))
        return agent, export.name, self.call_from_values(agent, export, args).params

    def _callee_hash(self, component_id: str, agent: AgentId) -> str:
        """The component version the callee runs, or will run once created."""
        try:
            return self.store.get_agent(agent).component_hash
        except NotFound:
            return self.store.get_component(component_id).hash

    def _rpc_config(self, agent: AgentId, target: RpcTarget) -> AgentConfig:
        """The constructor's agent-config, checked against the callee's declarations."""
        if not target.config:
            return ()
        agent_type = self.agent_type_of(agent)
        if agent_type is None:
            raise RpcFailure("protocol-error", f"{agent.name} is not an agent with config")
        try:
            assert isinstance(target.config, list | tuple)
            return agentconfig.from_typed(agent_type, target.config)
        except InvalidInput as exc:
            raise RpcFailure("protocol-error", str(exc)) from None

    def config_from_wave(self, component_ref: str, name: str, pairs: Sequence[str]) -> AgentConfig:
        """``KEY=WAVE`` config values for a new agent, checked (InvalidInput naming the key)."""
        if not pairs:
            return ()
        agent = self.agent_id(component_ref, name)
        agent_type = self.agent_type_of(agent)
        if agent_type is None:
            raise InvalidInput(
                f"{agent.name} is not an agent of an agent type: it takes no config",
                field="config",
            )
        return agentconfig.from_wave_pairs(agent_type, pairs)

    def create_with_config(
        self, component_ref: str, agent: AgentId, config: AgentConfig
    ) -> tuple[AgentId, bool]:
        """Create the agent with these (checked) config values; an existing agent is
        kept if it has the same ones, else Conflict (config is given at creation)."""
        made, created = self.create_agent(component_ref, agent.name, config=config)
        if not created and config and self.agent_config(made)[1] != config:
            raise Conflict(
                f"agent {made.name} exists with other config values (config is given when "
                "an agent is created)"
            )
        return made, created

    def agent_config(self, agent: AgentId) -> tuple[AgentType | None, AgentConfig]:
        """The agent's type and the config values it was created with."""
        entries = self.store.read_oplog(agent, 1, 1)
        created = entries[0] if entries else None
        stored = created.config if isinstance(created, AgentCreated) else ()
        return self.agent_type_of(agent), stored

    def _enqueue_traced(
        self,
        agent: AgentId,
        function: str,
        params: Sequence[str],
        key: str,
        trace: TraceContext | None,
    ) -> None:
        # The caller's trace context is the callee invocation's (Golem's wasm-rpc passes
        # the caller's invocation context stack).
        parent = None if trace is None else trace.traceparent
        state = None if trace is None else trace.tracestate
        self.store.enqueue(agent, str(uuid.uuid4()), function, params, key, parent, state)

    def _callee(self, component_id: str, agent: AgentId, config: AgentConfig = ()) -> AgentRecord:
        """The callee, created on first use; RpcFailure if it failed."""
        self.create_agent(component_id, agent.name, config=config)
        record = self.store.get_agent(agent)
        if record.status == FAILED:
            raise RpcFailure(
                "remote-internal-error", f"agent {agent.name} failed: {record.last_error}"
            )
        return record

    def enqueue_worker_call(
        self,
        caller: AgentId,
        callee: AgentId,
        function: str,
        params: list[Value],
        key: str,
        awaiting: bool,
        trace: TraceContext | None = None,
    ) -> AgentId:
        agent, export, values = self._worker_call(caller, callee, function, params, key, awaiting)
        self._callee(str(agent.component_id), agent)
        self._enqueue_traced(agent, export, values, key, trace)
        self.scheduler.wake(agent)
        return agent

    def _worker_call(
        self,
        caller: AgentId,
        callee: AgentId,
        function: str,
        params: list[Value],
        key: str,
        awaiting: bool,
    ) -> tuple[AgentId, str, tuple[str, ...]]:
        """golem:rpc 0.2.2: the callee, the export and its parameters of a call by
        export name with wit-values."""
        component_id = str(callee.component_id)
        try:
            agent = self.agent_id(component_id, callee.name)
        except NotFound as exc:
            raise RpcFailure("not-found", str(exc)) from None
        except InvalidInput as exc:
            raise RpcFailure("protocol-error", f"invalid agent id {callee.name!r}: {exc}") from None
        if awaiting and agent == caller:
            raise RpcFailure("denied", f"agent {agent.name} cannot await a call to itself")
        hash = self._callee_hash(component_id, agent)
        named = m022.parse_method_name(function)
        declared = self.registry.agent_types(hash)
        if named is not None and declared is not None:  # golem-rust 1.4: `<type>.{<method>}`
            agent_type = m022.callee_type(declared, agent.name)
            if agent_type is None:
                raise RpcFailure("not-found", f"{agent.name} is not an agent of this component")
            method = m022.find_method(agent_type, *named)
            generation = self.registry.guest_generation(hash)
            invoke = self.registry.resolve_export(hash, export_name(generation, "invoke"))
            args: list[Any] = [method.name, m022.method_input(method, params)]
            if generation == "1.5":
                args.append(_principal(caller))
            return agent, invoke.name, self.call_from_values(agent, invoke, args).params
        try:
            export = self.registry.resolve_export(hash, function)
        except HostError as exc:
            raise RpcFailure("not-found", str(exc)) from None
        types = export.sig.param_types
        if len(params) != len(types):
            raise RpcFailure(
                "protocol-error",
                f"{function} takes {len(types)} parameter(s), the call gave {len(params)}",
            )
        try:
            values = [value_from_wit_value(p, t) for p, t in zip(params, types, strict=True)]
        except InvalidInput as exc:
            raise RpcFailure("protocol-error", f"{function}: {exc}") from None
        return agent, export.name, self.call_from_values(agent, export, values).params

    # -- scheduled invocations (host/store/schedules.py) ----------------------------------
    def schedule_call(
        self,
        caller: AgentId,
        target: RpcTarget | WorkerTarget,
        method: str,
        input: Value,
        key: str,
        due_at_ns: int,
        trace: TraceContext | None = None,
    ) -> None:
        """Store the call for the scheduler to enqueue at ``due_at_ns`` (wall clock), with
        the scheduler's ``trace`` context; a call already stored under ``key`` is kept.
        RpcFailure as for an immediate call."""
        if isinstance(target, WorkerTarget):
            assert isinstance(input, list)
            agent, function, params = self._worker_call(
                caller, target.agent, method, input, key, False
            )
        else:
            agent, function, params = self._agent_call(caller, target, method, input, key, False)
        self.store.add_schedule(
            _traced(ScheduledCall(key, agent, function, params, due_at_ns, caller), trace)
        )

    def schedule_at(
        self,
        call: Call,
        due_at_ns: int,
        key: str | None = None,
        trace: TraceContext | None = None,
    ) -> ScheduledCall:
        """Schedule a prepared call (REST ``invoke-agent`` with ``scheduleAt``): queued at
        ``due_at_ns`` under ``key`` (a new one if None), carrying the request's W3C
        ``trace`` context. A key already used for another call is a Conflict; for the same
        call it returns the stored schedule."""
        key = key or f"{SCHEDULE_KEY_PREFIX}{uuid.uuid4()}"
        wanted = _traced(
            ScheduledCall(key, call.agent, call.export.name, call.params, due_at_ns, None), trace
        )
        if not self.store.add_schedule(wanted):
            found = self.store.get_schedule(key)
            same = found is not None and (found.callee, found.function, found.params) == (
                wanted.callee,
                wanted.function,
                wanted.params,
            )
            if not same or found is None:
                raise Conflict(f"the idempotency key {key!r} was used for another scheduled call")
            return found
        return wanted

    def cancel_scheduled(self, key: str) -> bool:
        """Cancel the scheduled call if it still waits; whether it did."""
        return self.store.move_schedule(key, (WAITING,), CANCELLED)

    def fire_due_schedules(self, now_ns: int) -> list[AgentId]:
        """Enqueue every scheduled call due at ``now_ns`` (the scheduler's scan and
        ``run_due`` call this); the callees woken."""
        woken = []
        for call in self.store.due_schedules(now_ns):
            if call.state == WAITING and not self.store.move_schedule(call.key, (WAITING,), FIRING):
                continue  # cancelled, or claimed by another process, meanwhile
            agent = call.callee
            try:
                self._callee(str(agent.component_id), agent)
                self._enqueue_traced(
                    agent, call.function, call.params, call.key, self._scheduled_trace(call)
                )
            except HostError as exc:
                log.error("scheduled call %s to %s could not be queued: %s", call.key, agent, exc)
                self.store.move_schedule(call.key, (FIRING,), SCHEDULE_FAILED)
                continue
            self.store.move_schedule(call.key, (FIRING,), ENQUEUED)
            self.scheduler.wake(agent)
            woken.append(agent)
        return woken

    def _scheduled_trace(self, call: ScheduledCall) -> TraceContext | None:
        """The trace context a scheduled call carries: stored with it, or, for a guest's
        call stored before the schedule rows had it, in the caller's entry that scheduled
        it, which its key names (host/runtime/agent_schedule.py)."""
        if call.traceparent is not None:
            return trace_context(call.traceparent, call.tracestate)
        located = caller_of(call.key) if call.key.startswith(SCHEDULE_PREFIX) else None
        if located is None:
            return None
        caller, index = located
        try:
            (entry,) = self.store.read_oplog(caller, index, 1)
        except (HostError, ValueError):
            return None
        response = entry.response if isinstance(entry, HostCall) else None
        if not isinstance(response, dict) or response.get("key") != call.key:
            return None
        return trace_context(response.get("traceparent"), response.get("tracestate"))


def _traced(call: ScheduledCall, trace: TraceContext | None) -> ScheduledCall:
    """``call`` carrying the scheduler's ``trace`` context (if any)."""
    if trace is None:
        return call
    return dataclasses.replace(call, traceparent=trace.traceparent, tracestate=trace.tracestate)


def _phantom(value: Value) -> uuid.UUID | None:
    if value is None:
        return None
    inner: Any = value.value if isinstance(value, Some) else value
    return uuid.UUID(int=(inner["high-bits"] << 64) | inner["low-bits"])


def _principal(caller: AgentId) -> Any:
    from host.values import Case

    agent_id: dict[str, Any] = {
        "component-id": component_to(str(caller.component_id)),
        "agent-id": caller.name,
    }
    return Case("agent", {"agent-id": agent_id})
