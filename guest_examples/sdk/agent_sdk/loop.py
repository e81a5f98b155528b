"""A small asyncio event loop over ``wasi:io/poll`` and ``wasi:clocks/monotonic-clock``.

componentize-py's own ``poll_loop`` needs ``wasi:http``; this one needs only the two
interfaces every SDK world imports. It runs callbacks and tasks like any asyncio loop;
when nothing is ready it makes **one** ``wasi:io/poll.poll`` over every pollable a
coroutine waits on (promise pollables from :func:`await_promise`, any other pollable
through :func:`wait_pollable`) plus, if a timer is scheduled (``asyncio.sleep``,
``asyncio.wait_for``, ``asyncio.timeout``, ``loop.call_later``), a
``monotonic-clock.subscribe-instant`` pollable for the nearest one.

That one poll is what makes waiting durable: when every pollable in it is a promise or a
timer and none is ready, agent-host suspends the agent (records it, drops the instance)
and resumes it when a promise completes or the timer is due, even after a host restart.
Everything the loop decides depends only on host-call results (poll answers, clock
readings), which the host records and replays, so a replay takes the same path.

Time is the host's monotonic clock (``loop.time()`` is ``monotonic-clock.now`` in
seconds; agent-host makes it wall-clock nanoseconds that never go back, so a deadline
means the same after a restart).
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import math
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar, TypeVarTuple, cast

from . import _bindings

__all__ = ["PollLoop", "run", "wait_pollable", "now_ns"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Looked up now, at snapshot time: componentize-py bundles only modules imported then.
_bindings.module("poll")
_bindings.module("monotonic_clock")

# A timer counts as due this close to its deadline (nanosecond clock, float seconds).
_CLOCK_RESOLUTION_S = 1e-6


def now_ns() -> int:
    """The host's monotonic clock in nanoseconds (recorded, so replay sees the same)."""
    return int(_bindings.module("monotonic_clock").now())


class PollLoop(asyncio.AbstractEventLoop):
    """An asyncio event loop whose only source of events is ``wasi:io/poll.poll``."""

    def __init__(self) -> None:
        self._ready: deque[asyncio.Handle] = deque()
        self._timers: list[asyncio.TimerHandle] = []
        # (pollable, future) pairs: the future is resolved when the pollable is ready.
        self._waiters: list[tuple[Any, asyncio.Future[None]]] = []
        self._running = False
        self._stopping = False
        self._closed = False
        self._exception_handler: Callable[..., Any] | None = None
        self._task_factory: Any = None
        self._debug = False
        self.polls = 0  # how many wasi:io/poll.poll calls this loop made

    # -- running ---------------------------------------------------------------------
    def run_until_complete(self, future: Generator[Any, None, T] | Awaitable[T]) -> T:
        self._check_closed()
        if self._running:
            raise RuntimeError("this event loop is already running")
        if asyncio.events._get_running_loop() is not None:
            raise RuntimeError(
                "agent_sdk.loop.run() cannot be called from a running event loop: "
                "await the coroutine instead"
            )
        task = asyncio.ensure_future(cast(Awaitable[T], future), loop=self)
        self._running = True
        self._stopping = False
        asyncio.events._set_running_loop(self)
        try:
            while not task.done() and not self._stopping:
                self._run_once()
        finally:
            self._running = False
            asyncio.events._set_running_loop(None)
        if not task.done():
            raise RuntimeError("the event loop stopped before the coroutine finished")
        return task.result()

    def _run_once(self) -> None:
        if not self._ready:
            self._wait_for_events()
        # Run what is ready now; callbacks scheduled by these run in the next round.
        for _ in range(len(self._ready)):
            handle = self._ready.popleft()
            if not handle._cancelled:
                handle._run()

    def _wait_for_events(self) -> None:
        self._drop_cancelled_timers()
        if self._timers and self._release_due_timers():
            return
        if not self._waiters and not self._timers:
            raise RuntimeError(
                "deadlock: the coroutine waits, but not on a promise, a pollable or a "
                "timer (only those can wake it up in an agent)"
            )
        pollables = [p for p, _ in self._waiters]
        timer = None
        if self._timers:
            deadline = max(0, math.ceil(self._timers[0].when() * 1e9))
            timer = _bindings.module("monotonic_clock").subscribe_instant(deadline)
            pollables.append(timer)
        try:
            self.polls += 1
            ready = set(_bindings.module("poll").poll(pollables))
        finally:
            if timer is not None:
                timer.__exit__(None, None, None)
        waiting = []
        for index, (pollable, future) in enumerate(self._waiters):
            if index in ready:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((pollable, future))
        self._waiters = waiting
        if timer is not None and len(pollables) - 1 in ready:
            self._release_due_timers()

    def _release_due_timers(self) -> bool:
        """Move timers that are due to the ready queue; whether any was."""
        now = self.time() + _CLOCK_RESOLUTION_S
        released = False
        while self._timers and self._timers[0].when() <= now:
            handle = heapq.heappop(self._timers)
            if not handle._cancelled:
                handle._scheduled = False  # type: ignore[attr-defined, unused-ignore]
                self._ready.append(handle)
                released = True
        return released

    def _drop_cancelled_timers(self) -> None:
        if any(h._cancelled for h in self._timers):
            self._timers = [h for h in self._timers if not h._cancelled]
            heapq.heapify(self._timers)

    def add_waiter(self, pollable: Any) -> asyncio.Future[None]:
        """A future resolved by the loop once ``pollable`` is ready (the caller keeps
        ownership of the pollable and drops it after)."""
        future: asyncio.Future[None] = self.create_future()
        entry = (pollable, future)
        self._waiters.append(entry)

        def forget(_: asyncio.Future[None]) -> None:
            if entry in self._waiters:
                self._waiters.remove(entry)

        future.add_done_callback(forget)
        return future

    def run_forever(self) -> None:
        raise NotImplementedError("an agent's loop runs one coroutine: use run_until_complete")

    def stop(self) -> None:
        self._stopping = True

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._running:
            raise RuntimeError("cannot close a running event loop")
        self._closed = True
        self._ready.clear()
        self._timers.clear()
        self._waiters.clear()

    def _check_closed(self) -> None:
        if self._closed:
            raise RuntimeError("the event loop is closed")

    async def shutdown_asyncgens(self) -> None:
        return None

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        return None

    # -- scheduling --------------------------------------------------------------------
    def call_soon(
        self,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        self._check_closed()
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_soon_threadsafe(
        self,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        return self.call_soon(callback, *args, context=context)  # one thread in a guest

    def call_later(
        self,
        delay: float,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(
        self,
        when: float,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        self._check_closed()
        handle = asyncio.TimerHandle(when, callback, args, self, context)
        heapq.heappush(self._timers, handle)
        handle._scheduled = True  # type: ignore[attr-defined, unused-ignore]
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        pass  # dropped lazily, before the next poll

    def time(self) -> float:
        return now_ns() / 1e9

    # -- futures and tasks -----------------------------------------------------------------
    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, T] | Generator[Any, None, T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[T]:
        self._check_closed()
        if self._task_factory is not None:
            task: asyncio.Task[T] = self._task_factory(self, coro, name=name, context=context)
            return task
        coroutine = cast(Coroutine[Any, Any, T], coro)
        return asyncio.Task(coroutine, loop=self, name=name, context=context)

    def set_task_factory(self, factory: Any) -> None:
        self._task_factory = factory

    def get_task_factory(self) -> Any:
        return self._task_factory

    # -- errors and debugging ----------------------------------------------------------
    def get_exception_handler(self) -> Any:
        return self._exception_handler

    def set_exception_handler(self, handler: Any) -> None:
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        message = context.get("message") or "unhandled exception in the event loop"
        exc = context.get("exception")
        print(
            f"agent_sdk: {message}" + (f": {type(exc).__name__}: {exc}" if exc else ""),
            file=sys.stderr,
            flush=True,
        )

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        if self._exception_handler is None:
            self.default_exception_handler(context)
        else:
            self._exception_handler(self, context)

    def get_debug(self) -> bool:
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        self._debug = enabled


async def wait_pollable(pollable: Any) -> None:
    """Wait until a ``wasi:io/poll`` pollable is ready, letting other tasks run. The
    pollable stays the caller's: drop it (``with`` or ``__exit__``) afterwards."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, PollLoop):
        raise RuntimeError(
            "agent_sdk: awaiting a promise or pollable needs the SDK's event loop: "
            "drive the coroutine with agent_sdk.loop.run(...)"
        )
    await loop.add_waiter(pollable)


def run(main: Awaitable[T]) -> T:
    """Run a coroutine to completion on a fresh :class:`PollLoop` and return its result
    (or raise its exception): the bridge from a synchronous WIT export to async code.

    Tasks it leaves unfinished are cancelled (so their pollables are dropped) before it
    returns."""
    loop = PollLoop()  # type: ignore[abstract]  # (typeshed marks unused methods abstract)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_leftovers(loop)
        finally:
            loop.close()


def _cancel_leftovers(loop: PollLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
