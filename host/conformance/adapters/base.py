"""The interface between the runner and a host under test.

An adapter turns the runner's few operations into calls on one host: register a
component, invoke a function, complete a promise, read an agent's status, oplog and
pending promises, restart the host. It declares ``capabilities`` for the optional
operations (see :data:`host.conformance.cases.CAPABILITIES`); a case that needs one
the adapter lacks is skipped, never failed.

Values cross this interface as JSON (Golem's encoding of WIT values, spec section 4):
arguments are a list of JSON values, results are JSON. Agent statuses are lower-case
Golem names; oplog entries are reduced to a kind from the suite's vocabulary plus the
function name an entry carries, if any.

Every method may raise :class:`AdapterError` for a host that answers out of shape;
the runner reports it as a failure of the step.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class AdapterError(Exception):
    """The host answered something the adapter cannot read (a wrong status code or body
    shape, a crash); the message says what was sent and what came back."""


class NotFound(Exception):  # noqa: N818
    """The host reported the promise (or its agent) unknown."""


class Unsupported(AdapterError):
    """The adapter lacks the capability this operation needs."""


@dataclass(frozen=True)
class AgentState:
    status: str  # running, idle, suspended, interrupted, retrying, failed (others as-is)
    pending_invocations: int  # accepted but not started yet
    last_error: str | None = None
    retry_count: int | None = None  # Golem's retryCount: automatic retries so far


@dataclass(frozen=True)
class AgentRef:
    """An agent of a Golem agent component: its type, constructor parameters (JSON, Golem's
    ``parameters``), phantom id, and ``name``, its agent id as the case writes it
    (``TYPE(PARAMS)[phantom]``, not necessarily canonical). The other operations name
    the agent by ``name``; the host canonicalises it."""

    type: str
    params: list[Any]
    phantom: str | None  # None: an agent without a phantom id
    name: str


@dataclass(frozen=True)
class OplogEntry:
    kind: str  # agent-created, invocation-started, host-call, promise-created, suspended, ...
    function: str | None = None  # the host function or export the entry names, if any


@dataclass(frozen=True)
class Outcome:
    """Where an invocation stands: ``pending`` (not finished: queued, running or waiting),
    ``done`` (``result`` is its JSON result), ``failed`` (``error`` is the message) or
    ``lost`` (the adapter can no longer tell, e.g. after a restart)."""

    state: str
    result: Any = None
    error: str | None = None
    queued: bool | None = None  # for pending: known to be queued (True), started (False)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str

    def json(self) -> tuple[bool, Any]:
        """(whether the body is JSON, the decoded value)."""
        import json

        try:
            return True, json.loads(self.body)
        except ValueError:
            return False, None


class Invocation(abc.ABC):
    """A started invocation."""

    @abc.abstractmethod
    def outcome(self) -> Outcome:
        """Where it stands now, without waiting."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> Outcome:
        """Wait up to ``timeout`` seconds for it to finish; where it stands then."""


class Adapter(abc.ABC):
    """One host under test. ``start`` before anything else, ``stop`` at the end."""

    name: str = ""
    capabilities: frozenset[str] = frozenset()

    def __init__(self, url: str | None = None, data_dir: Path | None = None) -> None:
        """Adapters are made with these two keywords (``--url``, and a data directory to
        use instead of a temporary one); one that cannot use them raises SuiteError."""
        self.url = url
        self.given_dir = data_dir

    def describe(self) -> str:
        """One line for the report header: what is tested, and where."""
        return self.name

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def register(self, wasm: Path, name: str) -> str:
        """Register a component file under ``name``; its component id (a UUID).
        Registering the same name again makes a new version of the same component."""

    @abc.abstractmethod
    def invoke(
        self,
        component_id: str,
        agent: str,
        function: str,
        args: list[Any] | None,
        wave: str | None = None,
        idempotency_key: str | None = None,
    ) -> Invocation:
        """Start ``function`` on the agent (created if it does not exist) and return at
        once. ``args`` are JSON; ``wave`` (capability ``wave``) is WAVE argument text
        instead."""

    @abc.abstractmethod
    def complete(self, component_id: str, agent: str, oplog_idx: int, data: bytes) -> bool:
        """Complete the promise ``{agent, oplog_idx}`` from outside: True the first time,
        False if already completed; :class:`NotFound` for an unknown promise or agent."""

    @abc.abstractmethod
    def status(self, component_id: str, agent: str) -> AgentState | None:
        """The agent's status, or None if it does not exist."""

    @abc.abstractmethod
    def oplog(self, component_id: str, agent: str) -> list[OplogEntry]:
        """Every entry of the agent's oplog, index 1 first."""

    # -- optional, by capability ------------------------------------------------------------
    def invoke_agent(
        self,
        component_id: str,
        agent: AgentRef,
        method: str,
        args: list[Any] | None,
        wave: str | None = None,
        idempotency_key: str | None = None,
    ) -> Invocation:
        """``agents``: call ``method`` of an agent of an agent component (created and
        initialized on first use) and return at once. Its result is the method's output
        as JSON: null for no element, the element for one, an array for several; an
        agent-error fails the invocation, with the error's text."""
        raise Unsupported(f"{self.name} cannot call agent methods")

    def pending_promises(self, component_id: str, agent: str) -> list[int]:
        """``promise-listing``: oplog indexes of the agent's promises not completed yet."""
        raise Unsupported(f"{self.name} cannot list pending promises")

    def restart(self, kill: bool) -> None:
        """``restart``: stop the host and start it on the same state; ``kill``: crash it
        (SIGKILL), even while invocations run."""
        raise Unsupported(f"{self.name} cannot restart the host")

    def http(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> HttpResponse:
        """``http``: send a raw request to the host's REST API."""
        raise Unsupported(f"{self.name} has no HTTP API")

    def route(
        self,
        component_id: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> HttpResponse:
        """``routes``: a request to the routes agent types mount (``path`` with its query
        string), served as the host's server serves it: the agent the mount's variables
        name, the method's parameters bound from path, query, headers and body, the
        result mapped to a status (200 a value, 204 none, 404 an option's none, 500 a
        failure). ``component_id`` is the case's component, for adapters that need it."""
        raise Unsupported(f"{self.name} cannot send requests to agent routes")

    def webhook(self, component_id: str, url: str, body: bytes) -> HttpResponse:
        """``webhooks``: POST ``body`` to a webhook URL an agent got from
        ``create-webhook``, served as the host's server serves it (204 when taken)."""
        raise Unsupported(f"{self.name} cannot call webhooks")

    def update(
        self, component_id: str, wasm: Path, name: str, agent: str, mode: str = "automatic"
    ) -> None:
        """``update``: register ``wasm`` as a new version of the component and ask for the
        agent to be moved to it (``mode`` ``automatic`` or ``snapshot``; ``none``: only
        register it). The move may be applied later (once the agent is between
        invocations) and may fail; both are the host's business, checked by later steps."""
        raise Unsupported(f"{self.name} cannot update agents")

    def revert(
        self, component_id: str, agent: str, last_invocations: int | None, to_index: int | None
    ) -> None:
        """``revert``: Golem's revert of the agent, by its last invocations or to an oplog
        index (exactly one is given)."""
        raise Unsupported(f"{self.name} cannot revert agents")

    def complete_at_suspension(self, component_id: str, agent: str, data: bytes) -> None:
        """``suspension-hook``: the next time the agent is about to suspend, complete the
        promises it waits on, between its "not completed" check and the suspension."""
        raise Unsupported(f"{self.name} has no suspension hook")
