"""agent_host_sdk: write durable agents for agent-host in Python (componentize-py).

Promises (the seed's ``golem_rust`` API, one for one)::

    from agent_host_sdk import create_promise, blocking_await_promise_json

    promise = create_promise()                      # PromiseId, str(promise) parses back
    decision = blocking_await_promise_json(promise, Decision)   # suspends durably

Async (an asyncio loop over ``wasi:io/poll``; ``run`` drives it from a sync export)::

    from agent_host_sdk import run, await_promise
    a, b = run(asyncio.gather(await_promise(p), await_promise(q)))

HTTP endpoints (``agent-host:http/endpoints``)::

    @agent(mount="/workflows/{name}")
    class WitWorld(wit_world.WitWorld):
        @post("/approve")
        def approve(self, by: str | None) -> str | None: ...

See ``guest_examples/sdk/README.md``.
"""

from ._bindings import MissingImport
from .endpoints import (
    AgentDefinition,
    AgentDefinitionError,
    MethodEndpoint,
    agent,
    definition_of,
    delete,
    get,
    patch,
    post,
    put,
    route,
)
from .ids import AgentId, PromiseId
from .jsoncodec import JsonDecodeError
from .loop import PollLoop, now_ns, run, wait_pollable
from .promises import (
    PromiseDecodeError,
    await_promise,
    await_promise_json,
    blocking_await_promise,
    blocking_await_promise_json,
    complete_promise,
    complete_promise_json,
    create_promise,
    promise_secret,
    self_agent_id,
)

__version__ = "0.1.0"

__all__ = [
    "AgentDefinition",
    "AgentDefinitionError",
    "AgentId",
    "JsonDecodeError",
    "MethodEndpoint",
    "MissingImport",
    "PollLoop",
    "PromiseDecodeError",
    "PromiseId",
    "agent",
    "await_promise",
    "await_promise_json",
    "blocking_await_promise",
    "blocking_await_promise_json",
    "complete_promise",
    "complete_promise_json",
    "create_promise",
    "definition_of",
    "delete",
    "get",
    "now_ns",
    "patch",
    "post",
    "promise_secret",
    "put",
    "route",
    "run",
    "self_agent_id",
    "wait_pollable",
]
