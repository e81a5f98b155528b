"""agent_sdk: code-first Golem agents in Python (componentize-py), like golem-rust and golem-ts.

No per-agent WIT: every agent component exports ``golem:agent/guest@1.5.0`` (the SDK's
world ``agent-host:sdk/agent@0.2.0``) and describes its agent types at run time from the
classes decorated here::

    @agent(mount="/workflows/{name}")
    class WorkflowAgent:
        def __init__(self, name: str) -> None: ...

        async def start_approval(self) -> str:
            self.promise = create_promise()
            decision = await await_promise_json(self.promise, Decision)
            return f"Workflow {decision}"

        @endpoint(post="/approve")
        def approve(self) -> bool:
            return complete_promise_json(self.promise, "approved")

See ``guest_examples/sdk/agent_sdk/README.md``.
"""

from ._bindings import MissingImport
from .client import AgentClient, RpcError, client
from .config import get_config
from .definition import (
    AgentDefinitionError,
    AgentType,
    Principal,
    agent,
    agent_types,
    definition_of,
    endpoint,
)
from .guest import Guest
from .promises import (
    AgentId,
    PromiseDecodeError,
    PromiseId,
    await_promise,
    await_promise_json,
    blocking_await_promise,
    blocking_await_promise_json,
    complete_promise,
    complete_promise_json,
    create_promise,
    create_webhook,
    promise_secret,
    self_agent_id,
)
from .wit import UnsupportedType

__version__ = "0.2.0"

__all__ = [
    "AgentClient",
    "AgentDefinitionError",
    "AgentId",
    "AgentType",
    "Guest",
    "MissingImport",
    "Principal",
    "PromiseDecodeError",
    "PromiseId",
    "RpcError",
    "UnsupportedType",
    "agent",
    "agent_types",
    "await_promise",
    "await_promise_json",
    "blocking_await_promise",
    "blocking_await_promise_json",
    "client",
    "complete_promise",
    "complete_promise_json",
    "create_promise",
    "create_webhook",
    "definition_of",
    "endpoint",
    "get_config",
    "promise_secret",
    "self_agent_id",
]
