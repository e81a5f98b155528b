"""The default payload limit end to end: a real ``agent-host serve`` with no --max-payload
takes a 16 MiB raw completion and its agent gets every byte (the guest answers the
length it received), and refuses one byte more with 413, leaving the agent waiting.

The guest is the promises fixture plus ``create-and-await-size``
(tests/fixtures/payload_guest.py), so the 16 MiB go in through the fast value path but
the answer is a number, not a 16 MiB JSON array.
"""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from host.server.payloads import DEFAULT_MAX_PAYLOAD
from tests.fixtures.payload_guest import payload_size_guest
from tests.server_util import Api, Server, add_component

pytestmark = pytest.mark.slow  # 16 MiB through a server: ~1 GiB of value arrays


def test_the_default_limit_takes_16_mib_and_refuses_one_byte_more(tmp_path: Path) -> None:
    assert DEFAULT_MAX_PAYLOAD == 16 << 20
    store = tmp_path / "store"
    cid = add_component(store, payload_size_guest(tmp_path), "payload")
    server = Server(store, await_timeout=300).start()
    try:
        api = Api(server.client(timeout=300), cid)
        waiter = Api(server.client(timeout=300), cid)
        name = f"big-{uuid.uuid4().hex[:8]}"
        with ThreadPoolExecutor(max_workers=1) as pool:
            held = pool.submit(waiter.invoke_and_await, name, "create-and-await-size")
            (waiting,) = api.wait_status(name, "Suspended", timeout=60)["waitingOn"]
            idx = int(waiting["oplogIdx"])

            def complete(body: bytes) -> tuple[int, str]:
                answer = api.http.post(
                    api.path(name, "/complete"),
                    content=body,
                    params={"oplogIdx": idx},
                    headers={"content-type": "application/octet-stream"},
                )
                return answer.status_code, answer.text

            status, text = complete(bytes(DEFAULT_MAX_PAYLOAD + 1))
            assert status == 413 and "payload_too_large" in text, text
            assert api.status(name) == "Suspended"
            payload = random.Random(16).randbytes(DEFAULT_MAX_PAYLOAD)
            assert complete(payload) == (200, "true")
            response = held.result(timeout=300)
        assert response.status_code == 200, response.text
        assert response.json()["result"] == DEFAULT_MAX_PAYLOAD
    finally:
        server.stop(timeout=60)
    assert "Traceback" not in server.output(), server.output()[-3000:]
