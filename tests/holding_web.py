"""A loopback HTTP server for crash tests that counts the requests it gets and holds the
first ones open: a test kills the host while its guest is inside the outgoing request
(sent, no response yet), then checks at the server whether recovery sent it again."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tests.loopback_web import LoopbackWeb, QuietHandler

HOLD_S = 120.0  # the longest a held request waits for release() (a test that failed)


@dataclass
class HoldingServer(LoopbackWeb):
    """Every request is counted in :attr:`hits` (its path); the first ``hold`` of them
    are answered only after :meth:`release` (each sets :attr:`arrived` when it comes),
    the rest at once. Every answer is 200 ``answered <n>`` (n: the request's number)."""

    hold: int = 1
    hits: list[str] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> HoldingServer:
        owner = self

        class Handler(QuietHandler):
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

        self.serve(Handler)
        return self

    @property
    def url(self) -> str:
        return self.base_url

    def wait_arrived(self, timeout: float = 120.0) -> None:
        if not self.arrived.wait(timeout):
            raise AssertionError(f"no request reached the test server within {timeout} s")

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        super().close()
