"""Conformance guest: agent HTTP mounts, webhooks and agent-to-agent calls (Golem 1.5).

Written with the code-first ``agent_sdk`` (an agent folder: no ``wit/``, built against
the SDK's world ``agent-host:sdk/agent@0.2.0``, which exports ``golem:agent/guest@1.5.0``).
The cases give every agent constructor parameters unique to the case instance
(``{"$unique": ...}``), so runs and instances never share an agent even where a mount
addresses agents by constructor parameters alone.

* ``RouteAgent(tenant)``, mount ``/conformance/tenants/{tenant}``: ``put`` binds its
  parameters from the path (``item``), the query (``note``), a header (``X-Owner`` ->
  ``owner``) and the JSON body (``count``, ``tags``) and answers a record (200);
  ``count`` answers an option (200, or 404 for none); ``remove`` answers nothing (204);
  ``fail`` raises (an agent-error: 500); ``whoami`` (no route) says what the agent was
  constructed with.
* ``PhantomRoute()``, mount ``/conformance/phantoms``, ``phantom-agent``: ``me`` (GET
  ``/me``) answers its own agent id; every request meets a fresh phantom agent.
* ``HookAgent(name)``: ``open`` creates a promise and its webhook (``create-webhook``)
  and answers the URL; ``wait`` awaits that promise and answers its payload as text;
  ``complete_other`` completes any agent's promise (complete-promise).
* ``CalleeAgent(name)``: ``add`` (counts its runs in ``calls_made``), ``wait_for``
  (creates a promise and awaits it: the agent suspends; answers ``got <payload>``).
* ``CallerAgent(name)``: ``call_add`` awaits ``CalleeAgent(target).add(n)`` (wasm-rpc
  ``invoke-and-await``), ``send_add`` fires it and forgets (``invoke``), ``call_wait``
  awaits a callee method that suspends on a promise, ``add_then_wait`` does both in one
  invocation (its replay must not call ``add`` twice), ``last_result`` what it answered.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from agent_sdk import (
    AgentId,
    PromiseId,
    agent,
    await_promise,
    client,
    complete_promise,
    create_promise,
    create_webhook,
    endpoint,
)


@dataclass
class Stored:
    tenant: str
    item: str
    note: str
    owner: str
    count: int
    tags: list[str]
    total: int


@dataclass
class Identity:
    tenant: str
    items: int


@agent(mount="/conformance/tenants/{tenant}")
class RouteAgent:
    """Mounted per tenant: the mount binds the constructor parameter."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.items: dict[str, int] = {}

    @endpoint(post="/items/{item}?note={note}", headers={"X-Owner": "owner"})
    def put(self, item: str, note: str, owner: str, count: int, tags: list[str]) -> Stored:
        """Add ``count`` to ``item``: every parameter comes from another part of the request."""
        self.items[item] = self.items.get(item, 0) + count
        return Stored(self.tenant, item, note, owner, count, tags, self.items[item])

    @endpoint(get="/items/{item}")
    def count(self, item: str) -> int | None:
        """The item's count, or none (404) for an item never put."""
        return self.items.get(item)

    @endpoint(delete="/items/{item}")
    def remove(self, item: str) -> None:
        """Forget the item (no value: 204)."""
        self.items.pop(item, None)

    @endpoint(post="/fail")
    def fail(self, reason: str) -> str:
        """Always fails (an agent-error: 500)."""
        raise ValueError(f"refused: {reason}")

    def whoami(self) -> Identity:
        """The constructor parameter and how many items the agent holds."""
        return Identity(self.tenant, len(self.items))


@agent(mount="/conformance/phantoms", phantom=True)
class PhantomRoute:
    """A phantom mount: each request gets a fresh agent."""

    def __init__(self) -> None:
        self.calls = 0

    @endpoint(get="/me")
    def me(self) -> str:
        """This agent's id (its phantom suffix differs per request)."""
        return os.environ.get("GOLEM_AGENT_ID", "")


@agent
class HookAgent:
    """Hands out a webhook and waits for it to be called."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pending: PromiseId | None = None

    def open(self) -> str:
        """Create a promise and its webhook; the URL."""
        self.pending = create_promise()
        return create_webhook(self.pending)

    async def wait(self) -> str:
        """Await the webhook's promise; the POST's body as text."""
        if self.pending is None:
            raise ValueError("no webhook is open: call open first")
        return (await await_promise(self.pending)).decode()

    def complete_other(self, component: str, agent_id: str, idx: int, text: str) -> bool:
        """complete-promise of any agent's promise (an internal one must be refused)."""
        promise = PromiseId(AgentId(uuid.UUID(component), agent_id), idx)
        return complete_promise(promise, text.encode())


@agent
class CalleeAgent:
    """Called by CallerAgent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.total = 0
        self.calls = 0

    def add(self, n: int) -> int:
        """Add ``n``; the new total."""
        self.calls += 1
        self.total += n
        return self.total

    def calls_made(self) -> int:
        """How many times ``add`` ran (replay does not run it again)."""
        return self.calls

    async def wait_for(self) -> str:
        """Create a promise and await it (the agent suspends); its payload as text."""
        promise = create_promise()
        return f"got {(await await_promise(promise)).decode()}"


@agent
class CallerAgent:
    """Calls CalleeAgent through golem:agent/host's wasm-rpc."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last = ""

    def call_add(self, target: str, n: int) -> int:
        """Await ``CalleeAgent(target).add(n)``."""
        return int(client(CalleeAgent, target).add(n))

    def send_add(self, target: str, n: int) -> str:
        """Fire-and-forget ``CalleeAgent(target).add(n)``."""
        client(CalleeAgent, target).trigger("add", n)
        return "sent"

    def call_wait(self, target: str) -> str:
        """Await ``CalleeAgent(target).wait_for()``, which suspends on a promise."""
        return str(client(CalleeAgent, target).wait_for())

    def add_then_wait(self, target: str, n: int) -> str:
        """Await ``add(n)``, then ``wait_for()`` (which suspends): when the callee's promise
        is completed, this caller resumes by replay, which must not call ``add`` again."""
        callee = client(CalleeAgent, target)
        total = callee.add(n)
        self.last = f"{total} {callee.wait_for()}"
        return self.last

    def last_result(self) -> str:
        """What ``add_then_wait`` answered last."""
        return self.last
