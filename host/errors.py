"""The error hierarchy. Every error the host raises on purpose derives from
:class:`HostError`, carries the data it is about, and says what to do.

The CLI and HTTP layers map these to exit codes and status codes in one place
(``EXIT_CODES`` here, the HTTP mapping in the server).
"""

from __future__ import annotations


class HostError(Exception):
    """Root of every deliberate agent-host error."""

    exit_code = 1


class NotFound(HostError):
    """Something named by the caller does not exist."""

    exit_code = 4


class ComponentNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(
            f"no component {ref!r} is registered (list them with `agent-host component list`)"
        )
        self.ref = ref


class AgentNotFound(NotFound):
    def __init__(self, agent: str) -> None:
        super().__init__(f"agent {agent} does not exist")
        self.agent = agent


class PromiseNotFound(NotFound):
    def __init__(self, promise: str) -> None:
        super().__init__(
            f"promise {promise} does not exist (the oplog index must be that of the entry "
            "that created it; `agent-host agent show` lists pending promises)"
        )
        self.promise = promise


class InvalidInput(HostError):
    """The caller's input is malformed: bad WAVE text, a bad payload, a bad file.

    ``field`` names the part of the input at fault where one can be named (``name``,
    ``function``, ``params.1``): the HTTP layer prefixes it with where that part travels.
    """

    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidComponent(InvalidInput):
    """A file that is not a WebAssembly component, or one the host cannot link."""

    def __init__(self, message: str, missing_imports: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing_imports = missing_imports


class Conflict(HostError):
    """The agent's state forbids the request (failed agent, lease held elsewhere, ...)."""

    exit_code = 3


class AgentExists(Conflict):
    def __init__(self, agent: str) -> None:
        super().__init__(f"agent {agent} already exists")
        self.agent = agent


class AgentBusy(Conflict):
    """The agent runs an invocation now and the request needs it at rest."""

    def __init__(self, agent: str, action: str) -> None:
        super().__init__(f"agent {agent} is running an invocation; interrupt it before {action}")
        self.agent = agent


class UpdateFailed(Conflict):
    """A snapshot-based update failed (recorded in the oplog as a failed update); the agent
    stays on its old component version."""


class AgentFailed(Conflict):
    """A call to a failed agent: it fails at once with the agent's error (Golem's
    semantics); ``agent resume`` retries the failed invocation."""

    def __init__(self, agent: str, error: str | None) -> None:
        super().__init__(
            f"agent {agent} failed: {error or 'unknown error'} "
            "(`agent-host agent resume` retries its failed invocation)"
        )
        self.agent = agent
        self.error = error


class OplogConflict(Conflict):
    """A second writer tried to append an oplog entry at an index already written."""

    def __init__(self, agent: str, index: int) -> None:
        super().__init__(
            f"oplog of agent {agent} already has an entry at index {index}; another host "
            "process is running this agent"
        )
        self.agent = agent
        self.index = index


class IdempotencyKeyReused(Conflict):
    """An idempotency key already names an invocation of another function or with other
    parameters: the second call is refused, not silently answered with the first."""

    def __init__(
        self, key: str, agent: str, function: str, invocation_id: str, called: str
    ) -> None:
        differs = "other parameters" if called == function else f"another function ({called})"
        super().__init__(
            f"idempotency key {key!r} of agent {agent} was already used for a call of "
            f"{function} (invocation {invocation_id}); this call has {differs}: send it "
            "with a new key"
        )
        self.key = key
        self.agent = agent
        self.function = function
        self.invocation_id = invocation_id


class InternalPromise(Conflict):
    """A promise the host made for itself (an agent awaiting another agent's method,
    ``golem:agent/host`` ``wasm-rpc``): only the callee's end completes it."""

    def __init__(self, promise: str, agent: str) -> None:
        super().__init__(
            f"promise {promise} is internal: agent {agent} awaits the result of a call to "
            "another agent on it, and the host completes it when that call ends; it cannot "
            "be completed from outside (complete the promise the callee waits on instead)"
        )
        self.promise = promise
        self.agent = agent


class LeaseHeld(Conflict):
    def __init__(self, agent: str, owner: str) -> None:
        super().__init__(f"agent {agent} is being run by another host process ({owner})")
        self.agent = agent
        self.owner = owner


class LeaseLost(LeaseHeld):
    """This process's lease on the agent was taken over by another host process (its
    fencing token is no longer current): the store refused a write of a stale runner.

    A :class:`LeaseHeld` (and so a :class:`Conflict`): the agent is another process's to
    run now, and whoever handles "held elsewhere" (retry later, skip it) handles this."""

    def __init__(self, agent: str, token: int | None = None, current: int | None = None) -> None:
        which = "" if token is None else f" (its lease token {token}; the agent's is {current})"
        Conflict.__init__(
            self,
            f"agent {agent} was taken over by another host process{which}; this process "
            "stopped running it and recorded nothing",
        )
        self.agent = agent
        self.owner = "another host process"
        self.token = token
        self.current = current


class Divergence(HostError):
    """Replay found the guest calling something other than what the oplog recorded."""

    exit_code = 5

    def __init__(self, agent: str, index: int, recorded: str, called: str) -> None:
        super().__init__(
            f"replay of agent {agent} diverged at oplog index {index}: the oplog recorded "
            f"{recorded!r} but the component now calls {called!r}. The component is not the "
            "one that wrote this oplog (or it is not deterministic); run the agent with the "
            "component version that created it"
        )
        self.agent = agent
        self.index = index
        self.recorded = recorded
        self.called = called


class StoreError(HostError):
    """The store cannot be opened or is damaged."""

    exit_code = 6
