"""Inter-agent synchronization: one agent waits, other agents complete its promises.

A *coordinator* (``RendezvousAgent("boss")``) opens slots (promises) and hands their ids
out; *workers* (other agents of the same type, ``RendezvousAgent("w1")``...) fill them
with ``complete_promise_json`` from inside their own code. The coordinator waits with
asyncio on the SDK's event loop: all slots (``gather``), the first one (``first``), or all
of them against a durable timer (``gather_within``). While it waits it is durably
suspended: no instance is held, and completing a slot (or the timer falling due) resumes
it, even after a host restart. Failures (a timeout, a payload that is not a report, text
that is not a promise id) are exceptions, which callers see as the agent's custom error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agent_sdk import (
    PromiseDecodeError,
    PromiseId,
    agent,
    await_promise_json,
    complete_promise_json,
    create_promise,
    endpoint,
)


@dataclass(frozen=True)
class Report:
    """What a worker puts in a slot."""

    by: str
    value: str


class RendezvousError(Exception):
    """A wait that did not end with every report (the caller sees the message)."""


def _show(report: Report) -> str:
    return f"{report.by}: {report.value}"


@agent(mount="/rendezvous/{name}")
class RendezvousAgent:
    """A coordinator waiting on slots, or a worker filling another agent's slot."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.open: list[PromiseId] = []

    @endpoint(post="/open-slots")
    def open_slots(self, count: int) -> list[str]:
        """Coordinator: open ``count`` new slots, replacing any open ones; their promise
        ids (``<component>/<agent-id>/<oplog-idx>``), to hand to the workers."""
        self.open = [create_promise() for _ in range(count)]
        return self.slots()

    @endpoint(get="/slots")
    def slots(self) -> list[str]:
        """Coordinator: the open slots' promise ids."""
        return [str(s) for s in self.open]

    @endpoint(post="/gather")
    async def gather(self) -> list[str]:
        """Coordinator: wait for every open slot (asyncio.gather); "<worker>: <value>" per
        slot, in slot order."""
        try:
            reports = await asyncio.gather(*(await_promise_json(s, Report) for s in self.open))
        except PromiseDecodeError as exc:
            raise RendezvousError(str(exc)) from None
        return [_show(r) for r in reports]

    @endpoint(post="/first")
    async def first(self) -> str:
        """Coordinator: wait for the first slot filled (asyncio.wait FIRST_COMPLETED);
        "slot <n>: <worker>: <value>"; the other slots stay open."""
        if not self.open:
            raise RendezvousError("no open slots")
        tasks = [asyncio.ensure_future(await_promise_json(s, Report)) for s in self.open]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        winner = min(done, key=tasks.index)
        try:
            return f"slot {tasks.index(winner) + 1}: {_show(winner.result())}"
        except PromiseDecodeError as exc:
            raise RendezvousError(str(exc)) from None

    @endpoint(post="/gather-within")
    async def gather_within(self, seconds: float) -> list[str]:
        """Coordinator: like gather, but give up after ``seconds`` (asyncio.wait_for)."""
        filled: list[Report] = []

        async def counted(slot: PromiseId) -> Report:
            report = await await_promise_json(slot, Report)
            filled.append(report)
            return report

        try:
            gathered = asyncio.gather(*(counted(s) for s in self.open))
            reports = await asyncio.wait_for(gathered, seconds)
        except TimeoutError:
            raise RendezvousError(
                f"timed out after {seconds:g} s: {len(filled)} of {len(self.open)} slots filled"
            ) from None
        except PromiseDecodeError as exc:
            raise RendezvousError(str(exc)) from None
        return [_show(r) for r in reports]

    @endpoint(post="/fill")
    def fill(self, slot: str, value: str) -> bool:
        """Worker: fill another agent's slot with ``value`` ({"by": <this agent's name>,
        "value": ...}); true, or false if the slot was already filled."""
        promise = PromiseId.parse(slot)  # a ValueError naming the text if it is no id
        return complete_promise_json(promise, Report(self.name, value))
