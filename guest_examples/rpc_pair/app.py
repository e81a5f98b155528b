"""Two agent types where one calls the other (agent-to-agent RPC, issue 12 item 6).

``CallerAgent`` calls ``CounterAgent`` through ``agent_sdk.client`` (golem:agent/host's
``wasm-rpc``): awaiting a result, fire-and-forget, a future it polls, a callee that
suspends on a promise, and the errors an RPC can meet. It also exposes golem:agent/host's
agent functions (types, ids) so a test can compare them with the host's own answers.
"""

from __future__ import annotations

from typing import Any

from agent_sdk import (
    PromiseId,
    RpcError,
    agent,
    await_promise_json,
    client,
    create_promise,
)
from agent_sdk import _bindings as b
from agent_sdk._convert import from_binding, to_binding


@agent
class CounterAgent:
    """The callee: a counter, a method that fails and one that waits for a promise."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.calls = 0
        self.pending: PromiseId | None = None

    def add(self, n: int) -> int:
        """Add ``n``; the new count."""
        self.calls += 1
        self.count += n
        return self.count

    def calls_made(self) -> int:
        """How many times ``add`` ran (live: replay does not count again)."""
        return self.calls

    def get(self) -> int:
        """The count."""
        return self.count

    def fail(self) -> str:
        """Always fails with an agent error."""
        raise ValueError(f"counter {self.name} refuses")

    async def wait_for(self) -> str:
        """Create a promise and wait for it (the agent suspends)."""
        self.pending = create_promise()
        print(f"counter {self.name}: waiting on {self.pending}", flush=True)
        value = await await_promise_json(self.pending, str)
        return f"{self.name} got {value}"


def _rpc_text(exc: RpcError) -> str:
    return f"rpc-error {exc.case}: {exc.detail}"


@agent
class CallerAgent:
    """The caller: every way of calling a CounterAgent."""

    def __init__(self, name: str) -> None:
        self.name = name

    def call_add(self, target: str, n: int) -> int:
        """Await ``CounterAgent(target).add(n)``."""
        return int(client(CounterAgent, target).add(n))

    def send_add(self, target: str, n: int) -> str:
        """Fire-and-forget ``add(n)``."""
        client(CounterAgent, target).trigger("add", n)
        return "sent"

    async def future_add(self, target: str, n: int) -> int:
        """``add(n)`` through a future it polls."""
        return int(await client(CounterAgent, target).call_async("add", n))

    def call_wait(self, target: str) -> str:
        """Await a callee method that suspends on a promise."""
        return str(client(CounterAgent, target).wait_for())

    def call_fail(self, target: str) -> str:
        """A callee method that fails: the rpc-error as text."""
        try:
            return str(client(CounterAgent, target).fail())
        except RpcError as exc:
            return _rpc_text(exc)

    def call_raw(self, agent_type: str, method: str) -> str:
        """``method`` with no parameters on ``agent_type("x")``, bypassing the client's
        checks: unknown types and methods come back as rpc-errors."""
        types = b.module("types")
        host = b.module("golem_agent_host")
        ctor = to_binding(("tuple", [("component-model", {"nodes": [("prim-string", "x")]})]), types.DataValue)
        rpc = host.WasmRpc(agent_type, ctor, None, [])
        try:
            rpc.invoke_and_await(method, to_binding(("tuple", []), types.DataValue))
        except Exception as exc:  # componentize-py raises a result's err as Err
            if type(exc).__name__ != "Err":
                raise
            case, detail = from_binding(exc.value, host.RpcError)  # type: ignore[attr-defined]
            return f"rpc-error {case}: {detail}"
        return "ok"

    def agent_types(self) -> list[str]:
        """get-all-agent-types: each type name and the component implementing it."""
        host = b.module("golem_agent_host")
        out = []
        for registered in host.get_all_agent_types():
            c = registered.implemented_by.uuid
            out.append(f"{registered.agent_type.type_name}@{c.high_bits:x}-{c.low_bits:x}")
        return out

    def has_type(self, name: str) -> bool:
        """get-agent-type: whether the type exists."""
        return b.module("golem_agent_host").get_agent_type(name) is not None

    def parse_id(self, text: str) -> str:
        """parse-agent-id, then make-agent-id of what it parsed (or the error)."""
        host = b.module("golem_agent_host")
        try:
            type_name, data, phantom = host.parse_agent_id(text)
            made = host.make_agent_id(type_name, data, phantom)
        except Exception as exc:
            if type(exc).__name__ != "Err":
                raise
            return f"error {_describe(exc.value)}"
        return f"{type_name} {made}"


def _describe(error: Any) -> str:
    return type(error).__name__ + ": " + str(getattr(error, "value", ""))
