"""Connection limits under uvicorn's h11 protocol: a bound on open connections and a
deadline for a request's headers, and a rate limit on the "out of file descriptors" log.

uvicorn 0.54 has no header-read timeout (``timeout_keep_alive`` only runs *between*
requests) and its ``limit_concurrency`` answers 503 only once a request has been
parsed, so a client that opens connections and sends headers slowly (slowloris) holds
a file descriptor each for ever. :class:`GuardedH11Protocol` closes a connection that
has not sent a complete request head within ``header_timeout`` seconds of its first byte
(or of connecting), and refuses a connection past ``max_connections`` at once with a
503, so the process never runs out of descriptors because of idle clients.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import resource
import time
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from host.server.errors import error_body

DEFAULT_HEADER_TIMEOUT = 10.0
_RESERVED_FDS = 128  # the database, component files, threads' pipes, logs


def default_max_connections() -> int:
    """1000, or fewer when the process may open fewer files (leaving room for its own)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1000
    return max(16, min(1000, soft - _RESERVED_FDS))


def _busy_response() -> bytes:
    body = json.dumps(
        error_body("too_many_connections", "the server has too many open connections")
    ).encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"connection: close\r\nretry-after: 1\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a connection bound and a request-head deadline."""

    max_connections: int = 1000
    header_timeout: float = DEFAULT_HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    @classmethod
    def configured(cls, max_connections: int, header_timeout: float) -> type[H11Protocol]:
        return type(
            "GuardedH11Protocol",
            (cls,),
            {"max_connections": max_connections, "header_timeout": header_timeout},
        )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refused = True
            self.transport = transport
            transport.write(_busy_response())
            # Half-close and linger a moment: closing with the client's request unread
            # would reset the connection and could discard the 503 before it is read.
            transport.write_eof()
            self.loop.call_later(1.0, transport.close)
            return
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_timer is None and not self._in_request():
            self._arm_head_timer()  # the first bytes of the next request on this connection
        super().data_received(data)
        if self._in_request():
            self._cancel_head_timer()

    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_request() or self.transport.is_closing():
            return
        # A connection idle after a response is uvicorn's keep-alive timer's to close;
        # only one that started a request head and never finished it, or never sent
        # anything, ends here.
        self.transport.close()


class RateLimitedLog(logging.Filter):
    """Lets one "out of file descriptors" record through per ``interval`` seconds and
    counts the ones it dropped in the next one it lets through. When the process runs
    out of descriptors asyncio's accept loop logs the failure each time it retries; one
    line per interval says the same."""

    PATTERNS = ("Too many open files", "out of system resource")
    ERRNOS = (errno.EMFILE, errno.ENFILE)

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock``: seconds, monotonic (tests pass their own, so no burst depends on
        how fast the machine logs)."""
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._last = float("-inf")
        self.suppressed = 0

    def _matches(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, OSError) and exc.errno in self.ERRNOS:
            return True
        message = record.getMessage()
        return any(p in message for p in self.PATTERNS)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._matches(record):
            return True
        now = self._clock()
        if now - self._last < self.interval:
            self.suppressed += 1
            return False
        self._last = now
        if self.suppressed:
            record.msg = f"{record.msg!s} ({self.suppressed} more like it in the last interval)"
            self.suppressed = 0
        return True


def install_log_rate_limit(interval: float = 10.0) -> RateLimitedLog:
    """Put one :class:`RateLimitedLog` on the loggers that report accept failures."""
    limiter = RateLimitedLog(interval)
    for name in ("asyncio", "uvicorn.error", "uvicorn"):
        logging.getLogger(name).addFilter(limiter)
    return limiter
