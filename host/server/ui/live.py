"""Live updates of the pending list: one watcher per server, server-sent events per page.

The SQLite store has no change notification, so one task polls the service every
:data:`POLL_S` for the set of pending promises (one query, whoever is watching) and
tells every open event stream when it changes: a promise was created or completed,
here, by the REST API or by another process on the same store. The task runs only
while some browser listens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable

import anyio.to_thread

from host.errors import HostError
from host.service import HostService

POLL_S = 0.5
KEEPALIVE_S = 15.0
STREAM_S = 300.0  # a stream ends after this; EventSource reconnects (``retry``) at once
RETRY_MS = 1000


class PendingWatch:
    """Counts changes of the pending-promise set; streams wait for the next count."""

    def __init__(self, service: HostService, stopping: Callable[[], bool]) -> None:
        self.service = service
        self.stopping = stopping
        self.version = 0
        self.pending = 0
        self._seen: frozenset[str] | None = None
        self._changed = asyncio.Event()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    def _fingerprint(self) -> frozenset[str]:
        return frozenset(str(p.id) for p in self.service.list_promises())

    async def _poll(self) -> None:
        while self._listeners and not self.stopping():
            seen: frozenset[str] | None
            try:
                seen = await anyio.to_thread.run_sync(self._fingerprint)
            except HostError:
                seen = self._seen  # the store is busy or unavailable: try again later
            if seen is not None and seen != self._seen:
                if self._seen is not None:
                    self.version += 1
                self._seen, self.pending = seen, len(seen)
                changed, self._changed = self._changed, asyncio.Event()
                changed.set()
            await asyncio.sleep(POLL_S)
        self._task = None

    async def stream(self) -> AsyncGenerator[str, None]:
        """The event stream of one page: a ``promises`` event at each change."""
        self._listeners += 1
        if self._task is None:
            self._task = asyncio.create_task(self._poll())
        try:
            yield f"retry: {RETRY_MS}\n\n"
            loop = asyncio.get_running_loop()
            end = loop.time() + STREAM_S
            last = self.version
            idle = 0.0
            while not self.stopping() and loop.time() < end:
                # Compared before every wait: a change made while this stream was handing
                # out its previous event (its Event already replaced) is not lost.
                if self.version != last:
                    last, idle = self.version, 0.0
                    data = json.dumps({"version": last, "pending": self.pending})
                    yield f"event: promises\ndata: {data}\n\n"
                    continue
                try:
                    # Wake at least once a second to notice a shutdown.
                    await asyncio.wait_for(self._changed.wait(), 1.0)
                except TimeoutError:
                    idle += 1.0
                    if idle >= KEEPALIVE_S:
                        idle = 0.0
                        yield ": keepalive\n\n"
        finally:
            self._listeners -= 1
