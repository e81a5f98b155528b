"""open_store and resolve: every accepted target form, the refusals, and what is opened
(a plain SqliteStore, or the crash-injecting one when the AGENT_HOST_CRASH_* test
variables are set); and the statuses and states the store hands back as enum members."""

from __future__ import annotations

import ast
import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from host.errors import StoreError
from host.ids import AgentId
from host.oplog import AgentCreated, InvocationFailed, InvocationFinished, InvocationStarted
from host.store import (
    DB_FILENAME,
    STORE_URL_ENV,
    AgentStatus,
    InvocationState,
    SqliteStore,
    Store,
    StoreLocation,
    open_store,
    resolve,
)
from host.store.crashpoint import CrashPointSqliteStore


@pytest.fixture(autouse=True)
def _grammar_without_switch(_store_switch: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the target grammar itself: the test suite's store switch
    ($AGENT_HOST_STORE_URL) is off here; the tests of that variable set it themselves."""
    monkeypatch.delenv(STORE_URL_ENV, raising=False)


def test_store_url_env_names_the_database_of_a_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "elsewhere" / "x.db"
    monkeypatch.setenv(STORE_URL_ENV, f"sqlite://{db}")
    location = resolve(tmp_path / "d")
    assert (location.kind, location.path, location.data_dir) == ("sqlite", db, tmp_path / "d")
    store = open_store(tmp_path / "d")
    try:
        _roundtrip(store)
    finally:
        store.close()
    assert db.exists() and not (tmp_path / "d" / DB_FILENAME).exists()
    monkeypatch.setenv(STORE_URL_ENV, "postgresql://u@127.0.0.1:1/db")
    location = resolve(str(tmp_path / "d"))
    assert (location.kind, location.path, location.data_dir) == (
        "postgresql",
        None,
        tmp_path / "d",
    )
    # An explicit store URL target is not redirected.
    assert resolve(f"sqlite://{tmp_path}/own.db").path == tmp_path / "own.db"


@pytest.mark.parametrize("value", ["/some/dir", "mysql://x/y", "sqlite://host/x.db"])
def test_store_url_env_must_be_a_supported_url(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_URL_ENV, value)
    with pytest.raises(StoreError, match=STORE_URL_ENV.replace("$", "")):
        resolve(tmp_path)


def _roundtrip(store: Store) -> AgentId:
    """Something written through one store, to be read back through another."""
    agent = AgentId(uuid.uuid4(), "a")
    assert store.create_agent(agent, "hash", AgentCreated(str(agent.component_id), "hash"))
    return agent


# -- the forms ------------------------------------------------------------------------
def test_a_directory_is_the_data_dir_and_holds_the_database(tmp_path: Path) -> None:
    for target in (tmp_path / "d", str(tmp_path / "d")):
        location = resolve(target)
        assert location == StoreLocation(
            "sqlite",
            f"sqlite://{tmp_path}/d/{DB_FILENAME}",
            tmp_path / "d" / DB_FILENAME,
            tmp_path / "d",
        )
    store = open_store(tmp_path / "d")
    try:
        assert type(store) is SqliteStore
        assert store.path == tmp_path / "d" / DB_FILENAME
        agent = _roundtrip(store)
    finally:
        store.close()
    assert (tmp_path / "d" / DB_FILENAME).is_file()
    # The same file through SqliteStore(path) directly, which keeps working.
    direct = SqliteStore(tmp_path / "d" / DB_FILENAME)
    try:
        assert direct.get_agent(agent).agent == agent
    finally:
        direct.close()


def test_a_relative_directory_is_made_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve("data").data_dir == tmp_path / "data"
    assert resolve("./a:b").data_dir == tmp_path / "a:b"  # a colon after a slash: a path
    assert resolve(Path("x:y")).data_dir == tmp_path / "x:y"  # a Path is never a URL


def test_an_absolute_sqlite_url_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "sub" / "my.db"
    for url in (f"sqlite://{file}", f"sqlite:{file}", f"sqlite:///{file}", f"SQLite://{file}"):
        location = resolve(url)
        assert location.kind == "sqlite", url
        assert location.path == file, url
        assert location.data_dir == file.parent, url  # components/ and cache/ beside it
        assert location.url == f"sqlite://{file}", url
    store = open_store(f"sqlite://{file}")
    try:
        agent = _roundtrip(store)
    finally:
        store.close()
    direct = SqliteStore(file)
    try:
        assert direct.get_agent(agent).agent == agent
    finally:
        direct.close()


def test_a_relative_sqlite_url_is_under_the_current_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    location = resolve("sqlite:rel/x.db")
    assert location.path == tmp_path / "rel" / "x.db"
    assert location.data_dir == tmp_path / "rel"
    store = open_store("sqlite:x.db")
    store.close()
    assert (tmp_path / "x.db").is_file()


def test_the_directory_and_its_database_url_name_the_same_state(tmp_path: Path) -> None:
    by_dir = resolve(tmp_path)
    by_url = resolve(f"sqlite://{tmp_path}/{DB_FILENAME}")
    assert by_dir == by_url
    assert resolve(by_dir.url) == by_dir


def test_the_path_is_percent_decoded_and_the_canonical_url_round_trips(tmp_path: Path) -> None:
    location = resolve(f"sqlite://{tmp_path}/a%20b%3Fc%25.db")
    assert location.path == tmp_path / "a b?c%.db"
    assert "%20" in location.url and "%3F" in location.url and "%25" in location.url
    assert resolve(location.url) == location
    weird = resolve(tmp_path / "dir #1?")
    assert resolve(weird.url) == weird


def test_open_store_takes_a_resolved_location(tmp_path: Path) -> None:
    store = open_store(resolve(tmp_path))
    try:
        assert store.list_agents() == []
    finally:
        store.close()


# -- the refusals ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:hunter2@db.example/agents",
        "postgres://user:hunter2@db.example/agents",
        "postgresql+psycopg://user:hunter2@db.example/agents",
        "PostgreSQL://user:hunter2@db.example/agents",
    ],
)
def test_postgresql_urls_are_recognized_and_never_shown(url: str) -> None:
    location = resolve(url)
    assert location.kind == "postgresql"
    assert location.data_dir is None  # the caller must give one
    assert "hunter2" not in repr(location)


def test_a_sqlalchemy_driver_url_is_refused_clearly() -> None:
    with pytest.raises(StoreError, match="SQLAlchemy driver") as info:
        open_store("postgresql+psycopg://user:hunter2@127.0.0.1:1/agents")
    assert "hunter2" not in str(info.value)


def test_an_unreachable_postgresql_server_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot be reached") as info:
        open_store("postgresql://user:hunter2@127.0.0.1:1/agents")
    assert "127.0.0.1:1/agents" in str(info.value)
    assert "hunter2" not in str(info.value)  # the URL (and its password) is not repeated


@pytest.mark.parametrize(
    "url", ["mysql://root:hunter2@db/agents", "file:///tmp/agent-host.db", "redis://x"]
)
def test_an_unknown_scheme_is_refused_naming_the_supported_ones(url: str) -> None:
    scheme = url.partition(":")[0]
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert f"unsupported store URL scheme {scheme!r}" in message
    assert "sqlite:///" in message and "data directory" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("sqlite:", "names no file"),
        ("sqlite://", "names no file"),
        ("sqlite:///", "names no file"),
        ("sqlite://name.db", "names no host.*sqlite:name.db"),
        ("sqlite://localhost/tmp/x.db", "names no host"),
        ("sqlite://me:hunter2@somewhere/x.db", "names no host, but this one has one after"),
        ("sqlite:///tmp/x.db?mode=ro", "no query"),
        ("sqlite:///tmp/x.db#frag", "no query"),
        ("", "no store given"),
    ],
)
def test_malformed_sqlite_urls_are_refused(url: str, match: str) -> None:
    with pytest.raises(StoreError, match=match) as info:
        resolve(url)
    assert "hunter2" not in str(info.value)


def test_a_sqlite_url_naming_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory, not a database file"):
        open_store(f"sqlite://{tmp_path}")


def test_a_directory_target_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / DB_FILENAME
    SqliteStore(file).close()
    with pytest.raises(StoreError, match=f"is a file, not a data directory.*sqlite://{file}"):
        open_store(file)


# -- the crash-injection wrapper ------------------------------------------------------
CRASH_VARS = ("AGENT_HOST_CRASH_AT", "AGENT_HOST_CRASH_WHEN", "AGENT_HOST_CRASH_COUNT_FILE")


@pytest.fixture
def no_crash_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in CRASH_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_open_store_is_plain_without_the_crash_variables(tmp_path: Path, no_crash_env) -> None:
    no_crash_env.setenv("AGENT_HOST_CRASH_WHEN", "after")  # alone, it arms nothing
    store = open_store(tmp_path)
    try:
        assert type(store) is SqliteStore
    finally:
        store.close()


@pytest.mark.parametrize("variable", ["AGENT_HOST_CRASH_AT", "AGENT_HOST_CRASH_COUNT_FILE"])
def test_open_store_wraps_the_store_when_a_crash_variable_is_set(
    tmp_path: Path, no_crash_env, variable: str
) -> None:
    # A commit number past anything this test does, or a count file.
    no_crash_env.setenv(variable, "1000000000" if variable.endswith("AT") else str(tmp_path / "n"))
    store = open_store(tmp_path / "d")
    try:
        assert isinstance(store, CrashPointSqliteStore)
        _roundtrip(store)
    finally:
        store.close()
    # Only open_store applies it: a SqliteStore constructed directly stays plain.
    direct = SqliteStore(tmp_path / "d" / DB_FILENAME)
    try:
        assert type(direct) is SqliteStore
    finally:
        direct.close()


@pytest.mark.parametrize(
    ("variable", "value", "match"),
    [
        ("AGENT_HOST_CRASH_AT", "three", "AGENT_HOST_CRASH_AT must be a commit number"),
        ("AGENT_HOST_CRASH_WHEN", "during", "AGENT_HOST_CRASH_WHEN must be before or after"),
    ],
)
def test_bad_crash_variables_are_a_clear_error(
    tmp_path: Path, no_crash_env, variable: str, value: str, match: str
) -> None:
    no_crash_env.setenv("AGENT_HOST_CRASH_AT", "5")
    no_crash_env.setenv(variable, value)
    with pytest.raises(StoreError, match=match):
        open_store(tmp_path)


def test_the_count_file_names_each_commits_store_method(tmp_path: Path, no_crash_env) -> None:
    count_file = tmp_path / "commits"
    no_crash_env.setenv("AGENT_HOST_CRASH_COUNT_FILE", str(count_file))
    store = open_store(tmp_path / "d")
    try:
        agent = _roundtrip(store)
        assert not store.create_agent(agent, "hash", AgentCreated(str(agent.component_id), "h"))
        store.get_agent(agent)  # a read: no commit
        store.set_status(agent, AgentStatus.FAILED, "boom")
    finally:
        store.close()
    lines = [line.split(" ") for line in count_file.read_text().splitlines()]
    assert [method for _, method in lines] == [
        "__init__",  # the schema migration, when the store is opened
        "create_agent",
        "create_agent",  # counted though it changed nothing
        "set_status",
    ]
    numbers = [int(n) for n, _ in lines]  # counted over the process, so maybe not from 1
    assert numbers == list(range(numbers[0], numbers[0] + 4))


def test_every_write_transaction_is_labelled_with_its_method() -> None:
    """The count file's method names come from the labels: each must be its method's name."""
    import host.store

    # Every class of every store module: the use cases both SQL stores share
    # (host/store/sql_*.py) are SqliteStore's methods too.
    bodies = []
    for module in sorted(Path(host.store.__file__ or "").parent.glob("*.py")):
        tree = ast.parse(module.read_text())
        bodies += [n.body for n in tree.body if isinstance(n, ast.ClassDef)]
    labelled = 0
    for fn in (f for body in bodies for f in body):
        if not isinstance(fn, ast.FunctionDef) or fn.name == "_tx":
            continue
        for call in ast.walk(fn):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "_tx"
            ):
                assert [ast.literal_eval(a) for a in call.args] == [fn.name], fn.name
                labelled += 1
    assert labelled >= 20


def test_the_plain_store_has_no_crash_code() -> None:
    import host.store.sql_catalog
    import host.store.sql_fork
    import host.store.sql_leases
    import host.store.sql_oplog
    import host.store.sql_store
    import host.store.sqlite
    import host.store.sqlite_db
    import host.store.sqlite_leases

    modules = (
        host.store.sql_catalog,
        host.store.sql_fork,
        host.store.sql_leases,
        host.store.sql_oplog,
        host.store.sql_store,
        host.store.sqlite,
        host.store.sqlite_db,
        host.store.sqlite_leases,
    )
    text = "".join(Path(m.__file__ or "").read_text() for m in modules)
    for word in ("SIGKILL", "os.kill(os.getpid()", "AGENT_HOST_CRASH", "_getframe"):
        assert word not in text, word


_CRASHER = """
import sys, uuid
from host.ids import AgentId
from host.oplog import AgentCreated
from host.store import open_store
store = open_store(sys.argv[1])
agent = AgentId(uuid.UUID(int=1), "a")
store.create_agent(agent, "hash", AgentCreated(str(agent.component_id), "hash"))
print("survived")
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_the_process_is_killed_at_the_nth_commit(tmp_path: Path, when: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CRASH_VARS}
    env.update({"AGENT_HOST_CRASH_AT": "2", "AGENT_HOST_CRASH_WHEN": when})
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHER, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "survived" not in proc.stdout
    view = SqliteStore(tmp_path / DB_FILENAME)  # commit 1 (the migration) is in
    try:
        created = [a.agent.name for a in view.list_agents()]
    finally:
        view.close()
    assert created == ([] if when == "before" else ["a"])  # commit 2: the agent's creation


# -- statuses and states as enums ---------------------------------------------------------
def test_the_transition_aliases_are_the_enum_members() -> None:
    from host.store import base

    assert [
        base.IDLE,
        base.RUNNING,
        base.SUSPENDED,
        base.FAILED,
        base.INTERRUPTED,
        base.RETRYING,
    ] == list(AgentStatus)
    assert base.STATUSES == tuple(AgentStatus)
    assert [base.QUEUED, base.STARTED, base.DONE, base.ERRORED] == list(InvocationState)
    assert base.FAILED is AgentStatus.FAILED and base.ERRORED is InvocationState.FAILED
    # Members are their strings, so the callers' == "failed" checks and dict lookups hold.
    assert base.ERRORED == "failed" == base.FAILED  # type: ignore[comparison-overlap]
    assert {"failed": 1}[AgentStatus.FAILED] == 1 and AgentStatus.IDLE in {"idle"}
    assert f"{AgentStatus.IDLE}" == str(AgentStatus.IDLE) == "idle"


def test_statuses_round_trip_through_the_store_as_enum_members(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / DB_FILENAME)
    try:
        agent = _roundtrip(store)
        record = store.get_agent(agent)
        assert type(record.status) is AgentStatus and record.status is AgentStatus.IDLE
        for status in AgentStatus:
            store.set_status(agent, status)
            assert store.get_agent(agent).status is status
            (listed,) = store.list_agents(status=status)
            assert listed.status is status
            (by_text,) = store.list_agents(status=str(status.value))  # a plain string filters too
            assert by_text.status is status
        store.set_status(agent, "idle")  # type: ignore[arg-type]  # a string is converted
        assert store.get_agent(agent).status is AgentStatus.IDLE
        with pytest.raises(ValueError):
            store.set_status(agent, "asleep")  # type: ignore[arg-type]
        assert store.interrupt(agent) is AgentStatus.IDLE
    finally:
        store.close()


def test_invocation_states_round_trip_through_the_store_as_enum_members(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / DB_FILENAME)
    try:
        agent = _roundtrip(store)
        queued = store.enqueue(agent, "one", "f", (), None)
        assert type(queued.state) is InvocationState and queued.state is InvocationState.QUEUED
        assert store.start_invocation(agent, [], 2, InvocationStarted("one", "f", ()))
        assert store.get_invocation("one").state is InvocationState.STARTED
        assert store.get_agent(agent).status is AgentStatus.RUNNING
        store.finish_invocation(agent, [], 3, InvocationFinished("one", "7"))
        assert store.get_invocation("one").state is InvocationState.DONE
        store.enqueue(agent, "two", "f", (), None)
        assert store.start_invocation(agent, [], 4, InvocationStarted("two", "f", ()))
        store.finish_invocation(agent, [], 5, InvocationFailed("two", "trap"))
        assert store.get_invocation("two").state is InvocationState.FAILED
        assert store.get_agent(agent).status is AgentStatus.FAILED
        states = [i.state for i in store.list_invocations(agent, [InvocationState.DONE, "failed"])]
        assert states == [InvocationState.DONE, InvocationState.FAILED]
    finally:
        store.close()


def test_records_serialize_their_status_as_plain_strings(tmp_path: Path) -> None:
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse

    store = SqliteStore(tmp_path / DB_FILENAME)
    try:
        agent = _roundtrip(store)
        status = store.get_agent(agent).status
        state = store.enqueue(agent, "one", "f", (), None).state
    finally:
        store.close()
    body = {"status": status, "state": state}
    assert json.dumps(body) == '{"status": "idle", "state": "queued"}'  # the CLI's --json
    assert JSONResponse(body).body == b'{"status":"idle","state":"queued"}'  # the server's
    encoded = jsonable_encoder(body)
    assert encoded == {"status": "idle", "state": "queued"}
    assert all(type(v) is str for v in encoded.values())


def test_an_unknown_stored_status_is_a_clear_store_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / DB_FILENAME)
    try:
        agent = _roundtrip(store)
        raw = sqlite3.connect(tmp_path / DB_FILENAME)
        raw.execute("UPDATE agents SET status = 'asleep'")
        raw.commit()
        raw.close()
        with pytest.raises(StoreError, match="AgentStatus 'asleep', which this agent-host"):
            store.get_agent(agent)
    finally:
        store.close()
