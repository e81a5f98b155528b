"""The pending list's watcher (host/server/ui/live.py) on a real service and store: each
change of the pending-promise set is an event; a change made while a stream is held
between two events (the browser has not read the first yet) is not lost; and a page
rendered before a change hears of it as soon as its stream opens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio.to_thread
import pytest

from host.server.ui.live import POLL_S, PendingWatch, digest
from host.service import HostService
from tests.fixtures.build import build_fixture


@pytest.fixture
def service(tmp_path: Path) -> Iterator[HostService]:
    service = HostService(tmp_path)  # inline: an invocation has run when submit returns
    yield service
    service.close()


def _creator(service: HostService) -> Callable[[str], None]:
    cid = service.add_component_bytes(build_fixture("promises-1.3.0").read_bytes(), "w").id

    def create(name: str) -> None:
        service.submit(service.call_from_json(service.agent_id(cid, name), "create", []))

    return create


def _pending(event: str) -> int:
    kind, data = event.strip().split("\n")
    assert kind == "event: promises"
    return int(json.loads(data.removeprefix("data: "))["pending"])


def test_a_change_while_the_stream_is_held_is_still_sent(service: HostService) -> None:
    create = _creator(service)

    async def scenario() -> list[str]:
        watch = PendingWatch(service, lambda: False)
        stream = watch.stream(digest(frozenset()))  # a page rendered with no promise
        got = [await anext(stream)]  # "retry": the stream is open, the watcher reads
        await anyio.to_thread.run_sync(create, "a")
        got.append(await asyncio.wait_for(anext(stream), 10))
        # Held: the stream's consumer does not ask for the next event yet. Meanwhile
        # another promise is created and the watcher reads the store again.
        await anyio.to_thread.run_sync(create, "b")
        await asyncio.sleep(POLL_S * 3)
        got.append(await asyncio.wait_for(anext(stream), 10))
        await stream.aclose()
        return got

    events = asyncio.run(scenario())
    assert events[0].startswith("retry:")
    assert [_pending(e) for e in events[1:]] == [1, 2]


def test_a_page_rendered_before_a_change_hears_of_it_when_its_stream_opens(
    service: HostService,
) -> None:
    create = _creator(service)
    rendered = digest(frozenset())  # the page showed no promise
    create("a")
    (promise,) = service.list_promises()

    async def first_two(seen: str) -> list[str]:
        stream = PendingWatch(service, lambda: False).stream(seen)
        got = [await anext(stream)]
        try:
            got.append(await asyncio.wait_for(anext(stream), 2.5))
        except TimeoutError:
            pass  # nothing to tell
        await stream.aclose()
        return got

    stale = asyncio.run(first_two(rendered))
    assert stale[0].startswith("retry:") and [_pending(e) for e in stale[1:]] == [1]
    current = asyncio.run(first_two(digest(frozenset({str(promise.id)}))))
    assert len(current) == 1 and current[0].startswith("retry:")  # up to date: no event
