"""Inter-agent synchronization: one agent waits, others complete its promises.

A *coordinator* opens slots (promises) and hands their ids out; *workers* (other agents
of the same component) fill them with ``complete_promise_json`` from inside their own
code. The coordinator waits with asyncio on the SDK's event loop: all slots
(``gather``), the first one (``first``), or all of them against a durable timer
(``gather-within``). While it waits it is durably suspended: no instance is held, and
completing a slot (or the timer falling due) resumes it, even after a host restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import wit_world
from agent_host_sdk import (
    PromiseDecodeError,
    PromiseId,
    agent,
    await_promise_json,
    complete_promise_json,
    create_promise,
    get,
    post,
    run,
    self_agent_id,
)
from componentize_py_types import Err


@dataclass(frozen=True)
class Report:
    """What a worker puts in a slot."""

    by: str
    value: str


# The coordinator's open slots. Module state lives in the agent's memory; after a
# suspension or a restart the host rebuilds it by replaying the agent's invocations.
_slots: list[PromiseId] = []


async def _wait_all() -> list[Report]:
    return list(await asyncio.gather(*(await_promise_json(s, Report) for s in _slots)))


def _show(report: Report) -> str:
    return f"{report.by}: {report.value}"


@agent(mount="/rendezvous/{name}", agent_type="rendezvous")
class WitWorld(wit_world.WitWorld):
    @post("/open-slots")
    def open_slots(self, count: int) -> list[str]:
        _slots[:] = [create_promise() for _ in range(count)]
        return self.slots()

    @get("/slots")
    def slots(self) -> list[str]:
        return [str(s) for s in _slots]

    @post("/gather")
    def gather(self) -> list[str]:
        try:
            return [_show(r) for r in run(_wait_all())]
        except PromiseDecodeError as exc:
            raise Err(str(exc)) from None

    @post("/first")
    def first(self) -> str:
        async def first_done() -> str:
            tasks = [asyncio.ensure_future(await_promise_json(s, Report)) for s in _slots]
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            winner = min(done, key=tasks.index)
            return f"slot {tasks.index(winner) + 1}: {_show(winner.result())}"

        if not _slots:
            raise Err("no open slots")
        try:
            return run(first_done())
        except PromiseDecodeError as exc:
            raise Err(str(exc)) from None

    @post("/gather-within")
    def gather_within(self, seconds: float) -> list[str]:
        filled: list[Report] = []

        async def counted(slot: PromiseId) -> Report:
            report = await await_promise_json(slot, Report)
            filled.append(report)
            return report

        async def within() -> list[Report]:
            gathered = asyncio.gather(*(counted(s) for s in _slots))
            return list(await asyncio.wait_for(gathered, seconds))

        try:
            return [_show(r) for r in run(within())]
        except TimeoutError:
            raise Err(
                f"timed out after {seconds:g} s: {len(filled)} of {len(_slots)} slots filled"
            ) from None
        except PromiseDecodeError as exc:
            raise Err(str(exc)) from None

    @post("/fill")
    def fill(self, slot: str, value: str) -> bool:
        try:
            promise = PromiseId.parse(slot)
        except ValueError as exc:
            raise Err(str(exc)) from None
        me = self_agent_id()
        return complete_promise_json(promise, Report(me.name if me else "?", value))
