"""Shared fixtures: a Host on a fresh data directory, the CLI on the same kind of directory,
and a snapshot of everything a store holds (to prove that a refused request wrote nothing).

No mocks of the runtime: every fixture here is a real Host with a real SQLite file under
``tmp_path``; WAT guests are built by ``tests.fixtures.build.build_fixture`` (cached on disk).

The store switch: ``pytest --store=postgresql`` (or ``AGENT_HOST_TEST_STORE=postgresql``) runs
every test against PostgreSQL instead: an autouse fixture sets ``$AGENT_HOST_STORE_URL``
(host/store/url.py) to a fresh schema on the test server for each test, so every data
directory the test opens, in-process or in a CLI/server subprocess (they inherit the
environment), keeps its database there. Tests marked ``sqlite_only`` are about the SQLite
file itself; they are deselected under the switch and counted in the summary.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from host.store import DB_FILENAME, STORE_URL_ENV, resolve

STORE_TABLES = ("components", "agents", "oplog", "promises", "invocations", "leases")


# One compiled-code cache for every data directory of the run (and later runs in this
# checkout): the host compiles each test guest once instead of once per test's store.
# Tests that need a store's own cache directory unset it (monkeypatch.delenv).
os.environ.setdefault(
    "AGENT_HOST_CODE_CACHE", str(Path(__file__).resolve().parents[1] / "build" / "code-cache")
)


# No time limit per hypothesis example: the machines are shared and noisy, and hypothesis's
# default 200 ms deadline is a timed assertion (a helper's loaded run failed a parser
# property test on it). Tests that set their own deadline keep it.
settings.register_profile("agent-host", deadline=None)
settings.load_profile("agent-host")


STORE_CHOICES = ("sqlite", "postgresql")
ENV_STORE = "AGENT_HOST_TEST_STORE"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store",
        dest="test_store",
        choices=STORE_CHOICES,
        default=os.environ.get(ENV_STORE) or "sqlite",
        help="the store every test's data directory uses: sqlite (the file in the directory) "
        f"or postgresql (a fresh schema per test on a real server). Default: ${ENV_STORE} "
        "or sqlite.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only: about the SQLite file itself (opens, damages or inspects it); "
        "deselected under --store=postgresql",
    )
    if config.getoption("test_store") not in STORE_CHOICES:  # a bad $AGENT_HOST_TEST_STORE
        raise pytest.UsageError(f"${ENV_STORE} must be one of {', '.join(STORE_CHOICES)}")


def on_postgresql(config: pytest.Config) -> bool:
    return bool(config.getoption("test_store") == "postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_postgresql(config):
        return
    kept = [item for item in items if item.get_closest_marker("sqlite_only") is None]
    dropped = [item for item in items if item.get_closest_marker("sqlite_only") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    config.stash[_SQLITE_ONLY] = len(dropped)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: its count goes to the controller
        workeroutput["sqlite_only"] = len(dropped)


_SQLITE_ONLY = pytest.StashKey[int]()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist's controller: every worker collects the same tests, so any worker's
    count of deselected sqlite_only tests is the run's."""
    count = getattr(node, "workeroutput", {}).get("sqlite_only")
    if count is not None:
        node.config.stash[_SQLITE_ONLY] = max(count, node.config.stash.get(_SQLITE_ONLY, 0))


def pytest_report_header(config: pytest.Config) -> str:
    return f"store: {config.getoption('test_store')}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if on_postgresql(config):
        count = config.stash.get(_SQLITE_ONLY, 0)
        terminalreporter.write_line(
            f"store: postgresql; {count} sqlite_only tests deselected (not run, not passed)"
        )


_SCOPE_URL = pytest.StashKey[dict[str, str]]()


def _scoped_switch(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under --store=postgresql, a schema for the fixtures of this scope (a server or
    template store built once per module or session keeps its database there); otherwise
    the variable is unset."""
    with pytest.MonkeyPatch.context() as mp:
        if on_postgresql(request.config):
            from tests.fixtures.postgres import CREATED, fresh_schema

            mark = len(CREATED)
            url = fresh_schema(request.getfixturevalue("pg_server"))
            request.config.stash.setdefault(_SCOPE_URL, {})[request.scope] = url
            mp.setenv(STORE_URL_ENV, url)
            try:
                yield
            finally:
                _drop_schemas(mark, request.scope)
        else:
            mp.delenv(STORE_URL_ENV, raising=False)
            yield


def _drop_schemas(mark: int, scope: str) -> None:
    """Drop the schemas made in this scope (tests/fixtures/postgres.drop_schemas_since);
    a schema that could not be dropped is a warning, not a failure of the test."""
    import warnings

    from tests.fixtures.postgres import drop_schemas_since

    left = drop_schemas_since(mark)
    if left:
        warnings.warn(f"{scope} schemas left on the test server: {left}", stacklevel=1)


@pytest.fixture(scope="session", autouse=True)
def _store_switch_session(request: pytest.FixtureRequest) -> Iterator[None]:
    yield from _scoped_switch(request)


@pytest.fixture(scope="module", autouse=True)
def _store_switch_module(
    request: pytest.FixtureRequest, _store_switch_session: None
) -> Iterator[None]:
    yield from _scoped_switch(request)


def _holds_a_store(value: Any) -> bool:
    """A shared fixture's value that owns a data directory (a Server, a HostService, or a
    tuple holding one): the test must see that fixture's database, not a fresh one."""
    items = value if isinstance(value, tuple) else (value,)
    return any(hasattr(item, "store") for item in items)


@pytest.fixture(autouse=True)
def _store_switch(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, _store_switch_module: None
) -> Iterator[None]:
    """Under --store=postgresql, $AGENT_HOST_STORE_URL names a fresh schema for this test,
    unless the test uses a module- or session-wide fixture holding a store: then it names
    the schema of that fixture's scope, which that fixture's store uses. The schemas made
    during the test are dropped after it (the wider fixtures are set up first, so theirs
    belong to their own scope and are dropped when it ends)."""
    if not on_postgresql(request.config):
        yield
        return
    from tests.fixtures.postgres import CREATED, fresh_schema

    defs = request.node._fixtureinfo.name2fixturedefs
    wider = []
    for name in request.fixturenames:
        scope = defs[name][-1].scope if defs.get(name) else "function"
        if scope != "function" and not name.startswith("_") and name != "pg_server":
            wider.append((name, scope, request.getfixturevalue(name)))
    mark = len(CREATED)
    try:
        for _name, scope, value in wider:
            if _holds_a_store(value):
                urls = request.config.stash[_SCOPE_URL]
                monkeypatch.setenv(
                    STORE_URL_ENV, urls["session" if scope == "session" else "module"]
                )
                break
        else:
            monkeypatch.setenv(STORE_URL_ENV, fresh_schema(request.getfixturevalue("pg_server")))
        yield
    finally:
        _drop_schemas(mark, "test")


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
    """Every row of every table plus the component and compiled-code files, comparable with ==.

    The database is the one the data directory names (its SQLite file, or the PostgreSQL
    schema of $AGENT_HOST_STORE_URL under the store switch)."""
    state: dict[str, Any] = {}
    db_path = data_dir / DB_FILENAME
    location = resolve(data_dir)
    if location.kind == "postgresql":
        state.update(_postgres_rows(location.url))
    elif db_path.exists():
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


def _postgres_rows(url: str) -> dict[str, Any]:
    import psycopg

    state: dict[str, Any] = {}
    with psycopg.connect(url) as conn:
        present = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        }
        for table in STORE_TABLES:
            if table in present:
                rows = conn.execute(f"SELECT * FROM {table}").fetchall()
                state[table] = sorted(rows, key=repr)
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
def pg_url(pg_server: str) -> Iterator[str]:
    """A store URL on the test server naming a fresh, empty schema of this test's own
    (dropped after the test)."""
    from tests.fixtures.postgres import CREATED, fresh_schema

    mark = len(CREATED)
    try:
        yield fresh_schema(pg_server)
    finally:
        _drop_schemas(mark, "test")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each kind, as the URL `open_store` takes: the tests of store
    semantics run against both stores."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'db.sqlite'}"
    return str(request.getfixturevalue("pg_url"))
