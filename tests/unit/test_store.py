"""The stores on their own, no wasm: appends, conflicts, transitions, leases. The store
fixture is each store in turn (SQLite, and PostgreSQL on a server the tests start)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from host.errors import (
    AgentExists,
    Conflict,
    IdempotencyKeyReused,
    LeaseLost,
    OplogConflict,
    PromiseNotFound,
    StoreError,
)
from host.ids import AgentId, PromiseId
from host.oplog import (
    AgentCreated,
    Entry,
    HostCall,
    InvocationFinished,
    InvocationStarted,
    PromiseCreated,
    Suspended,
    decode,
    encode,
)
from host.store import SqliteStore, Store, open_store


@pytest.fixture
def store(store_url: str):
    s = open_store(store_url)
    yield s
    s.close()


def _agent(store: Store, name: str = "a") -> AgentId:
    agent = AgentId(uuid.uuid4(), name)
    assert store.create_agent(agent, "hash", AgentCreated(str(agent.component_id), "hash"))
    return agent


def test_entries_round_trip_through_their_encoding() -> None:
    entries: list[Entry] = [
        AgentCreated("c", "h", ("x",), (("K", "V"),)),
        InvocationStarted("i", "f", ("1", '"s"'), "key"),
        HostCall("wasi:random/random@0.2.3.get-random-u64", [], 7),
        PromiseCreated("golem:api/host@1.3.0.create-promise"),
        Suspended((3, 4), 123),
    ]
    for entry in entries:
        assert decode(encode(entry)) == entry


def test_undecodable_entry_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        decode('{"type": "no-such-entry"}')


def test_a_second_writer_of_an_index_is_refused(store: Store) -> None:
    agent = _agent(store)
    store.append(agent, 2, [HostCall("f", [], 1)])
    with pytest.raises(OplogConflict) as info:
        store.append(agent, 2, [HostCall("f", [], 2)])
    assert info.value.index == 2
    assert store.read_oplog(agent, 2) == [store.read_oplog(agent, 2)[0]]
    assert store.read_oplog(agent, 2)[0].response == 1  # type: ignore[union-attr]


def test_first_completion_wins(store: Store) -> None:
    agent = _agent(store)
    promise = store.create_promise(agent, [PromiseCreated("c")], 2, "fn")
    assert promise == PromiseId(agent, 2)
    assert store.complete_promise(promise, b"one") is True
    assert store.complete_promise(promise, b"two") is False
    assert store.get_promise(promise).data == b"one"
    with pytest.raises(PromiseNotFound):
        store.complete_promise(PromiseId(agent, 99), b"")
    with pytest.raises(PromiseNotFound):
        store.complete_promise(PromiseId(agent, 2**64 - 1), b"")


def test_suspension_is_refused_when_the_promise_completed_meanwhile(store: Store) -> None:
    agent = _agent(store)
    promise = store.create_promise(agent, [PromiseCreated("c")], 2, "fn")
    store.complete_promise(promise, b"x")
    assert store.suspend(agent, [], 3, Suspended((2,), None)) is False
    assert store.oplog_length(agent) == 2  # nothing appended


def test_first_entries_of_the_agents_with_a_status(store: Store) -> None:
    component = uuid.uuid4()
    waiting, idle = AgentId(component, "waiting"), AgentId(component, "idle")
    for agent in (waiting, idle):
        created = AgentCreated(str(component), "hash", ("arg",), (("K", agent.name),))
        assert store.create_agent(agent, "hash", created)
    store.create_promise(waiting, [PromiseCreated("c")], 2, "fn")
    assert store.suspend(waiting, [], 3, Suspended((2,), None)) is True
    other = _agent(store, "elsewhere")
    assert set(store.first_entries(str(component))) == {waiting, idle}
    firsts = store.first_entries(str(component), "suspended")
    assert list(firsts) == [waiting]
    assert firsts[waiting] == store.read_oplog(waiting, 1, 1)[0]
    first = firsts[waiting]
    assert isinstance(first, AgentCreated)
    assert first.env == (("K", "waiting"),)
    assert store.first_entries(None, "suspended") == firsts
    assert other in store.first_entries()


def test_completion_wakes_a_suspended_owner(store: Store) -> None:
    agent = _agent(store)
    promise = store.create_promise(agent, [PromiseCreated("c")], 2, "fn")
    assert store.suspend(agent, [], 3, Suspended((2,), None)) is True
    assert agent not in store.runnable_agents(2**62)
    store.complete_promise(promise, b"x")
    assert agent in store.runnable_agents(0)


def test_an_invocations_end_completes_its_callers_promise_in_the_same_commit(
    store: Store,
) -> None:
    caller, callee = _agent(store, "caller"), _agent(store, "callee")
    promise = store.create_promise(caller, [PromiseCreated("rpc")], 2, "fn")
    assert store.suspend(caller, [], 3, Suspended((2,), None)) is True
    store.enqueue(callee, "inv", "f", (), "rpc-key")
    started = InvocationStarted("inv", "f", (), "rpc-key")
    assert store.start_invocation(callee, [], 2, started) is True
    store.finish_invocation(
        callee, [], 3, InvocationFinished("inv", "7"), completes=(promise, b"outcome")
    )
    assert store.get_invocation("inv").state == "done"
    assert store.get_promise(promise).data == b"outcome"
    assert caller in store.runnable_agents(0)  # woken by the same transaction
    # An already completed promise is left as it is (first completion wins).
    store.enqueue(callee, "inv2", "f", (), None)
    assert store.start_invocation(callee, [], 4, InvocationStarted("inv2", "f", ())) is True
    store.finish_invocation(
        callee, [], 5, InvocationFinished("inv2", "8"), completes=(promise, b"other")
    )
    assert store.get_promise(promise).data == b"outcome"


def test_interrupted_agents_start_nothing(store: Store) -> None:
    agent = _agent(store)
    store.enqueue(agent, "inv", "f", (), None)
    assert store.interrupt(agent) == "idle"
    assert agent not in store.runnable_agents(2**62)
    started = InvocationStarted("inv", "f", ())
    assert store.start_invocation(agent, [], 2, started) is False
    assert store.oplog_length(agent) == 1
    store.resume(agent)
    assert store.start_invocation(agent, [], 2, started) is True
    with pytest.raises(Conflict):
        store.interrupt(agent)  # running now


def test_idempotency_key_returns_the_first_invocation(store: Store) -> None:
    agent = _agent(store)
    first = store.enqueue(agent, "one", "f", ("1",), "key")
    again = store.enqueue(agent, "two", "f", ("1",), "key")
    assert again.invocation_id == first.invocation_id and again.params == ("1",)
    # The same key for another call is refused, not answered with the first's result.
    with pytest.raises(IdempotencyKeyReused):
        store.enqueue(agent, "three", "f", ("2",), "key")
    with pytest.raises(IdempotencyKeyReused):
        store.enqueue(agent, "four", "g", ("1",), "key")
    assert [i.invocation_id for i in store.list_invocations(agent)] == ["one"]


def test_a_lease_of_a_dead_process_is_stale_at_once(store: Store, tmp_path: Path) -> None:
    agent = _agent(store)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    import socket

    assert store.acquire_lease(agent, f"{socket.gethostname()}:{dead}:x", 300) is None
    assert store.acquire_lease(agent, "me", 300) is None  # the dead holder does not count
    # "me" is not a host:pid name, so it is trusted until it expires: a live holder wins.
    alive = f"{socket.gethostname()}:{os.getpid()}:other"
    assert store.acquire_lease(agent, alive, 300) == "me"
    store.release_lease(agent, "me")
    assert store.acquire_lease(agent, alive, 300) is None


def test_a_stale_process_loses_all_its_agents_at_once(store: Store) -> None:
    """Leases are held per process (host/store/sqlite_leases.py): taking one agent from a
    stale (here: dead) process evicts it from all of them, its writes to any are fenced,
    and its heartbeat cannot revive them."""
    import socket

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = f"{socket.gethostname()}:{dead}:x"
    first, second = _agent(store, "first"), _agent(store, "second")
    assert store.acquire_lease(first, stale, 300) is None
    assert store.acquire_lease(second, stale, 300) is None
    assert store.renew_owner(stale, 300)  # its heartbeat, while it had its row
    store.append(second, 2, [HostCall("f", [], 1)])  # its token is current: it writes

    assert store.acquire_lease(first, "me", 300) is None
    # Nobody took `second` yet, but the stale process lost it with `first`.
    with pytest.raises(LeaseLost):
        store.append(second, 3, [HostCall("f", [], 2)])
    assert not store.renew_owner(stale, 300)
    assert not store.renew_lease(second, stale, 300)
    assert store.acquire_lease(second, "other", 300) is None  # free, no TTL to wait
    store.append(second, 3, [HostCall("f", [], 2)])  # the new holder writes on
    # A live holder keeps its agents; releasing the process frees all of them at once.
    assert store.acquire_lease(first, "other", 300) == "me"
    store.release_owner("me")
    assert store.acquire_lease(first, "other", 300) is None
    assert not store.renew_owner("me", 300)


def test_a_damaged_database_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as info:
        SqliteStore(path)
    assert str(path) in str(info.value)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    SqliteStore(path).close()
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_migrations VALUES (999, 0)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        SqliteStore(path)


def test_fork_copies_the_promises_created_up_to_the_cut_off(store: Store) -> None:
    source = _agent(store)
    done = store.create_promise(source, [PromiseCreated("c")], 2, "fn", "old-hash")
    pending = store.create_promise(source, [PromiseCreated("c")], 3, "fn")
    store.complete_promise(done, b"kept")
    late = store.create_promise(source, [PromiseCreated("c")], 4, "fn")
    target = AgentId(source.component_id, "fork")
    store.fork_agent(source, target, 3, lambda p: f"hash of {p}")
    copied = store.list_promises(target, pending_only=False)
    assert [p.id for p in copied] == [PromiseId(target, 2), PromiseId(target, 3)]
    assert store.get_promise(PromiseId(target, 2)).data == b"kept"
    assert store.get_promise(PromiseId(target, 3)).completed is False
    # A copy with a secret gets the hash of its new id's secret; one without stays without.
    assert store.promise_secret_hash(PromiseId(target, 2)) == f"hash of {PromiseId(target, 2)}"
    assert store.promise_secret_hash(PromiseId(target, 3)) is None
    with pytest.raises(PromiseNotFound):
        store.get_promise(PromiseId(target, late.oplog_idx))
    # The copy is the fork's own: completing it leaves the source's pending one alone.
    assert store.complete_promise(PromiseId(target, 3), b"fork") is True
    assert store.get_promise(pending).completed is False
    assert store.get_promise(done).data == b"kept"


def test_fork_writes_the_plan_in_the_same_transaction(store: Store) -> None:
    """fork_agent's replace / tail / resume (host/runtime/forking.py plans them): the
    copy's creation entry and its open invocation are its own, the tail follows the cut,
    and with an invocation to resume the copy starts running with it started."""
    source = _agent(store)
    started = InvocationStarted("inv-1", "f", ("1",), "key")
    call = HostCall("h", [], 1)
    store.append(source, 2, [started, call])
    target = AgentId(source.component_id, "copy")
    created = AgentCreated(str(source.component_id), "hash", (), (("GOLEM_AGENT_ID", "copy"),))
    resumed = InvocationStarted("inv-2", "f", ("1",), None)
    forked = HostCall("fork", [], "forked")
    store.fork_agent(
        source, target, 3, replace={1: created, 2: resumed}, tail=[forked], resume=resumed
    )
    entries = store.read_oplog(target)
    assert entries == [created, resumed, call, forked]
    assert store.read_oplog(source)[1] == started  # the source's entries are untouched
    record = store.get_agent(target)
    assert record.status == "running" and record.oplog_length == 4
    (inv,) = store.list_invocations(target)
    assert inv.invocation_id == "inv-2" and inv.state == "started" and inv.params == ("1",)
    assert store.list_invocations(source) == []
    # A second fork to the same name changes nothing.
    with pytest.raises(AgentExists):
        store.fork_agent(source, target, 2, tail=[HostCall("x", [], None)])
    assert store.read_oplog(target) == entries
