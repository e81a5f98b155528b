"""A template agent: copy this folder to start your own (see guest_examples/sdk/README.md).

- ``greet`` is an ordinary function, also served over HTTP (``@get``).
- ``ask`` creates a promise, then awaits its JSON payload against a durable timer on the
  SDK's event loop (``run`` + ``asyncio.wait_for``); while it waits the agent is
  suspended, and completing the promise (or the timer) resumes it.
"""

from __future__ import annotations

import asyncio

import wit_world
from agent_host_sdk import (
    PromiseDecodeError,
    PromiseId,
    agent,
    await_promise_json,
    create_promise,
    get,
    post,
    run,
)
from componentize_py_types import Err

# Agent state is plain module state: replay rebuilds it after a suspension or restart.
_question: PromiseId | None = None


@agent(mount="/hello/{name}")
class WitWorld(wit_world.WitWorld):
    @get("/greet", query=["who"])
    def greet(self, who: str) -> str:
        return f"Hello, {who}!"

    @post("/ask")
    def ask(self, question: str, timeout_seconds: float) -> str:
        global _question
        _question = create_promise()
        print(f"question {question!r}: complete promise {_question} with the answer", flush=True)
        try:
            return run(asyncio.wait_for(await_promise_json(_question, str), timeout_seconds))
        except TimeoutError:
            raise Err(f"no answer within {timeout_seconds:g} s") from None
        except PromiseDecodeError as exc:
            raise Err(str(exc)) from None
        finally:
            _question = None

    @get("/question")
    def open_question(self) -> str | None:
        return None if _question is None else str(_question)
