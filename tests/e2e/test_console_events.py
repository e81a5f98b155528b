"""The console's event stream (/ui/events) on a real `agent-host serve`, read with httpx:
one event when a promise is created and one when it is completed (here over the REST
API), and a server with streams open still stops cleanly at SIGTERM."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.fixtures.build import build_fixture
from tests.server_util import CLEAN_EXIT, Server, add_component, json_bytes


def test_events_follow_promises_and_do_not_hold_up_shutdown(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("promises-1.3.0"), "waiter")
    server = Server(store).start()
    events: list[str] = []
    opened = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", server.url + "/ui/events", timeout=30) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("retry:"):
                    opened.set()
                if line.startswith("event:"):
                    events.append(line)

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    try:
        assert opened.wait(10)
        time.sleep(0.7)  # the watcher has seen the (empty) pending set once
        http = server.client()
        workers = f"/v1/components/{cid}/workers"
        created = http.post(f"{workers}/w/invoke", params={"function": "create"})
        assert created.status_code == 202
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert events == ["event: promises"]
        (promise,) = http.get(f"{workers}/w/promises").json()["promises"]
        idx = int(promise["id"].rsplit("/", 1)[1])
        done = http.post(f"{workers}/w/complete", json={"oplogIdx": idx, "data": json_bytes(1)})
        assert done.json() is True
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert events == ["event: promises", "event: promises"]
    finally:
        started = time.monotonic()
        code = server.stop()
    assert code in CLEAN_EXIT, server.output()[-2000:]
    assert time.monotonic() - started < 10
    reader.join(5)
    assert not reader.is_alive()
