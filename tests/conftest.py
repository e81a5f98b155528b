"""Shared fixtures: a Host on a fresh data directory, the CLI on the same kind of directory,
and a snapshot of everything a store holds (to prove that a refused request wrote nothing).

No mocks of the runtime: every fixture here is a real Host with a real SQLite file under
``tmp_path``; WAT guests are built by ``tests.fixtures.build.build_fixture`` (cached on disk).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from host.store import DB_FILENAME

STORE_TABLES = ("components", "agents", "oplog", "promises", "invocations", "leases")


# One compiled-code cache for every data directory of the run (and later runs in this
# checkout): the host compiles each test guest once instead of once per test's store.
# Tests that need a store's own cache directory unset it (monkeypatch.delenv).
os.environ.setdefault(
    "AGENT_HOST_CODE_CACHE", str(Path(__file__).resolve().parents[1] / "build" / "code-cache")
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The host's data directory (database, components, compiled-code cache)."""
    return tmp_path / "store"


@pytest.fixture
def host(data_dir: Path) -> Iterator[Any]:
    """A Host on a fresh data directory, closed after the test."""
    from host.service import HostService

    h = HostService(data_dir)
    try:
        yield h
    finally:
        h.close()


def snapshot_store(data_dir: Path) -> dict[str, Any]:
    """Every row of every table plus the component and compiled-code files, comparable with ==."""
    state: dict[str, Any] = {}
    db_path = data_dir / DB_FILENAME
    if db_path.exists():
        db = sqlite3.connect(db_path)
        try:
            present = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            for table in STORE_TABLES:
                if table in present:
                    state[table] = sorted(db.execute(f"SELECT * FROM {table}").fetchall())
        finally:
            db.close()
    for folder in ("components", "cache"):
        path = data_dir / folder
        state[f"{folder}_files"] = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    return state


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, Any]]:
    return snapshot_store


@pytest.fixture
def cli(data_dir: Path) -> Callable[..., Any]:
    """Run ``agent-host --store <data_dir> ARGS...`` in-process with click's CliRunner.

    The result has ``exit_code``, ``stdout`` and ``stderr`` (kept apart)."""
    from click.testing import CliRunner

    from host.cli import main

    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, ["--store", str(data_dir), *args], catch_exceptions=False)

    return run


# -- PostgreSQL (tests/fixtures/postgres.py): a real server the tests start themselves ----
@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The base URL of a PostgreSQL server: $AGENT_HOST_TEST_PG_URL, or one started now
    (initdb + pg_ctl in a temporary directory) and stopped at the end of the session.
    Fails, never skips, when none can be started."""
    import os

    from tests.fixtures.postgres import ENV_URL, PostgresServer

    given = os.environ.get(ENV_URL)
    if given:
        yield given
        return
    try:
        server = PostgresServer()
        url = server.start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start a PostgreSQL server for the tests: {exc}", pytrace=False)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A store URL on the test server naming a fresh, empty schema of this test's own."""
    from tests.fixtures.postgres import fresh_schema

    return fresh_schema(pg_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each kind, as the URL `open_store` takes: the tests of store
    semantics run against both stores."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'db.sqlite'}"
    return str(request.getfixturevalue("pg_url"))
