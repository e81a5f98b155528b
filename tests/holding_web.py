"""A loopback HTTP server for crash tests that counts the requests it gets and holds the
first ones open: a test kills the host while its guest is inside the outgoing request
(sent, no response yet), then checks at the server whether recovery sent it again."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_S = 120.0  # the longest a held request waits for release() (a test that failed)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed mid-request is what these tests do


@dataclass
class HoldingServer:
    """Every request is counted in :attr:`hits` (its path); the first ``hold`` of them
    are answered only after :meth:`release` (each sets :attr:`arrived` when it comes),
    the rest at once. Every answer is 200 ``answered <n>`` (n: the request's number)."""

    hold: int = 1
    hits: list[str] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> HoldingServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with owner._lock:
                    owner.hits.append(self.path)
                    number = len(owner.hits)
                if number <= owner.hold:
                    owner.arrived.set()
                    owner._released.wait(HOLD_S)
                answer = f"answered {number}".encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client died while held

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def wait_arrived(self, timeout: float = 120.0) -> None:
        if not self.arrived.wait(timeout):
            raise AssertionError(f"no request reached the test server within {timeout} s")

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
