"""`agent-host check`: a read-only integrity check that reports damage and changes nothing."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from pathlib import Path

import pytest

from host.ids import PromiseId
from host.service import HostService
from host.store import DB_FILENAME
from tests.fixtures.build import build_fixture
from tests.server_util import AGENT_HOST


def run_check(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENT_HOST, "--store", str(store), "check", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    data = tmp_path / "store"
    host = HostService(data)
    host.add_component(build_fixture("promises-1.3.0"), name="p")
    for name in ("alice", "bob"):
        agent, _ = host.create_agent("p", name)
        idx = int(host.invoke(agent, "create()").result or "0")
        host.invoke(agent, f"await({idx})")  # suspended
    carol, _ = host.create_agent("p", "carol")
    idx = int(host.invoke(carol, "create()").result or "0")
    host.complete_promise(PromiseId(carol, idx), b"x")
    host.invoke(carol, f"await({idx})")
    host.close()
    return data


def test_a_healthy_store_has_no_problems(store: Path) -> None:
    result = run_check(store)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "3 agent(s) checked, no problems"
    one = run_check(store, "p", "alice")
    assert one.returncode == 0 and "1 agent(s) checked" in one.stdout


def _db(store: Path) -> sqlite3.Connection:
    return sqlite3.connect(store / DB_FILENAME)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("DELETE FROM oplog WHERE name = 'alice' AND idx = 3", "index gap"),
        ("UPDATE oplog SET entry = '{garbage' WHERE name = 'alice' AND idx = 2", "does not decode"),
        ("DELETE FROM promises WHERE name = 'bob'", "has no promise in the store"),
        ("UPDATE promises SET completed = 1 WHERE name = 'bob'", "no wake-up source"),
        (
            "UPDATE oplog SET entry = (SELECT entry FROM oplog WHERE name = 'alice' AND idx = 2) "
            "WHERE name = 'alice' AND idx = 1",
            "not the agent's creation",
        ),
    ],
)
# sqlite_only: it damages the SQLite file with SQL and checks the file's bytes are unchanged.
@pytest.mark.sqlite_only
def test_damage_is_reported_and_nothing_changes(store: Path, damage: str, expected: str) -> None:
    db = _db(store)
    db.execute(damage)
    db.commit()
    db.close()
    before = digest(store / DB_FILENAME)
    result = run_check(store)
    assert result.returncode == 1, result.stdout
    assert expected in result.stdout
    assert "Traceback" not in result.stderr
    assert digest(store / DB_FILENAME) == before  # read-only


# sqlite_only: it overwrites the SQLite file with garbage.
@pytest.mark.sqlite_only
def test_a_damaged_database_file_is_a_clear_error_at_start(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / DB_FILENAME).write_bytes(b"\x00garbage" * 512)
    result = subprocess.run(
        [AGENT_HOST, "--store", str(store), "agent", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 6
    assert result.stderr.startswith("Error: cannot open the store")
    assert "Traceback" not in result.stderr


# sqlite_only: it tampers with the SQLite file's agents row.
@pytest.mark.sqlite_only
def test_a_component_version_column_the_oplog_contradicts_is_reported(tmp_path: Path) -> None:
    """The agents row keeps the version an agent runs; the oplog says it too (its creation,
    then each successful update no jump deleted). An agent created on version 0 and
    updated to 1: healthy; its column set back to 0 (or to a version the component does
    not have) is reported by `check`, which changes nothing."""
    data = tmp_path / "store"
    host = HostService(data)
    host.add_component(build_fixture("updater-1.5.0"), "updater")
    agent, _ = host.create_agent("updater", "u")
    host.create_agent("updater", "stays")  # on version 0, not updated
    host.add_component(build_fixture("updater-v2-1.5.0"), "updater")  # version 1
    assert host.update_agent(agent, 1).state == "successful"
    host.close()
    healthy = run_check(data)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr

    for tampered, said in ((0, 1), (7, 1)):
        db = _db(data)
        db.execute("UPDATE agents SET component_version = ? WHERE name = 'u'", (tampered,))
        db.commit()
        db.close()
        before = digest(data / DB_FILENAME)
        result = run_check(data)
        assert result.returncode == 1, result.stdout
        (line,) = result.stdout.strip().splitlines()
        assert line.endswith(
            f"u: the agents row says component version {tampered}, "
            f"the oplog says it runs version {said}"
        ), line
        assert digest(data / DB_FILENAME) == before  # read-only

    db = _db(data)  # the agent never updated, its column moved to 1
    db.execute("UPDATE agents SET component_version = 1 WHERE name IN ('u', 'stays')")
    db.commit()
    db.close()
    result = run_check(data)
    assert result.returncode == 1
    assert result.stdout.strip().endswith(
        "stays: the agents row says component version 1, the oplog says it runs version 0"
    ), result.stdout
