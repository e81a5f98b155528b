"""The pending list's watcher (host/server/ui/live.py) on a real service and store: each
change of the pending-promise set is an event, and a change made while a stream is held
between two events (the browser has not read the first yet) is not lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio.to_thread

from host.server.ui.live import POLL_S, PendingWatch
from host.service import HostService
from tests.fixtures.build import build_fixture


def test_a_change_while_the_stream_is_held_is_still_sent(tmp_path: Path) -> None:
    service = HostService(tmp_path)  # inline: an invocation has run when submit returns
    cid = service.add_component_bytes(build_fixture("promises-1.3.0").read_bytes(), "w").id

    def create(name: str) -> None:
        agent = service.agent_id(cid, name)
        service.submit(service.call_from_json(agent, "create", []))

    async def scenario() -> list[str]:
        watch = PendingWatch(service, lambda: False)
        stream = watch.stream()
        got = [await anext(stream)]  # "retry": the stream is open, the watcher polls
        await asyncio.sleep(POLL_S * 3)  # it has seen the empty set once
        await anyio.to_thread.run_sync(create, "a")
        got.append(await asyncio.wait_for(anext(stream), 5))
        # Held: the stream's consumer does not ask for the next event yet. Meanwhile
        # another promise is created and the watcher sees it.
        await anyio.to_thread.run_sync(create, "b")
        await asyncio.sleep(POLL_S * 3)
        got.append(await asyncio.wait_for(anext(stream), 5))
        await stream.aclose()
        return got

    try:
        events = asyncio.run(scenario())
    finally:
        service.close()
    assert events[0].startswith("retry:")
    assert events[1] == 'event: promises\ndata: {"version": 1, "pending": 1}\n\n'
    assert events[2] == 'event: promises\ndata: {"version": 2, "pending": 2}\n\n'
