"""Slow and idle clients cannot exhaust the server: a request head must arrive within
--header-timeout, connections past --max-connections are refused at once with a 503,
and the "out of file descriptors" log line is rate-limited. Bounded: at most 200 raw
loopback sockets, a few seconds each."""

from __future__ import annotations

import errno
import logging
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from host.server.connections import RateLimitedLog
from tests.server_util import Server

HEADER_TIMEOUT = 2.0
MAX_CONNECTIONS = 150


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own per test: slow clients of one test must not count against the
    next one's connection bound (the server closes them only after the header timeout)."""
    store = tmp_path_factory.mktemp("slow") / "store"
    srv = Server(
        store,
        extra_args=(
            "--max-connections",
            str(MAX_CONNECTIONS),
            "--header-timeout",
            str(HEADER_TIMEOUT),
        ),
    ).start()
    yield srv
    srv.stop()


def _slow_clients(server: Server, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
        socks.append(sock)
    return socks


def _until_closed(socks: list[socket.socket], within: float) -> dict[socket.socket, bytes]:
    """What each socket received before the server closed it, for those closed in time."""
    got: dict[socket.socket, bytes] = {s: b"" for s in socks}
    closed: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + within
    while len(closed) < len(socks) and time.monotonic() < deadline:
        waiting = [s for s in socks if s not in closed]
        ready, _, _ = select.select(waiting, [], [], 0.2)
        for sock in ready:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                got[sock] += chunk
            else:
                closed[sock] = got[sock]
    return closed


def _close(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def test_slow_headers_time_out_and_others_are_served(server: Server) -> None:
    socks = _slow_clients(server, 100)
    try:
        started = time.monotonic()
        ok = httpx.get(server.url + "/healthz", timeout=5)
        assert ok.status_code == 200
        closed = _until_closed(socks, HEADER_TIMEOUT + 5)
        took = time.monotonic() - started
        assert len(closed) == len(socks), f"{len(socks) - len(closed)} slow clients still open"
        assert took < HEADER_TIMEOUT + 5
    finally:
        _close(socks)
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200


def test_connections_past_the_bound_are_refused_at_once(server: Server) -> None:
    socks = _slow_clients(server, 200)
    try:
        refused = _until_closed(socks, 1.0)  # well before the header timeout
        busy = [d for d in refused.values() if b" 503 " in d.split(b"\r\n", 1)[0]]
        assert len(busy) >= 200 - MAX_CONNECTIONS, (len(busy), len(refused))
        assert len(refused) < 200
        assert b'"too_many_connections"' in busy[0]
        # Once the slow ones time out, the server answers again.
        _until_closed([s for s in socks if s not in refused], HEADER_TIMEOUT + 5)
        ok = httpx.get(server.url + "/healthz", timeout=5)
        assert ok.status_code == 200
    finally:
        _close(socks)
    assert "Traceback" not in server.output()


def test_keep_alive_requests_still_work(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as http:
        for _ in range(3):
            assert http.get("/healthz").status_code == 200
            time.sleep(0.3)


def test_the_out_of_files_log_line_is_rate_limited(tmp_path: Path) -> None:
    now = [100.0]  # the limiter's clock: the burst takes no time, however slow the machine
    limiter = RateLimitedLog(interval=0.3, clock=lambda: now[0])
    logger = logging.getLogger("test-rate-limited")
    logger.propagate = False
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger.addHandler(Keep())
    logger.addFilter(limiter)
    exc = OSError(errno.EMFILE, "Too many open files")
    for _ in range(10_000):
        logger.error("socket.accept() out of system resource", exc_info=(OSError, exc, None))
    logger.error("something else")
    now[0] += 0.35
    logger.error("socket.accept() out of system resource", exc_info=(OSError, exc, None))
    assert seen[0] == "socket.accept() out of system resource"
    assert seen[1] == "something else"
    assert "9999 more like it" in seen[2]
    assert len(seen) == 3
