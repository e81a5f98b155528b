"""The loopback HTTP servers the tests stand up as the other side of an agent's outgoing
requests (a web service, a webhook provider, a flaky or a slow peer), and the data
directory those tests start from.

Each server is :class:`LoopbackWeb` with a handler class of its own: bound to 127.0.0.1
on a free port, served on a daemon thread, quiet about clients that vanish mid-request
(a timeout, a killed host: what the tests do on purpose), shut down by :meth:`close`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from host.service import HostService


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler held open must not keep the test process alive

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up or was killed is part of the tests


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that does not log every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackWeb:
    """One HTTP server on a free loopback port; subclasses give the handler."""

    _server: ThreadingHTTPServer | None = None

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the server was not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def registered_store(
    factory: pytest.TempPathFactory, label: str, components: dict[str, Path]
) -> Path:
    """A data directory with ``components`` (name -> wasm file) registered and compiled:
    a module's template, copied for each test with ``tests.server_util.clone_store``."""
    store = factory.mktemp(label) / "store"
    setup = HostService(store)
    try:
        for name, wasm in components.items():
            setup.add_component(wasm, name=name)
    finally:
        setup.close()
    return store
