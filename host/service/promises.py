"""Promise use cases (complete, list, secrets, webhooks), mixed into
:class:`host.service.core.HostService`.

Some promises are **internal**: the host makes them for itself, and no person is meant to
complete them. Today these are the promises an agent awaits another agent's method on
(``golem:agent/host`` / ``golem:rpc`` ``wasm-rpc``, :mod:`host.runtime.agent_rpc`): the
callee's end completes them, in the same transaction. Listings meant for people leave them
out unless asked (``include_internal``), and completing one from outside is refused with
:class:`~host.errors.InternalPromise` (409), so nobody can hand the caller a forged result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from host import webhooks
from host.errors import InternalPromise, InvalidInput, NotFound, PromiseNotFound
from host.ids import AgentId, PromiseId
from host.runtime.agent_rpc import is_call_promise
from host.secrets import matches
from host.service.views import Completion
from host.store import PromiseRecord

if TYPE_CHECKING:
    from host.runtime.executor import Executor
    from host.runtime.scheduler import Scheduler
    from host.secrets import PromiseSecrets
    from host.store import Store


class PromiseService:
    """Promise use cases; a mixin of HostService."""

    if TYPE_CHECKING:  # what HostService provides
        store: Store
        executor: Executor
        scheduler: Scheduler
        secrets: PromiseSecrets

    def complete(self, promise: PromiseId, data: bytes) -> Completion:
        """Complete a promise from outside (first completion wins) and resume its owner if
        it waits; InternalPromise for a promise only the host completes."""
        completed, finished = self._complete(promise, data)
        mine = [self.store.get_invocation(i) for i in finished]
        return Completion(
            completed,
            self.store.get_agent(promise.agent),
            tuple(i for i in mine if i.agent == promise.agent),
        )

    def complete_promise(self, promise: PromiseId, data: bytes) -> bool:
        """:meth:`complete`, answering only whether it completed the promise now (without
        reading the agent and its ended invocations back: the REST route's answer)."""
        return self._complete(promise, data)[0]

    def _complete(self, promise: PromiseId, data: bytes) -> tuple[bool, list[str]]:
        """Whether this completed the promise, and the invocations that ended on this
        thread meanwhile (inline scheduling only)."""
        try:
            self.store.get_promise(promise)
        except PromiseNotFound:
            self.store.get_agent(promise.agent)  # AgentNotFound before PromiseNotFound
            raise
        if is_call_promise(self.store, promise):
            raise InternalPromise(str(promise), promise.agent.name)
        limit = self.executor.limits_for(promise.agent).max_payload_bytes
        if len(data) > limit:
            raise InvalidInput(
                f"the payload of {len(data)} bytes exceeds agent {promise.agent}'s limit of "
                f"{limit} bytes (max_payload_bytes)",
                field="data",
            )
        completed = self.store.complete_promise(promise, data)
        return completed, self.scheduler.settle(promise.agent) if completed else []

    def complete_webhook(self, token: str, data: bytes) -> Completion | None:
        """A POST to a webhook (``<public-url>/webhooks/<suffix>/<token>``, the last path
        segment given): complete its promise with the body. None when the token names no
        webhook this host signed (a forged, altered or unknown one), which the server
        answers 404 as Golem does; an already completed promise is ``completed=False``."""
        parsed = webhooks.parse_token(token)
        if parsed is None:
            return None
        promise, secret = parsed
        try:
            if not self.promise_secret_matches(promise, secret):
                return None
        except (NotFound, InvalidInput):
            return None
        return self.complete(promise, data)

    def promise_secret(self, promise: PromiseId) -> str:
        """The promise's secret (for an operator handing it out by hand)."""
        self.store.get_promise(promise)
        return self.secrets.secret(promise)

    def promise_secret_matches(self, promise: PromiseId, given: str | None) -> bool:
        """Whether ``given`` is the promise's secret (PromiseNotFound if unknown)."""
        stored = self.store.promise_secret_hash(promise)
        return given is not None and matches(given, stored)

    def list_promises(
        self,
        agent: AgentId | None = None,
        component_ref: str | None = None,
        include_completed: bool = False,
        include_internal: bool = False,
    ) -> list[PromiseRecord]:
        """Pending promises (or all) of one agent, one component's agents, or everyone;
        internal ones (:meth:`internal_promises`) only with ``include_internal``."""
        if agent is not None:
            self.store.get_agent(agent)  # AgentNotFound, not an empty list
        records = self.store.list_promises(agent, pending_only=not include_completed)
        if component_ref is not None and agent is None:
            cid = self.store.get_component(component_ref).id
            records = [p for p in records if str(p.id.agent.component_id) == cid]
        if include_internal:
            return records
        internal = self.internal_promises(records)
        return [p for p in records if p.id not in internal]

    def internal_promises(self, records: list[PromiseRecord]) -> set[PromiseId]:
        """Which of these promises are internal (an agent awaits another agent on it)."""
        return {p.id for p in records if is_call_promise(self.store, p.id)}
