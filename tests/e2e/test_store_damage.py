"""A running server whose store is damaged under it, or that is started on a damaged
copy, says so instead of acknowledging work it will lose (issue "Nothing lost, nobody let
in, part 2", F7 and F8). Real ``agent-host serve`` processes, real files."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import httpx
import pytest

from host.store import DB_FILENAME
from tests.fixtures.build import build_fixture
from tests.server_util import Api, Server, add_component, cli

# sqlite_only: every test here damages the SQLite file (or its WAL) under a server.
pytestmark = pytest.mark.sqlite_only


def _create_promises(api: Api, name: str, n: int) -> list[int]:
    indexes = []
    for _ in range(n):
        created = api.invoke_and_await(name, "create")
        assert created.status_code == 200, created.text
        indexes.append(int(created.json()["result"]))
    return indexes


def test_deleting_the_wal_under_a_server_fails_writes_loudly_and_loses_nothing(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("promises-1.3.0"), "promises")
    server = Server(store).start()
    try:
        api = Api(server.client(), cid)
        indexes = _create_promises(api, "w", 30)
        acknowledged = []
        for idx in indexes[:15]:
            answer = api.complete("w", idx, [idx % 256])
            assert answer.status_code == 200, answer.text
            acknowledged.append(idx)
        os.unlink(store / f"{DB_FILENAME}-wal")
        raw = httpx.Client(base_url=server.url, timeout=30)  # 5xx expected from here on
        for idx in indexes[15:]:
            answer = raw.post(api.path("w", "/complete"), json={"oplogIdx": idx, "data": [1]})
            assert answer.status_code == 503, answer.text
            error = answer.json()["error"]
            assert error["code"] == "store_unavailable"
            assert "was deleted" in error["message"]
            assert "backup" in error["message"] and "start empty" not in error["message"]
        health = raw.get("/healthz")
        assert health.status_code == 503 and health.json()["error"]["code"] == "store_unavailable"
        raw.close()
    finally:
        server.stop()
    server.start()
    try:
        api = Api(server.client(), cid)
        for idx in acknowledged:  # every acknowledged completion is still there
            polled = api.invoke_and_await("w", "poll", [idx])
            assert polled.status_code == 200, polled.text
            assert polled.json()["result"] == [idx % 256], (idx, polled.text)
    finally:
        server.stop()


def _damaged_copy(tmp_path: Path, how: str) -> Path:
    """A data directory whose database is a damaged copy of a store with agents."""
    store = tmp_path / "store"
    add_component(store, build_fixture("promises-1.3.0"), "promises")
    for i in range(40):
        assert cli(store, "agent", "create", "promises", f"a{i}").returncode == 0
    db_file = store / DB_FILENAME
    db = sqlite3.connect(db_file)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'agents'").fetchone()
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(db_file.read_bytes())
    if how == "garbled":  # the agents table's root page overwritten, as a torn copy does
        data[(root - 1) * page : root * page] = os.urandom(page)
    else:  # truncated half way
        data = data[: len(data) // 2]
    db_file.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        (store / f"{DB_FILENAME}{suffix}").unlink(missing_ok=True)
    return store


@pytest.mark.parametrize("how", ["garbled", "truncated"])
def test_a_damaged_copy_is_refused_clearly(tmp_path: Path, how: str) -> None:
    store = _damaged_copy(tmp_path, how)
    listed = cli(store, "agent", "list")
    assert listed.returncode == 6, (listed.returncode, listed.stdout, listed.stderr)
    assert listed.stderr.startswith("Error: ") and "Traceback" not in listed.stderr
    assert "backup" in listed.stderr and "start empty" not in listed.stderr

    server = Server(store)
    with pytest.raises(AssertionError, match="exited with 6") as refused:
        server.start()
    output = server.output()
    assert "Traceback" not in output, output
    assert "Error: " in output and ("damaged" in output or "malformed" in output), output
    assert "exited with 6" in str(refused.value)
