"""A template agent: copy this folder to start your own (see guest_examples/sdk/agent_sdk).

- ``greet`` is an ordinary method, also served over HTTP (``@endpoint``).
- ``ask`` creates a promise, then awaits its JSON payload against a durable timer on the
  SDK's event loop (``asyncio.wait_for``); while it waits the agent is suspended, and
  completing the promise (or the timer) resumes it.
"""

from __future__ import annotations

import asyncio

from agent_sdk import (
    PromiseDecodeError,
    PromiseId,
    agent,
    await_promise_json,
    create_promise,
    endpoint,
)


class NoAnswer(Exception):
    """The question timed out, or its answer was not a JSON string."""


@agent(mount="/hello/{name}")
class HelloAgent:
    """Greets, and asks questions that someone answers by completing a promise."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.question: PromiseId | None = None

    @endpoint(get="/greet?who={who}")
    def greet(self, who: str) -> str:
        """A plain method: GET /hello/{name}/greet?who=..."""
        return f"Hello, {who}!"

    @endpoint(post="/ask")
    async def ask(self, question: str, timeout_seconds: float) -> str:
        """Ask a question and wait at most ``timeout_seconds`` for its answer (a promise's
        JSON string payload); the agent is durably suspended meanwhile."""
        self.question = create_promise()
        print(f"question {question!r}: complete promise {self.question} with the answer")
        try:
            return await asyncio.wait_for(await_promise_json(self.question, str), timeout_seconds)
        except TimeoutError:
            raise NoAnswer(f"no answer within {timeout_seconds:g} s") from None
        except PromiseDecodeError as exc:
            raise NoAnswer(str(exc)) from None
        finally:
            self.question = None

    @endpoint(get="/question")
    def open_question(self) -> str | None:
        """The promise id (``<component>/<agent-id>/<oplog-idx>``) of the open question."""
        return None if self.question is None else str(self.question)
