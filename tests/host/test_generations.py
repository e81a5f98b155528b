"""Promises through every golem:api/host generation (spec sections 2 and 3).

Each test runs against the WAT fixture `promises-<generation>`, a real component
instantiated by a real Host on a SQLite file in tmp_path. The fixture's `create`
remembers the promise id it got, and `await`/`poll`/`complete`/`delete` act on
`{that id, idx}`; `await-for`/`complete-for` take a whole id.

An invocation that fails marks its agent failed, so every scenario that expects a
guest call to fail runs it on an agent of its own.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from host.errors import PromiseNotFound
from host.ids import AgentId, PromiseId
from host.oplog import InvocationFinished, PromiseCreated, Suspended
from host.service import HostService
from host.store import InvocationRecord
from tests.fixtures.build import build_fixture

GENERATIONS = ("0.2.0", "1.1.0", "1.1.6", "1.1.7", "1.3.0")
WITH_POLL = {"1.1.6", "1.1.7", "1.3.0"}
WITH_DELETE = {"0.2.0", "1.1.0", "1.1.6"}
COMMON_EXPORTS = {"create", "await", "complete", "await-for", "complete-for", "create-and-await"}

HI = b"hi"
HI_WAVE = "[104, 105]"


@dataclass
class Env:
    """A Host with one promises fixture registered."""

    host: HostService
    generation: str
    component_id: str

    def agent(self, name: str) -> AgentId:
        agent, created = self.host.create_agent(self.component_id, name)
        assert created
        return agent

    def call(self, agent: AgentId, call: str) -> InvocationRecord:
        return self.host.invoke(agent, call)

    def done(self, agent: AgentId, call: str) -> str | None:
        inv = self.call(agent, call)
        assert inv.state == "done", f"{call} on {agent}: {inv.state} {inv.error}"
        return inv.result

    def failed(self, agent: AgentId, call: str) -> str:
        inv = self.call(agent, call)
        assert inv.state == "failed", f"{call} on {agent} should fail, got {inv.state}"
        assert inv.error
        return str(inv.error)

    def create(self, agent: AgentId) -> int:
        return int(self.done(agent, "create()") or "")

    @property
    def has_poll(self) -> bool:
        return self.generation in WITH_POLL

    @property
    def has_delete(self) -> bool:
        return self.generation in WITH_DELETE


@pytest.fixture(params=GENERATIONS, ids=lambda g: f"host@{g}")
def env(request: pytest.FixtureRequest, host: HostService) -> Env:
    generation = request.param
    record = host.add_component(build_fixture(f"promises-{generation}"))
    return Env(host, generation, record.id)


def _oplog(env: Env, agent: AgentId) -> list[Any]:
    return env.host.store.read_oplog(agent)


def _suspensions(env: Env, agent: AgentId) -> list[Suspended]:
    return [e for e in _oplog(env, agent) if isinstance(e, Suspended)]


def test_fixture_exports_match_its_generation(env: Env) -> None:
    record = env.host.store.get_component(env.component_id)
    names = {e.name for e in env.host.exports(record.hash).values()}
    expected = set(COMMON_EXPORTS)
    if env.has_poll:
        expected.add("poll")
    if env.has_delete:
        expected.add("delete")
    assert names == expected


def test_create_returns_index_of_promise_created_entry(env: Env) -> None:
    alice = env.agent("alice")
    first = env.create(alice)
    second = env.create(alice)
    assert first != second
    entries = _oplog(env, alice)
    for idx in (first, second):
        entry = entries[idx - 1]  # oplog indexes start at 1
        assert isinstance(entry, PromiseCreated)
        assert entry.function == f"golem:api/host@{env.generation}.create-promise"
    created = [i + 1 for i, e in enumerate(entries) if isinstance(e, PromiseCreated)]
    assert created == [first, second]
    pending = env.host.store.list_promises(alice)
    assert [p.id for p in pending] == [PromiseId(alice, first), PromiseId(alice, second)]


@pytest.mark.parametrize("env", sorted(WITH_POLL), indirect=True, ids=lambda g: f"host@{g}")
def test_poll_before_completion_is_none(env: Env) -> None:
    alice = env.agent("alice")
    idx = env.create(alice)
    assert env.done(alice, f"poll({idx})") == "none"
    assert env.done(alice, f"poll({idx})") == "none"  # polling does not consume anything
    assert env.host.complete_promise(PromiseId(alice, idx), HI) is True
    assert env.done(alice, f"poll({idx})") == f"some({HI_WAVE})"
    assert not _suspensions(env, alice)


def test_await_suspends_and_completion_resumes_with_payload(
    env: Env, snapshot: Callable[[Path], dict[str, Any]]
) -> None:
    alice = env.agent("alice")
    idx = env.create(alice)
    inv = env.call(alice, f"await({idx})")
    assert inv.state == "started"
    record = env.host.store.get_agent(alice)
    assert record.status == "suspended"
    assert record.waiting_promises == (idx,)
    last = _oplog(env, alice)[-1]
    assert isinstance(last, Suspended)
    assert last.promises == (idx,)
    assert last.wake_at_ns is None

    # The agent holds no instance while suspended: no wasmtime Store is alive anywhere,
    # and no lease on the agent is held.
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, wasmtime.Store)]
    assert snapshot(env.host.data_dir)["leases"] == []

    assert env.host.complete_promise(PromiseId(alice, idx), HI) is True
    done = env.host.store.get_invocation(inv.invocation_id)
    assert done.state == "done"
    assert done.result == HI_WAVE
    record = env.host.store.get_agent(alice)
    assert record.status == "idle"
    assert record.waiting_promises == ()
    entries = _oplog(env, alice)
    assert isinstance(entries[-1], InvocationFinished)
    assert entries[-1].invocation_id == inv.invocation_id
    assert entries[-1].result == HI_WAVE
    # Replay created no second promise and the agent suspended exactly once.
    assert sum(isinstance(e, PromiseCreated) for e in entries) == 1
    assert len(_suspensions(env, alice)) == 1
    assert env.host.store.list_promises(alice) == []


def test_second_completion_returns_false_and_first_payload_stays(env: Env) -> None:
    alice = env.agent("alice")
    idx = env.create(alice)
    inv = env.call(alice, f"await({idx})")
    assert inv.state == "started"
    promise = PromiseId(alice, idx)
    assert env.host.complete_promise(promise, HI) is True
    assert env.host.complete_promise(promise, b"second") is False
    assert env.host.complete_promise(promise, HI) is False
    assert env.host.store.get_invocation(inv.invocation_id).result == HI_WAVE
    assert env.host.store.get_promise(promise).data == HI
    # Awaiting (and polling) again gives the first payload, without suspending.
    assert env.done(alice, f"await({idx})") == HI_WAVE
    if env.has_poll:
        assert env.done(alice, f"poll({idx})") == f"some({HI_WAVE})"
    # The guest's own second completion is refused the same way.
    assert env.done(alice, f"complete({idx}, [1, 2, 3])") == "false"
    assert env.done(alice, f"await({idx})") == HI_WAVE
    assert len(_suspensions(env, alice)) == 1


def test_completing_an_unknown_promise_is_not_found(env: Env) -> None:
    alice = env.agent("alice")
    idx = env.create(alice)
    for bad in (idx + 100, 1, 2):  # nothing / the agent-created entry / the invoke entry
        with pytest.raises(PromiseNotFound, match="does not exist"):
            env.host.complete_promise(PromiseId(alice, bad), HI)
    # An agent name that does not exist either.
    with pytest.raises(Exception, match="does not exist"):
        env.host.complete_promise(PromiseId(AgentId(alice.component_id, "nobody"), idx), HI)
    # Nothing was completed by the failed attempts.
    assert [p.id.oplog_idx for p in env.host.store.list_promises(alice)] == [idx]

    # From inside a guest: the invocation fails with a clear not-found message.
    bob = env.agent("bob")
    bob_idx = env.create(bob)
    error = env.failed(bob, f"complete({bob_idx + 100}, [1])")
    assert "does not exist" in error
    assert f"{bob}/{bob_idx + 100}" in error
    assert env.host.store.get_agent(bob).status == "failed"
    # The real promise is untouched.
    assert not env.host.store.get_promise(PromiseId(bob, bob_idx)).completed


def test_awaiting_an_unknown_promise_is_not_found(env: Env) -> None:
    alice = env.agent("alice")
    idx = env.create(alice)
    error = env.failed(alice, f"await({idx + 100})")
    assert "does not exist" in error
    assert not _suspensions(env, alice)


def test_completion_before_await_does_not_suspend(env: Env) -> None:
    alice = env.agent("alice")
    idx = env.create(alice)
    assert env.host.complete_promise(PromiseId(alice, idx), HI) is True
    assert env.done(alice, f"await({idx})") == HI_WAVE
    assert env.host.store.get_agent(alice).status == "idle"

    # Completed by the owner itself, from inside the guest, then awaited.
    idx2 = env.create(alice)
    assert env.done(alice, f"complete({idx2}, [7, 0, 255])") == "true"
    assert env.done(alice, f"await({idx2})") == "[7, 0, 255]"
    assert not _suspensions(env, alice)

    # An empty payload is a payload.
    idx3 = env.create(alice)
    assert env.host.complete_promise(PromiseId(alice, idx3), b"") is True
    assert env.done(alice, f"await({idx3})") == "[]"
    assert not _suspensions(env, alice)


def test_create_and_await_in_one_invocation(env: Env) -> None:
    """The promise is created in the invocation that suspends: replay must return the
    recorded id and create nothing."""
    alice = env.agent("alice")
    inv = env.call(alice, "create-and-await()")
    assert inv.state == "started"
    (idx,) = env.host.store.get_agent(alice).waiting_promises
    assert isinstance(_oplog(env, alice)[idx - 1], PromiseCreated)
    assert env.host.complete_promise(PromiseId(alice, idx), b"\x00\xff") is True
    assert env.host.store.get_invocation(inv.invocation_id).result == "[0, 255]"
    entries = _oplog(env, alice)
    assert sum(isinstance(e, PromiseCreated) for e in entries) == 1
    assert [p.id.oplog_idx for p in env.host.store.list_promises(alice, pending_only=False)] == [
        idx
    ]


def test_suspended_agent_resumes_in_a_new_host(env: Env) -> None:
    """Nothing of the suspended agent lives in the Host that ran it."""
    alice = env.agent("alice")
    inv = env.call(alice, "create-and-await()")
    assert inv.state == "started"
    (idx,) = env.host.store.get_agent(alice).waiting_promises
    data_dir = env.host.data_dir
    env.host.close()
    fresh = HostService(data_dir)
    try:
        assert fresh.store.get_agent(alice).status == "suspended"
        assert fresh.complete_promise(PromiseId(alice, idx), HI) is True
        assert fresh.store.get_invocation(inv.invocation_id).result == HI_WAVE
        assert fresh.store.get_agent(alice).status == "idle"
    finally:
        fresh.close()


@pytest.mark.parametrize("env", sorted(WITH_DELETE), indirect=True, ids=lambda g: f"host@{g}")
def test_delete_then_poll_await_complete_report_not_found(env: Env) -> None:

    def deleted(name: str) -> tuple[AgentId, int]:
        agent = env.agent(name)
        idx = env.create(agent)
        assert env.done(agent, f"delete({idx})") is None
        assert env.host.store.list_promises(agent) == []
        return agent, idx

    agent, idx = deleted("a1")
    assert "does not exist" in env.failed(agent, f"await({idx})")
    assert not _suspensions(env, agent)

    agent, idx = deleted("a2")
    assert "does not exist" in env.failed(agent, f"complete({idx}, [1])")

    agent, idx = deleted("a3")
    with pytest.raises(PromiseNotFound):
        env.host.complete_promise(PromiseId(agent, idx), HI)
    assert "does not exist" in env.failed(agent, f"delete({idx})")

    if env.has_poll:
        agent, idx = deleted("a4")
        assert "does not exist" in env.failed(agent, f"poll({idx})")


@pytest.mark.parametrize("env", sorted(WITH_DELETE), indirect=True, ids=lambda g: f"host@{g}")
def test_delete_after_completion_hides_the_payload(env: Env) -> None:
    """Deleting a completed promise removes its payload from view too."""
    alice = env.agent("alice")
    idx = env.create(alice)
    assert env.host.complete_promise(PromiseId(alice, idx), HI) is True
    assert env.done(alice, f"delete({idx})") is None
    with pytest.raises(PromiseNotFound):
        env.host.complete_promise(PromiseId(alice, idx), HI)
    assert "does not exist" in env.failed(alice, f"await({idx})")


def test_only_the_owner_may_await(env: Env) -> None:
    alice = env.agent("alice")
    bob = env.agent("bob")
    idx = env.create(alice)
    high, low = alice.uuid_halves
    error = env.failed(bob, f'await-for({high}, {low}, "alice", {idx})')
    assert "only the agent that created a promise may await it" in error
    assert str(bob) in error and str(alice) in error
    assert env.host.store.get_agent(bob).status == "failed"
    assert not _suspensions(env, bob)
    # Alice is unaffected and can still await her own promise through the full id.
    assert env.host.store.get_agent(alice).status == "idle"
    assert env.host.complete_promise(PromiseId(alice, idx), HI) is True
    assert env.done(alice, f'await-for({high}, {low}, "alice", {idx})') == HI_WAVE


def test_completing_another_promise_does_not_resume(env: Env) -> None:
    """Only the promise the agent waits on wakes it."""
    alice = env.agent("alice")
    first = env.create(alice)
    second = env.create(alice)
    inv = env.call(alice, f"await({second})")
    assert inv.state == "started"
    assert env.host.complete_promise(PromiseId(alice, first), b"early") is True
    assert env.host.store.get_agent(alice).status == "suspended"
    assert env.host.store.get_invocation(inv.invocation_id).state == "started"
    assert len(_suspensions(env, alice)) == 1
    assert env.host.complete_promise(PromiseId(alice, second), HI) is True
    assert env.host.store.get_invocation(inv.invocation_id).result == HI_WAVE
    # The early payload is still there for whoever awaits it.
    assert env.done(alice, f"await({first})") == "[101, 97, 114, 108, 121]"


def test_owner_awaits_through_the_full_id(env: Env) -> None:
    alice = env.agent("alice")
    idx = env.create(alice)
    high, low = alice.uuid_halves
    inv = env.call(alice, f'await-for({high}, {low}, "alice", {idx})')
    assert inv.state == "started"
    assert env.host.store.get_agent(alice).waiting_promises == (idx,)
    assert env.host.complete_promise(PromiseId(alice, idx), HI) is True
    assert env.host.store.get_invocation(inv.invocation_id).result == HI_WAVE


def test_agent_to_agent_completion_resumes_the_owner(env: Env) -> None:
    alice = env.agent("alice")
    bob = env.agent("bob")
    idx = env.create(alice)
    waiting = env.call(alice, f"await({idx})")
    assert waiting.state == "started"
    assert env.host.store.get_agent(alice).status == "suspended"

    high, low = alice.uuid_halves
    assert env.done(bob, f'complete-for({high}, {low}, "alice", {idx}, [98, 111, 98])') == "true"
    resumed = env.host.store.get_invocation(waiting.invocation_id)
    assert resumed.state == "done"
    assert resumed.result == "[98, 111, 98]"
    assert env.host.store.get_agent(alice).status == "idle"
    assert env.host.store.get_agent(bob).status == "idle"

    # The second completion, by bob or by alice, is refused; bob's payload stays.
    assert env.done(bob, f'complete-for({high}, {low}, "alice", {idx}, [1])') == "false"
    assert env.done(alice, f"complete({idx}, [2])") == "false"
    assert env.done(alice, f"await({idx})") == "[98, 111, 98]"

    # Bob's completions are recorded in bob's oplog with what they returned.
    calls = [
        e
        for e in _oplog(env, bob)
        if getattr(e, "function", "") == f"golem:api/host@{env.generation}.complete-promise"
    ]
    assert [c.response for c in calls] == [True, False]


def test_agent_to_agent_completion_of_an_unknown_promise_fails_the_caller(env: Env) -> None:
    alice = env.agent("alice")
    bob = env.agent("bob")
    idx = env.create(alice)
    high, low = alice.uuid_halves
    error = env.failed(bob, f'complete-for({high}, {low}, "alice", {idx + 50}, [1])')
    assert "does not exist" in error
    error = env.failed(env.agent("carol"), f'complete-for({high}, {low}, "nobody", {idx}, [1])')
    assert "does not exist" in error
    assert not env.host.store.get_promise(PromiseId(alice, idx)).completed
