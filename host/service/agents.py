"""The use cases of Golem agent components (issue 12, items 2 and 3), mixed into
:class:`host.service.core.HostService`.

An agent of an agent component is named by its canonical agent id
(``CounterAgent("c1")``, 1.4 ``counter-agent("c1")``, phantom ``[uuid]``). Its first
invocation, queued when it is created, is the guest's ``initialize(type, constructor
data-value, principal)``; every method call is ``invoke(method, data-value, principal)``.
Both are ordinary invocations of those exports (canonical WAVE parameters), so the queue,
oplog, replay, suspension and retries are the executor's. Results are
``result<data-value, agent-error>``: shown through the method's output schema, an
agent-error as :class:`AgentCallError` (the agent itself stays usable).

An ephemeral type's agent keeps nothing between calls: every call runs in an agent of
its own, the id the caller gave with a fresh phantom id (``ScratchAgent()[<uuid>]``, as
Golem gives ephemeral agents; derived from the idempotency key when there is one, so a
retried call finds its first run and result). Nothing is deleted while its result may
still be read: finished ephemeral agents are left for garbage collection
(:meth:`AgentProtocol.collect_ephemeral`, run before each ephemeral call), which removes
those at rest that were created more than ``ephemeral_retention_s`` ago and passes over
any still running.
No call ever waits on, or races with, the run before it.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from host.agents.agentid import (
    canonical_agent_id,
    find_type,
    make_agent_id,
    parse_agent_id,
    resolve_agent_id,
)
from host.agents.datavalue import (
    data_value_from_json,
    data_value_from_wave,
    data_value_to_rest_json,
    data_value_to_wave,
    result_to_json,
)
from host.agents.model import AgentMethod, AgentType
from host.errors import AgentBusy, Conflict, HostError, InvalidInput, NotFound
from host.ids import AgentId, PromiseId
from host.runtime.agentproto import (
    ANONYMOUS,
    CALLER_ERRORS,
    agent_error_text,
    export_name,
    is_initialize,
)
from host.runtime.owned import OwnedResource, owned_resources
from host.store import InvocationRecord
from host.store.base import DONE, IDLE, QUEUED, STARTED
from host.values import Case, parse_value

if TYPE_CHECKING:
    from host.runtime.registry import ComponentRegistry, Export
    from host.secrets import PromiseSecrets
    from host.service.core import Call
    from host.store import Store


# How long a finished ephemeral agent (its oplog and result) is kept for readers.
EPHEMERAL_RETENTION_S = 600.0
# Phantom ids of ephemeral calls with an idempotency key: uuid5 of the agent and the key.
EPHEMERAL_CALL_NS = uuid.UUID("0b7c6a0e-3f5d-4d8e-9a51-2c4e7f1d9b36")


class AgentCallError(HostError):
    """A method of an agent answered an agent-error. ``caller`` is True for the errors that
    are the caller's mistake (invalid-input, invalid-method, ...)."""

    def __init__(self, message: str, caller: bool) -> None:
        super().__init__(message)
        self.caller = caller


@dataclass(frozen=True)
class AgentResult:
    """A finished method call: its value as JSON and as WAVE (through the output schema),
    or the agent's error."""

    method: str
    json: Any
    wave: str
    error: str | None = None
    caller_error: bool = False
    value: Any = None  # the output data-value (a host Value)
    rest: Any = None  # Golem's UntypedJsonDataValue of the output (invoke-agent's result)


class AgentProtocol:
    """Agent-component use cases; a mixin of HostService."""

    if TYPE_CHECKING:  # what HostService provides
        store: Store
        registry: ComponentRegistry

        def _target(self, agent: AgentId) -> tuple[str, bool]: ...
        def _known_key(self, agent: AgentId, idempotency_key: str | None) -> bool: ...
        def call_from_values(self, agent: AgentId, export: Export, values: Any) -> Call: ...
        def delete_agent(self, agent: AgentId) -> None: ...
        def agent_id(self, component_ref: str, name: str) -> AgentId: ...

        public_url: str
        secrets: PromiseSecrets

    ephemeral_retention_s: float = EPHEMERAL_RETENTION_S

    # -- agent types -------------------------------------------------------------------
    def agent_types(self, component_ref: str) -> list[AgentType]:
        """The agent types of a component (latest version); [] for a plain component."""
        record = self.store.get_component(component_ref)
        return self.registry.agent_types(record.hash) or []

    def _types_of_hash(self, hash: str) -> list[AgentType] | None:
        return self.registry.agent_types(hash)

    def agent_type_of(self, agent: AgentId) -> AgentType | None:
        """The agent type of an agent of an agent component (None for a plain one)."""
        hash, _ = self._target(agent)
        types = self._types_of_hash(hash)
        if types is None:
            return None
        return find_type(parse_agent_id(agent.name).type_name, types)

    def canonical_name(self, component_ref: str, name: str) -> str | None:
        """The canonical agent id for ``name`` on an agent component (None: a plain one,
        whose names are checked as before)."""
        record = self.store.get_component(component_ref)
        types = self.registry.agent_types(record.hash)
        if types is None:
            return None
        return canonical_agent_id(name, types)

    def resolve_agent(self, component_ref: str, agent_id: str) -> AgentId:
        """An agent id (text) of a component's agent, canonicalised."""
        return self.agent_id(component_ref, agent_id)

    def agent_env(self, agent: AgentId) -> tuple[tuple[str, str], ...]:
        agent_type = self.agent_type_of(agent)
        return () if agent_type is None else (("GOLEM_AGENT_TYPE", agent_type.type_name),)

    def _initialize(self, agent: AgentId, hash: str) -> None:
        """Queue the agent's first invocation, ``initialize``, unless it has one (a crash
        between creating it and queueing this is mended by the next call) or its oplog
        holds more than its creation (a fork's copy: initialized in the copied entries)."""
        types = self._types_of_hash(hash)
        if types is None or self.store.list_invocations(agent):
            return
        if self.store.oplog_length(agent) > 1:
            return
        parsed = parse_agent_id(agent.name)
        agent_type, value = resolve_agent_id(parsed, types)
        generation = self.registry.guest_generation(hash)
        export = self.registry.resolve_export(hash, export_name(generation, "initialize"))
        args: list[Any] = [agent_type.type_name, value]
        if generation == "1.5":
            args.append(ANONYMOUS)
        call = self.call_from_values(agent, export, args)
        self.store.enqueue(agent, str(uuid.uuid4()), export.name, call.params, None)

    def refuse_second_initialize(self, agent: AgentId, function: str, key: str | None) -> None:
        """Conflict for a raw call of the agent type's ``initialize`` on an agent that
        already has one (the host queues it when it creates the agent): the guest would
        answer an agent-error, which fails an initialize and with it the whole agent.
        Golem's SDKs refuse the call the same way ("Agent is already initialized in this
        container"); here nothing is queued or recorded and the agent stays as it is. A
        repeated idempotency key is not refused: it answers the invocation it named."""
        if not is_initialize(function) or self._known_key(agent, key):
            return
        earlier = next(
            (i for i in self.store.list_invocations(agent) if is_initialize(i.function)), None
        )
        if earlier is not None:
            raise Conflict(
                f"agent {agent} is already initialized (its initialize is invocation "
                f"{earlier.invocation_id}, queued when the agent was created): call its "
                "methods instead, or create another agent (Golem: Agent is already "
                "initialized in this container)"
            )

    def owned_resources(self, agent: AgentId) -> list[OwnedResource]:
        """The instances of exported resources the agent holds now (Golem's
        ``exportedResourceInstances``), read from its oplog (host/runtime/owned.py)."""
        record = self.store.get_agent(agent)
        return owned_resources(
            self.store.read_oplog(agent),
            lambda function: self.registry.resolve_export(record.component_hash, function),
        )

    # -- method calls ------------------------------------------------------------------
    def _method(self, agent: AgentId, method: str) -> tuple[AgentType, AgentMethod]:
        agent_type = self.agent_type_of(agent)
        if agent_type is None:
            raise InvalidInput(f"{agent} is not an agent of an agent component", field="agent")
        return agent_type, agent_type.method(method)

    def _invoke_call(self, agent: AgentId, agent_type: AgentType, method: str, value: Any) -> Call:
        hash, _ = self._target(agent)
        generation = self.registry.guest_generation(hash)
        export = self.registry.resolve_export(hash, export_name(generation, "invoke"))
        args: list[Any] = [method, value]
        if generation == "1.5":
            args.append(ANONYMOUS)
        return self.call_from_values(agent, export, args)

    def agent_call_from_wave(self, agent: AgentId, call: str) -> Call:
        """A method call written as WAVE: ``increment(5)`` (or a bare method name)."""
        text = call.strip()
        name, paren, rest = text.partition("(")
        if paren and not rest.endswith(")"):
            raise InvalidInput(f"invalid call {call[:64]!r}: expected method(args)", field="call")
        agent_type, method = self._method(agent, name.strip())
        value = data_value_from_wave(method.input_schema, rest[:-1] if paren else "", "call")
        return self._invoke_call(agent, agent_type, method.name, value)

    def agent_call_from_json(self, agent: AgentId, method: str, params: Any) -> Call:
        """A method call with JSON parameters (an array, or an object by parameter name)."""
        agent_type, found = self._method(agent, method)
        value = data_value_from_json(found.input_schema, params, "params")
        return self._invoke_call(agent, agent_type, found.name, value)

    def is_agent_call(self, invocation: InvocationRecord) -> bool:
        return invocation.function.endswith(".{invoke}") and invocation.function.startswith(
            "golem:agent/guest"
        )

    def agent_result(self, invocation: InvocationRecord) -> AgentResult | None:
        """The result of a finished method call through its output schema; None while it
        is not done (or for an invocation that is not a method call)."""
        if invocation.state != DONE or not self.is_agent_call(invocation):
            return None
        agent_type = self.agent_type_of(invocation.agent)
        export = self.registry.resolve_export(
            self.store.get_agent(invocation.agent).component_hash, invocation.function
        )
        method_name = parse_value(invocation.params[0], export.sig.param_types[0])
        assert agent_type is not None and isinstance(method_name, str)
        method = agent_type.method(method_name)
        assert export.sig.result is not None and invocation.result is not None
        result = parse_value(invocation.result, export.sig.result)
        assert isinstance(result, Case)
        if result.name == "err":
            error = result.value
            caller = isinstance(error, Case) and error.name in CALLER_ERRORS
            return AgentResult(method_name, None, "", agent_error_text(error), caller)
        return AgentResult(
            method_name,
            result_to_json(method.output_schema, result.value),
            data_value_to_wave(method.output_schema, result.value),
            value=result.value,
            rest=data_value_to_rest_json(method.output_schema, result.value),
        )

    def invocations(self, agent: AgentId) -> list[InvocationRecord]:
        """Every invocation of the agent, queued, running and finished, oldest first
        (the console's agent page)."""
        self.store.get_agent(agent)  # AgentNotFound, not an empty list
        return self.store.list_invocations(agent)

    def invocation_method(self, invocation: InvocationRecord) -> str:
        """What a person calls the invocation: the agent method of a method call
        (``start_approval``), else the export's name."""
        if invocation.function.startswith("golem:agent/guest") and invocation.function.endswith(
            ".{initialize}"
        ):
            return "initialize"
        if not self.is_agent_call(invocation) or not invocation.params:
            return invocation.function
        try:
            export = self.registry.resolve_export(
                self.store.get_agent(invocation.agent).component_hash, invocation.function
            )
            name = parse_value(invocation.params[0], export.sig.param_types[0])
        except HostError:
            return invocation.function
        return name if isinstance(name, str) else invocation.function

    def webhook_url(self, promise: PromiseId) -> str:
        """The URL whose POST completes ``promise`` with the body (:mod:`host.webhooks`)."""
        from host import webhooks

        agent_type = self.agent_type_of(promise.agent)
        if agent_type is None:
            raise InvalidInput("webhooks are for the agents of agent components", field="agent")
        return webhooks.url(self.public_url, agent_type, promise, self.secrets.secret(promise))

    def ephemeral_call(self, call: Call, idempotency_key: str | None) -> Call:
        """The call itself, or, for a method of an ephemeral agent type, the same call
        on a fresh agent of its own (a new phantom id; the same one for a repeated
        idempotency key). Older finished ephemeral agents of the component are
        collected first."""
        agent_type = self.agent_type_of(call.agent)
        if agent_type is None or agent_type.mode != "ephemeral":
            return call
        self.collect_ephemeral(str(call.agent.component_id))
        parsed = parse_agent_id(call.agent.name)
        if idempotency_key is None:
            phantom = uuid.uuid4()
        else:
            phantom = uuid.uuid5(EPHEMERAL_CALL_NS, f"{call.agent}\n{idempotency_key}")
        hash, _ = self._target(call.agent)
        _, value = resolve_agent_id(parsed, self._types_of_hash(hash) or [])
        agent = AgentId(call.agent.component_id, make_agent_id(agent_type, value, phantom))
        _, exists = self._target(agent)
        return dataclasses.replace(call, agent=agent, agent_exists=exists)

    def collect_ephemeral(self, component_id: str | None = None) -> list[AgentId]:
        """Delete the finished ephemeral agents (of one component, or all) created more
        than ``ephemeral_retention_s`` ago; one still running (or suspended) is left for
        a later collection. The agents deleted."""
        cutoff = time.time_ns() - int(self.ephemeral_retention_s * 1e9)
        deleted = []
        for record in self.store.list_agents(component_id, IDLE):
            if record.created_at > cutoff:
                continue
            types = self._types_of_hash(record.component_hash)
            try:
                agent_type = find_type(parse_agent_id(record.agent.name).type_name, types or [])
            except InvalidInput:
                continue
            if agent_type.mode != "ephemeral":
                continue
            if self.store.list_invocations(record.agent, [QUEUED, STARTED]):
                continue
            try:
                self.delete_agent(record.agent)
            except (AgentBusy, NotFound):
                continue  # running again, or collected by another process meanwhile
            deleted.append(record.agent)
        return deleted
