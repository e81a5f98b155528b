"""golem:durability/durability@1.5.0 with the durable-fn-1.5.0 WAT guest, which wraps a
side effect of its own (counting its live runs) the way golem-rust's Durability does:
begin, current-durable-execution-state, live: do it and persist / replaying: read the
persisted response, end. After a suspension, a restart or a trap the recorded response
comes back and the side effect is not repeated; a read where the oplog holds something
else is a Divergence naming both."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from host.ids import AgentId, PromiseId
from host.oplog import (
    BeginRemoteWrite,
    DurableFunctionCall,
    EndRemoteWrite,
    InvocationFailed,
    Retried,
)
from host.service import HostService
from tests.fixtures.build import build_fixture


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


def _service(data_dir: Path) -> HostService:
    service = HostService(data_dir)
    service.add_component(build_fixture("durable-fn-1.5.0"), name="dfn")
    return service


def _agent(host: HostService, name: str = "a") -> AgentId:
    agent, _ = host.create_agent("dfn", name)
    return agent


def _calls(host: HostService, agent: AgentId) -> list[DurableFunctionCall]:
    return [e for e in host.store.read_oplog(agent) if isinstance(e, DurableFunctionCall)]


def _done(host: HostService, agent: AgentId, call: str) -> str | None:
    inv = host.invoke(agent, call)
    assert inv.state == "done", host.store.get_agent(agent).last_error
    return inv.result


def test_live_run_persists_request_response_and_type(data_dir: Path) -> None:
    host = _service(data_dir)
    agent = _agent(host)
    assert _done(host, agent, 'durable("hello", 1, false, false, false)') == "1"
    assert _done(host, agent, 'durable("again", 0, false, false, false)') == "2"
    first, second = _calls(host, agent)
    assert first.function == "my-api::fetch"
    # The value-and-type as the guest gave it: one prim-string node and its type.
    assert first.request == {
        "value": {"nodes": [{"prim-string": "hello"}]},
        "typ": {"nodes": [{"name": None, "owner": None, "type": {"prim-string-type": None}}]},
    }
    assert first.response["value"] == {"nodes": [{"prim-u64": 1}]}
    assert first.function_type == {"write-local": None}
    assert second.function_type == {"read-local": None}
    assert _done(host, agent, "state()") == "(true, 2)"  # live, smart
    host.close()


def test_replay_after_a_restart_reads_the_recorded_responses(data_dir: Path) -> None:
    host = _service(data_dir)
    agent = _agent(host)
    for n in (1, 2):
        assert _done(host, agent, 'durable("x", 1, true, false, false)') == str(n)
    host.close()
    # A new host replays both invocations in a fresh instance (whose live-run count starts
    # at 0): their recorded results only match because the replay read the persisted
    # responses instead of running the side effect again.
    again = _service(data_dir)
    assert _done(again, agent, 'durable("y", 1, false, false, false)') == "1"
    assert len(_calls(again, agent)) == 3
    again.close()


def test_suspend_and_resume_answers_from_the_oplog(data_dir: Path) -> None:
    host = _service(data_dir)
    agent = _agent(host)
    inv = host.invoke(agent, 'durable("w", 3, false, false, true)')
    assert inv.state == "started"
    (idx,) = host.store.get_agent(agent).waiting_promises
    host.close()
    again = _service(data_dir)
    assert again.complete_promise(PromiseId(agent, idx), b"") is True
    done = again.store.get_invocation(inv.invocation_id)
    # Replayed up to the await, response 1 read back from the oplog; the side effect did
    # not run in the replay: the next live run is this instance's first.
    assert done.state == "done" and done.result == "1"
    assert len(_calls(again, agent)) == 1
    assert _done(again, agent, 'durable("v", 3, false, false, false)') == "1"
    again.close()


def test_a_trap_after_persisting_is_retried_from_the_recorded_response(data_dir: Path) -> None:
    host = _service(data_dir)
    agent = _agent(host)
    inv = host.invoke(agent, 'durable("t", 1, true, true, false)')
    deadline = time.monotonic() + 15
    while host.store.get_invocation(inv.invocation_id).state != "done":
        assert time.monotonic() < deadline, host.store.get_agent(agent)
        time.sleep(0.02)
        host.run_due()
    log = host.store.read_oplog(agent)
    assert any(isinstance(e, InvocationFailed) for e in log)
    assert any(isinstance(e, Retried) for e in log)
    # The retry replayed the durable function (is-live false: it would trap again live).
    assert host.store.get_invocation(inv.invocation_id).result == "1"
    assert len(_calls(host, agent)) == 1
    assert _done(host, agent, 'durable("u", 1, false, false, false)') == "1"
    host.close()


def test_write_remote_without_idempotence_is_bracketed_and_committed(data_dir: Path) -> None:
    host = _service(data_dir)
    agent = _agent(host)
    # idempotence mode off: set-idempotence-mode is golem:api/host, not exported by the
    # guest, so batched(none), bracketed whatever the mode, is the case exercised here.
    assert _done(host, agent, 'durable("b", 4, false, false, false)') == "1"
    log = host.store.read_oplog(agent)
    begins = [i for i, e in enumerate(log, 1) if isinstance(e, BeginRemoteWrite)]
    ends = [e for e in log if isinstance(e, EndRemoteWrite)]
    assert len(begins) == 1 and [e.begin_index for e in ends] == begins
    host.close()
    again = _service(data_dir)
    assert _done(again, agent, 'durable("c", 4, false, false, false)') == "1"
    assert len([e for e in again.store.read_oplog(agent) if isinstance(e, EndRemoteWrite)]) == 2
    again.close()


def test_read_persisted_while_live_fails_the_call(data_dir: Path) -> None:
    host = _service(data_dir)
    agent = _agent(host)
    inv = host.invoke(agent, "read-now()")
    assert inv.state == "failed"
    error = inv.error or ""
    assert "read-persisted-durable-function-invocation" in error and "live" in error
    host.close()


def test_read_persisted_finding_another_entry_is_a_divergence(data_dir: Path) -> None:
    host = _service(data_dir)
    agent = _agent(host)
    _done(host, agent, "misread()")  # live: a get-random-u64 host call
    host.close()
    again = _service(data_dir)
    again.invoke(agent, "state()")  # replays misread, which now reads a durable call
    record = again.store.get_agent(agent)
    assert record.status == "failed"
    error = record.last_error or ""
    assert "diverged" in error and "get-random-u64" in error
    assert "read-persisted-durable-function-invocation" in error
    again.close()


def test_persist_nothing_persists_nothing_and_refuses_to_read(data_dir: Path) -> None:
    host = _service(data_dir)
    agent = _agent(host)
    _done(host, agent, "set-level(0)")
    assert _done(host, agent, "state()") == "(true, 0)"
    assert _done(host, agent, 'durable("n", 1, false, false, false)') == "1"
    assert _calls(host, agent) == []
    inv = host.invoke(agent, "read-now()")
    assert inv.state == "failed" and "persist-nothing" in (inv.error or "")
    host.close()


def test_lazy_initialized_pollable(data_dir: Path) -> None:
    host = _service(data_dir)
    agent = _agent(host)
    inv = host.invoke(agent, "lazy()")
    # Empty it was ready at once; set to a promise's pollable it waits for the promise.
    assert inv.state == "started"
    (idx,) = host.store.get_agent(agent).waiting_promises
    assert host.complete_promise(PromiseId(agent, idx), b"") is True
    assert host.store.get_invocation(inv.invocation_id).result == str(idx)
    host.close()


def test_unfinished_non_idempotent_remote_write_is_not_retried(data_dir: Path) -> None:
    host = _service(data_dir)
    agent = _agent(host)
    _done(host, agent, "set-idempotence(false)")
    inv = host.invoke(agent, "begin-and-trap(3)")  # write-remote, trapping inside
    deadline = time.monotonic() + 15
    while host.store.get_agent(agent).status == "retrying":
        assert time.monotonic() < deadline
        time.sleep(0.02)
        host.run_due()
    record = host.store.get_agent(agent)
    assert record.status == "failed", record
    assert "did not complete before the agent stopped" in (record.last_error or "")
    assert host.store.get_invocation(inv.invocation_id).state == "failed"
    begins = [e for e in host.store.read_oplog(agent) if isinstance(e, BeginRemoteWrite)]
    assert len(begins) == 1  # committed before the effect, and not begun again
    host.close()


def test_a_scratch_instance_records_and_commits_nothing(data_dir: Path) -> None:
    # The host reads a component's definition on a throwaway instance that is no agent:
    # a durable function there runs live, and its forced commit writes no oplog anywhere.
    host = _service(data_dir)
    record = host.store.get_component("dfn")
    assert host.call_scratch(record, "durable-forced") == 1
    assert host.call_scratch(record, "durable-forced") == 1  # a fresh instance each time
    assert host.store.list_agents() == []
    host.close()
