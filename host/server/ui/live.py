"""Live updates of the pending list: one watcher per server, server-sent events per page.

The SQLite store has no change notification, so one task polls the service every
:data:`POLL_S` for the set of pending promises (one query, whoever is watching) and
tells every open event stream when it changes: a promise was created or completed,
here, by the REST API or by another process on the same store. The task runs only
while some browser listens.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncGenerator, Callable

import anyio.to_thread

from host.errors import HostError
from host.service import HostService

POLL_S = 0.5
KEEPALIVE_S = 15.0
STREAM_S = 300.0  # a stream ends after this; EventSource reconnects (``retry``) at once
RETRY_MS = 1000


def digest(promises: frozenset[str]) -> str:
    """A short name for a set of promise ids: the pending page carries the one it was
    rendered with, and its event stream compares it with the set as it opens."""
    return hashlib.sha256("\n".join(sorted(promises)).encode()).hexdigest()[:20]


class PendingWatch:
    """Reads the pending-promise set while someone listens; each stream says when the
    set differs from the one it last told its page about."""

    def __init__(self, service: HostService, stopping: Callable[[], bool]) -> None:
        self.service = service
        self.stopping = stopping
        self.version = 0  # changes of the set the watcher has seen
        self._seen: frozenset[str] | None = None
        self._seen_at = 0.0  # when the read that gave ``_seen`` began (loop time)
        self._changed = asyncio.Event()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._seen or ())

    def _fingerprint(self) -> frozenset[str]:
        return frozenset(str(p.id) for p in self.service.list_promises())

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while self._listeners and not self.stopping():
            began = loop.time()
            try:
                seen = await anyio.to_thread.run_sync(self._fingerprint)
            except HostError:
                seen = None  # the store is busy or unavailable: try again later
            if seen is not None:
                if self._seen is not None and seen != self._seen:
                    self.version += 1
                self._seen, self._seen_at = seen, began
                changed, self._changed = self._changed, asyncio.Event()
                changed.set()
            await asyncio.sleep(POLL_S)
        self._task = None

    async def stream(self, rendered: str | None = None) -> AsyncGenerator[str, None]:
        """The event stream of one page: a ``promises`` event whenever the pending set
        differs from the one the page last heard of. That is at first the set read as
        the stream opens; if it is not the set the page was ``rendered`` with (its
        :func:`digest`), the first event comes at once: nothing changed while the page
        loaded goes unsaid."""
        self._listeners += 1
        if self._task is None:
            self._task = asyncio.create_task(self._poll())
        loop = asyncio.get_running_loop()
        try:
            since = loop.time()
            told: frozenset[str] | None
            try:
                told = await anyio.to_thread.run_sync(self._fingerprint)
            except HostError:
                told = None  # the store is busy: the watcher's next read stands for it
            yield f"retry: {RETRY_MS}\n\n"
            if told is not None and rendered is not None and digest(told) != rendered:
                data = json.dumps({"version": self.version, "pending": len(told)})
                yield f"event: promises\ndata: {data}\n\n"
            end = loop.time() + STREAM_S
            idle = 0.0
            while not self.stopping() and loop.time() < end:
                # Only a read begun after this stream's own is news (an older one may
                # not have seen what the stream saw). Compared before every wait: a
                # change seen while this stream handed out its last event is not lost.
                seen = self._seen if self._seen_at >= since else None
                if seen is not None and told is None:
                    told = seen
                if seen is not None and seen != told:
                    told, idle = seen, 0.0
                    data = json.dumps({"version": self.version, "pending": len(seen)})
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
