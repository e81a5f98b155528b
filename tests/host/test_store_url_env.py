"""$AGENT_HOST_STORE_URL: a data directory keeps components and compiled code, the database
is the URL's (here a real PostgreSQL schema), in-process and in a CLI subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from host.service import HostService
from host.store import DB_FILENAME, STORE_URL_ENV, open_store
from tests.fixtures.build import build_fixture

AGENT_HOST = str(Path(sys.executable).parent / "agent-host")


def test_a_data_directory_keeps_its_database_at_the_store_url(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_URL_ENV, pg_url)
    data = tmp_path / "data"
    host = HostService(data)
    try:
        host.add_component(build_fixture("output"), name="output")
    finally:
        host.close()
    # A CLI process given only the directory finds the same database.
    env = {**os.environ, STORE_URL_ENV: pg_url}
    listed = subprocess.run(
        [AGENT_HOST, "--store", str(data), "component", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert "output" in listed.stdout
    assert not (data / DB_FILENAME).exists()  # the database is not in the directory
    assert any((data / "components").iterdir())  # the component file is
    monkeypatch.delenv(STORE_URL_ENV)
    store = open_store(pg_url)
    try:
        assert [c.name for c in store.list_components()] == ["output"]
    finally:
        store.close()


def test_a_bad_store_url_is_a_clear_cli_error(tmp_path: Path) -> None:
    env = {**os.environ, STORE_URL_ENV: str(tmp_path)}
    done = subprocess.run(
        [AGENT_HOST, "--store", str(tmp_path / "d"), "component", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert STORE_URL_ENV in done.stderr and "Traceback" not in done.stderr
