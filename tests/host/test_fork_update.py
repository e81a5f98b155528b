"""Fork of the running agent (golem:api/host ``fork``, 1.1.7 and 1.3.0/1.5.0 shapes) and
fork-agent / update / revert through the service layer (issue 11, item 6).

Real components (the conformance guest ``fork``, WAT), a real SQLite store.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from host import oplog
from host.errors import AgentNotFound, InvalidInput, UpdateFailed
from host.ids import AgentId, PromiseId
from host.runtime import golem_workers, update_queue
from host.service import HostService
from tests.fixtures.build import build_fixture


def _agent(host: HostService, generation: str, name: str = "src") -> AgentId:
    host.add_component(build_fixture(f"fork-{generation}"), "forker")
    agent, _ = host.create_agent("forker", name)
    return agent


def _result(host: HostService, agent: AgentId, call: str) -> str | None:
    inv = host.invoke(agent, call)
    assert inv.state == "done", (inv.state, inv.error)
    return inv.result


def _created(host: HostService, agent: AgentId) -> oplog.AgentCreated:
    entry = host.store.read_oplog(agent, 1, 1)[0]
    assert isinstance(entry, oplog.AgentCreated)
    return entry


def _check_copy(host: HostService, source: AgentId, copy: AgentId) -> None:
    # The copy ran its branch to the end on its own: finished, idle, its own counter.
    assert host.agent(copy).status == "idle"
    assert _result(host, copy, "add(0)") == "1007"  # 7 before the fork, + 1000
    assert _result(host, source, "add(0)") == "107"  # 7 before the fork, + 100
    # Later calls are independent.
    assert _result(host, copy, "add(1)") == "1008"
    assert _result(host, source, "add(0)") == "107"
    # The copy's environment names the copy, not the source.
    env = dict(_created(host, copy).env)
    assert env["GOLEM_AGENT_ID"] == copy.name and env["GOLEM_WORKER_NAME"] == copy.name
    assert dict(_created(host, source).env)["GOLEM_AGENT_ID"] == source.name
    # The fork call's entry is at the same index in both logs, with its own answer.
    src_log, copy_log = host.store.read_oplog(source), host.store.read_oplog(copy)
    (at,) = [i for i, e in enumerate(src_log) if isinstance(e, oplog.HostCall)]
    src_call, copy_call = src_log[at], copy_log[at]
    assert isinstance(src_call, oplog.HostCall) and isinstance(copy_call, oplog.HostCall)
    assert src_call.function == copy_call.function
    assert src_call.response != copy_call.response
    # Before the cut the logs agree, but for the creation entry and the re-identified
    # open invocation (the copy finishes it for no caller).
    started_src, started_copy = src_log[at - 1], copy_log[at - 1]
    assert isinstance(started_src, oplog.InvocationStarted)
    assert isinstance(started_copy, oplog.InvocationStarted)
    assert started_src.function == started_copy.function
    assert started_src.function in ("fork-self", "fork-as")
    assert started_src.invocation_id != started_copy.invocation_id
    # The source's invocation record holds the source's result, not the copy's.
    (inv,) = [i for i in host.store.list_invocations(source) if i.function.startswith("fork")]
    assert inv.result == '"original"'


def test_fork_self_1_1_7(host: HostService) -> None:
    source = _agent(host, "1.1.7")
    assert _result(host, source, "add(7)") == "7"
    assert _result(host, source, 'fork-as("copy")') == '"original"'
    copy = AgentId(source.component_id, "copy")
    _check_copy(host, source, copy)
    # The copy finished the forked invocation with the forked branch's result.
    (inv,) = [i for i in host.store.list_invocations(copy) if i.function == "fork-as"]
    assert inv.result == '"forked"' and inv.state == "done"


@pytest.mark.parametrize("generation", ["1.3.0", "1.5.0"])
def test_fork_self_phantom(host: HostService, generation: str) -> None:
    source = _agent(host, generation)
    assert _result(host, source, "add(7)") == "7"
    assert _result(host, source, "fork-self()") == '"original"'
    names = [a.agent.name for a in host.list_agents("forker")]
    (name,) = [n for n in names if n != "src"]
    assert name.startswith("src-")
    phantom = uuid.UUID(name.removeprefix("src-"))
    # Both branches were told the same forked-phantom-id.
    assert _result(host, source, "phantom-high()") == str(phantom.int >> 64)
    copy = AgentId(source.component_id, name)
    assert _result(host, copy, "phantom-high()") == str(phantom.int >> 64)
    _check_copy(host, source, copy)


def test_fork_self_replays_original(host: HostService) -> None:
    """A fresh replay of the source answers `original` from its log (no second copy)."""
    source = _agent(host, "1.1.7")
    _result(host, source, "add(7)")
    _result(host, source, 'fork-as("copy")')
    host.executor.forget_instance(source)
    assert _result(host, source, "add(0)") == "107"
    assert len(host.list_agents("forker")) == 2


def test_fork_self_to_a_taken_name_fails_the_invocation(host: HostService) -> None:
    source = _agent(host, "1.1.7")
    host.create_agent("forker", "taken")
    inv = host.invoke(source, 'fork-as("taken")')
    assert inv.state == "failed"
    assert "taken" in (inv.error or "") and "exists" in (inv.error or "")


def test_fork_under_persist_nothing_fails_the_sources_replay(data_dir: Path) -> None:
    """fork() inside a persist-nothing region is not recorded in the source: a replay of
    the source reaches it again and fails, as Golem's durable fork does ("Trying to
    replay an durable invocation in a PersistNothing block"), instead of answering it a
    second time (before: it recognised its copy and answered `original` again). The
    copy, replaying the same region, takes the `forked` answer the fork wrote for it, in
    this host and after a restart; no second copy is made. (Every generation:
    tests/host/test_persist_nothing_management.py.)"""
    host = HostService(data_dir)
    try:
        source = _agent(host, "1.5.0")
        assert _result(host, source, "add(7)") == "7"
        assert _result(host, source, "fork-unpersisted()") == '"original"'
        (copy,) = [a.agent for a in host.list_agents("forker") if a.agent != source]
        assert not any(isinstance(e, oplog.HostCall) for e in host.store.read_oplog(source))
        assert _result(host, copy, "add(0)") == "1007"  # the forked branch, once
        host.executor.forget_instance(copy)
        assert _result(host, copy, "add(0)") == "1007"
        host.executor.forget_instance(source)  # the next call replays the whole log
        again = host.invoke(source, "add(0)")
        view = host.agent(source)
        assert view.status == "failed" and again.state == "queued"
        assert golem_workers.PERSIST_NOTHING_REPLAY in (view.record.last_error or "")
    finally:
        host.close()
    restarted = HostService(data_dir)  # a restarted host replays the copy from its log
    try:
        assert _result(restarted, copy, "add(1)") == "1008"
        assert restarted.agent(source).status == "failed"
        assert sorted(a.agent.name for a in restarted.list_agents("forker")) == sorted(
            [source.name, copy.name]
        )
    finally:
        restarted.close()


def test_a_second_fork_into_a_taken_name_still_fails(host: HostService) -> None:
    """Idempotence recognises only the very copy: a later fork-as into the name the
    first one made (another cut) fails as before."""
    source = _agent(host, "1.1.7")
    assert _result(host, source, 'fork-as("copy")') == '"original"'
    inv = host.invoke(source, 'fork-as("copy")')
    assert inv.state == "failed" and "exists" in (inv.error or "")


def test_a_guests_fork_agent_repeated_live_fails_as_golem_fails_it(host: HostService) -> None:
    """fork-agent of another agent, asked twice with the same arguments: the second is a
    new call, and Golem refuses a fork into an agent that exists. The first call's intent
    (begin-remote-write) is committed before the copy, which is how a replay after a
    crash between the copy and the call's entry tells its own copy from a taken name
    (tests/crash/test_fork_crash_window.py)."""
    host.add_component(build_fixture("management-1.5.0"), "m")
    alpha, _ = host.create_agent("m", "alpha")
    assert _result(host, alpha, "add(5)") == "5"
    caller, _ = host.create_agent("m", "caller")
    cut = host.store.oplog_length(alpha)
    call = f'fork-to("alpha", "alpha-copy", {cut})'
    host.invoke(caller, call)
    copy = AgentId(alpha.component_id, "alpha-copy")
    assert _result(host, copy, "add(1)") == "6"
    kinds = _kinds(host, caller)
    assert kinds[-4:] == [
        "begin-remote-write",
        "host-call",
        "end-remote-write",
        "invocation-finished",
    ], kinds
    again = host.invoke(caller, call)
    assert again.state == "failed" and "already exists" in (again.error or ""), again
    assert _result(host, copy, "add(0)") == "6"  # the copy is untouched


# -- update ----------------------------------------------------------------------------
def _updater(host: HostService) -> AgentId:
    host.add_component(build_fixture("updater-1.5.0"), "updater")
    agent, _ = host.create_agent("updater", "u")
    host.add_component(build_fixture("updater-v2-1.5.0"), "updater")  # version 1
    return agent


def _kinds(host: HostService, agent: AgentId) -> list[str]:
    return [oplog.kind(e) for e in host.store.read_oplog(agent)]


@pytest.mark.parametrize("snapshot", [False, True], ids=["automatic", "snapshot-based"])
def test_update_self_is_applied_in_golems_order(
    host: HostService, snapshot: bool, data_dir: Path
) -> None:
    """A snapshot-based update of itself applies after the invocation that asked (it
    needs the agent between invocations); an automatic one restarts that invocation on
    the new version at once, as Golem interrupts the caller (the outcome is recorded
    inside the invocation, before it finishes)."""
    agent = _updater(host)
    assert host.agent(agent).component_version == 0  # the first upload, as in Golem
    assert _result(host, agent, "add(5)") == "5"
    flag = "true" if snapshot else "false"
    assert _result(host, agent, f"update-self(1, {flag})") == "5"
    kinds = _kinds(host, agent)
    # The request is recorded inside the invocation; the outcome after it, or inside it.
    if snapshot:
        after = ["pending-update", "host-call", "invocation-finished", "successful-update"]
    else:
        after = ["pending-update", "host-call", "successful-update", "invocation-finished"]
    assert kinds[-4:] == after
    (last,) = [e for e in host.store.read_oplog(agent) if isinstance(e, oplog.SuccessfulUpdate)]
    assert last.target_version == 1
    assert (last.payload is not None) == snapshot
    assert host.agent(agent).component_version == 1
    assert _result(host, agent, "version()") == "1"
    assert _result(host, agent, "total()") == "5"
    host.close()
    # A fresh host replays the history on version 1 (from the update's snapshot, if any).
    again = HostService(data_dir)
    try:
        assert _result(again, agent, "add(1)") == "6"
        assert _result(again, agent, "version()") == "1"
    finally:
        again.close()


def test_automatic_update_of_itself_continues_the_invocation_on_the_new_version(
    host: HostService, data_dir: Path
) -> None:
    """Golem interrupts an agent that updates itself automatically and replays it on the
    new version: the invocation that asked finishes on version 1 (its result is 2, the
    new code's label), and the oplog says why: the update succeeded inside the invocation."""
    host.add_component(build_fixture("self-updater"), "self")
    agent, _ = host.create_agent("self", "s")
    host.add_component(build_fixture("self-updater-v2"), "self")  # version 1
    # (No earlier version() call: its recorded 1 would not replay on version 1.)
    assert _result(host, agent, "update-self-auto(1)") == "2"  # v2's label
    assert host.agent(agent).component_version == 1
    kinds = _kinds(host, agent)
    assert kinds[-5:] == [
        "host-call",  # get-self-metadata
        "pending-update",
        "host-call",  # update-agent
        "successful-update",
        "invocation-finished",
    ], kinds
    assert kinds.count("pending-update") == 1
    assert [r.kind for r in host.update_records(agent)] == ["SuccessfulUpdate"]
    host.close()
    # A fresh host replays the whole history on version 1: the same result, no new request.
    again = HostService(data_dir)
    try:
        assert _result(again, agent, "version()") == "2"
        assert _kinds(again, agent).count("pending-update") == 1
    finally:
        again.close()


def test_update_self_under_persist_nothing_replays(host: HostService) -> None:
    """update-agent of itself inside a persist-nothing region: the request is recorded
    (a pending-update) though the call is not; a replay, which makes the call again,
    finds it in the log and asks for nothing more (it used to trip an assertion:
    recording while replaying)."""
    agent = _updater(host)
    assert _result(host, agent, "add(5)") == "5"
    assert _result(host, agent, "update-self-unpersisted(1, false)") == "5"
    assert host.agent(agent).component_version == 1
    host.executor.forget_instance(agent)  # the next call replays the whole log
    assert _result(host, agent, "add(1)") == "6"
    assert _kinds(host, agent).count("pending-update") == 1
    assert [r.kind for r in host.update_records(agent)] == ["SuccessfulUpdate"]


def test_pending_invocation_count_counts_manual_update_requests_not_automatic_ones(
    host: HostService,
) -> None:
    """Golem's pendingInvocationCount is its worker's pending invocations: a queued call,
    and a manual update, which waits in the invocation queue; an automatic update is in
    the separate pending updates and does not count. Both requests are in ``updates``."""
    agent = _updater(host)
    versions = host.store.list_component_versions(str(agent.component_id))
    v2 = next(c for c in versions if c.version == 1)
    host.store.enqueue(agent, str(uuid.uuid4()), "total", (), None)
    update_queue.enqueue(host.store, agent, oplog.PendingUpdate(1, v2.hash, "snapshot-based"))
    update_queue.enqueue(host.store, agent, oplog.PendingUpdate(1, v2.hash, "automatic"))
    assert host.agent(agent).queued == 2  # REST's pendingInvocationCount
    assert golem_workers.metadata_facts(host.store, agent)["pending-invocation-count"] == 2
    assert [r.kind for r in host.update_records(agent)] == ["PendingUpdate", "PendingUpdate"]


def test_update_of_an_idle_agent_is_applied_at_once(host: HostService) -> None:
    agent = _updater(host)
    _result(host, agent, "add(3)")
    outcome = host.update_agent(agent, 1, "automatic")
    assert outcome.state == "successful" and outcome.target_version == 1
    assert _kinds(host, agent)[-2:] == ["pending-update", "successful-update"]
    assert _result(host, agent, "version()") == "1"
    assert _result(host, agent, "total()") == "3"


def _suspended(host: HostService) -> tuple[AgentId, str, int]:
    """A `durable` agent suspended inside an invocation awaiting a promise (version 0),
    with version 1 (`durable-diverged`) registered: (agent, invocation id, promise)."""
    host.add_component(build_fixture("durable-1.3.0"), "durable")
    agent, _ = host.create_agent("durable", "alice")
    inv = host.invoke(agent, "observe-and-await()")
    (idx,) = host.store.get_agent(agent).waiting_promises
    host.add_component(build_fixture("durable-diverged-1.3.0"), name="durable")
    return agent, inv.invocation_id, idx


def test_update_of_a_suspended_agent_wakes_it_and_a_diverging_one_fails(
    host: HostService,
) -> None:
    """Golem activates a suspended worker to perform an automatic update: the oplog is
    replayed on the new version at once. This version reads the clock before the random
    number, so the replay diverges, the update fails naming both calls, and the agent
    stays suspended on the old version; its invocation finishes there."""
    agent, invocation, idx = _suspended(host)
    with pytest.raises(UpdateFailed) as failed:
        host.update_agent(agent)
    error = str(failed.value)
    assert str(agent) in error and "get-random-u64" in error and "wall-clock" in error
    assert host.agent(agent).status == "suspended"
    assert host.agent(agent).component_version == 0
    # The replay on the old version suspended it again.
    assert _kinds(host, agent)[-3:] == ["pending-update", "failed-update", "suspended"]
    host.complete_promise(PromiseId(agent, idx), b"ok")
    assert host.store.get_invocation(invocation).state == "done"
    assert host.agent(agent).status == "idle" and host.agent(agent).component_version == 0


def test_update_of_a_suspended_agent_without_wakeup_waits(host: HostService) -> None:
    """Golem's disableWakeup: the request is recorded and the suspended agent left as
    it is; it is applied when the agent runs next (here: the promise completes)."""
    agent, invocation, idx = _suspended(host)
    outcome = host.update_agent(agent, wake=False)
    assert outcome.state == "pending"
    assert host.agent(agent).component_version == 0
    # Golem's 400 for the same update asked again while it is pending; recorded once.
    with pytest.raises(InvalidInput, match="The same update is already in progress"):
        host.update_agent(agent, wake=False)
    assert _kinds(host, agent).count("pending-update") == 1
    host.complete_promise(PromiseId(agent, idx), b"ok")
    assert host.store.get_invocation(invocation).state == "done"
    assert outcome.index is not None
    assert host.update_outcome(agent, outcome.index).state == "failed"
    assert host.agent(agent).component_version == 0


def test_a_suspended_agent_updated_to_a_version_with_the_same_bytes_stays_suspended_on_it(
    host: HostService,
) -> None:
    """Versions 0 and 2 hold the same bytes (version 1 others). An update of the
    suspended agent from 0 to 2 is an update (Golem compares version numbers): the
    agent is woken, the replay on version 2 succeeds, and it is suspended again, now on
    version 2, which every reader reports (not version 0, the first with those bytes);
    its invocation finishes on version 2."""
    agent, invocation, idx = _suspended(host)
    again = host.add_component(build_fixture("durable-1.3.0"), name="durable")
    assert again.version == 2
    assert host.update_agent(agent, 2).state == "successful"
    assert host.agent(agent).status == "suspended"
    assert host.agent(agent).component_version == 2
    (listed,) = host.list_agents("durable")
    assert listed.component_version == 2
    assert golem_workers.metadata_facts(host.store, agent)["component-version"] == 2
    with pytest.raises(InvalidInput, match="Worker is already at the target version"):
        host.update_agent(agent, 2)
    host.complete_promise(PromiseId(agent, idx), b"ok")
    assert host.store.get_invocation(invocation).state == "done"
    assert host.agent(agent).status == "idle" and host.agent(agent).component_version == 2
    # An agent created on version 2 is on version 2 as well.
    fresh, _ = host.create_agent("durable", "bob")
    assert host.agent(fresh).component_version == 2


def test_update_refuses_bad_requests(host: HostService) -> None:
    agent = _updater(host)
    with pytest.raises(InvalidInput, match="mode"):
        host.update_agent(agent, 1, "sideways")
    with pytest.raises(AgentNotFound):
        host.update_agent(AgentId(agent.component_id, "ghost"), 1)
    assert "pending-update" not in _kinds(host, agent)


@pytest.mark.parametrize("mode", ["automatic", "snapshot"])
def test_update_to_a_version_that_does_not_exist_fails_later(host: HostService, mode: str) -> None:
    """Golem accepts an update to a version the component does not have (neither its
    REST nor its executor looks the version up) and the update fails when applied
    (its auto_update_on_idle_to_non_existing): a FailedUpdate in the oplog and the
    update records, and the agent goes on on its version."""
    agent = _updater(host)
    assert host.update_agent(agent, 1, "automatic").state == "successful"
    assert _result(host, agent, "add(4)") == "4"
    with pytest.raises(UpdateFailed, match="no version 2"):
        host.update_agent(agent, 2, mode)  # tried at once: the agent is idle
    assert _kinds(host, agent)[-2:] == ["pending-update", "failed-update"]
    assert [(r.kind, r.target_version) for r in host.update_records(agent)] == [
        ("SuccessfulUpdate", 1),
        ("FailedUpdate", 2),
    ]
    assert host.agent(agent).component_version == 1
    assert _result(host, agent, "add(1)") == "5"  # still responsive, on version 1
    assert _result(host, agent, "version()") == "1"


def test_update_to_the_version_the_agent_runs_is_refused_as_golem_refuses_it(
    host: HostService,
) -> None:
    """Golem's executor answers an update to the agent's own version with 400 "Worker is
    already at the target version"; nothing is recorded. Once the agent moved to version
    1, version 1 is the one refused and version 0 is an update again."""
    agent = _updater(host)
    with pytest.raises(InvalidInput, match="Worker is already at the target version"):
        host.update_agent(agent, 0)
    assert "pending-update" not in _kinds(host, agent)
    assert host.update_agent(agent, 1).state == "successful"
    with pytest.raises(InvalidInput, match="Worker is already at the target version"):
        host.update_agent(agent)  # the latest, which it now runs
    assert _kinds(host, agent).count("pending-update") == 1
    assert host.update_agent(agent, 0).state == "successful"
    assert host.agent(agent).component_version == 0
    assert _result(host, agent, "version()") == "0"


def test_fork_inside_an_invocation_finishes_it_in_the_copy_alone(host: HostService) -> None:
    """A cut inside a suspended invocation: the copy gets that invocation (its own id)
    and runs at once, suspending on its own copy of the promise; completing that promise
    finishes the copy's invocation, and the source's stays suspended."""
    host.add_component(build_fixture("durable-1.3.0"), "durable")
    source, _ = host.create_agent("durable", "src")
    inv = host.invoke(source, "observe-and-await()")
    (idx,) = host.store.get_agent(source).waiting_promises
    copy = host.fork_agent(source, "copy", host.store.oplog_length(source))
    assert host.agent(copy).status == "suspended"
    (started,) = host.store.list_invocations(copy)
    assert started.invocation_id != inv.invocation_id and started.state == "started"
    host.complete_promise(PromiseId(copy, idx), b"mine")
    done = host.store.get_invocation(started.invocation_id)
    assert done.state == "done" and (done.result or "").endswith("[109, 105, 110, 101])")
    assert host.store.get_invocation(inv.invocation_id).state == "started"
    assert host.agent(source).status == "suspended"


def test_update_of_another_agent_under_persist_nothing_traps_on_replay(
    host: HostService,
) -> None:
    """update-agent of another agent inside a persist-nothing block is not recorded, so a
    replay reaches the call again: Golem's durable update-agent then fails ("Trying to
    replay an durable invocation in a PersistNothing block") instead of asking the other
    agent for the update a second time; so does agent-host. (Before, the replay asked
    again.)"""
    caller = _updater(host)
    other, _ = host.create_agent("updater", "other")
    cid = other.component_id.int
    args = f'{cid >> 64}, {cid & 0xFFFF_FFFF_FFFF_FFFF}, "{other.name}", 0, false'
    inv = host.invoke(caller, f"update-other-unpersisted({args})")
    assert inv.state == "done", inv.error
    assert host.agent(other).component_version == 0
    assert [r.kind for r in host.update_records(other)] == ["SuccessfulUpdate"]
    host.executor.forget_instance(caller)  # the next call replays the whole log
    # The replay of the earlier invocation fails the agent (as a Golem worker failing
    # its recovery); the new call waits for a retry or revert.
    again = host.invoke(caller, "add(1)")
    view = host.agent(caller)
    assert view.status == "failed" and again.state == "queued"
    assert golem_workers.PERSIST_NOTHING_REPLAY in (view.record.last_error or "")
    assert _kinds(host, other).count("pending-update") == 1  # not asked twice


def _other_args(agent: AgentId, target: int) -> str:
    cid = agent.component_id.int
    return f'{cid >> 64}, {cid & 0xFFFF_FFFF_FFFF_FFFF}, "{agent.name}", {target}, false'


def test_update_of_a_failed_agent_retries_it_on_the_new_version(host: HostService) -> None:
    """Golem accepts an update of a failed worker: the pending update makes it retrying
    and it is activated to perform it. Here the agent failed calling update-agent of an
    agent that did not exist; once that agent exists, the update of the failed one
    retries its invocation, which now succeeds, on the new version."""
    agent = _updater(host)
    ghost = AgentId(agent.component_id, "later")
    inv = host.invoke(agent, f"update-other({_other_args(ghost, 0)})")
    assert inv.state == "failed" and host.agent(agent).status == "failed"
    host.create_agent("updater", "later")  # on version 1
    assert host.update_agent(agent, 1).state == "successful"
    assert host.agent(agent).status == "idle"
    assert host.agent(agent).component_version == 1
    assert host.store.get_invocation(inv.invocation_id).state == "done"
    assert _result(host, agent, "version()") == "1"
    assert host.agent(ghost).component_version == 0  # the retried call asked for it


def test_update_of_an_interrupted_agent_resumes_it(host: HostService) -> None:
    """Golem activates an interrupted worker to perform an update (as a resume does):
    the update is applied and the agent runs again, on the new version."""
    agent = _updater(host)
    assert _result(host, agent, "add(2)") == "2"
    host.interrupt(agent)
    assert host.agent(agent).status == "interrupted"
    assert host.update_agent(agent, 1).state == "successful"
    assert host.agent(agent).status == "idle"
    assert host.agent(agent).component_version == 1
    assert _result(host, agent, "total()") == "2"


def test_golem_component_version_names_the_version_after_an_update(host: HostService) -> None:
    """Golem's get-environment gives GOLEM_COMPONENT_REVISION of the version the agent
    runs now (its enrich_env): after an update the new number, here for both names,
    though versions 0 and 2 hold the same bytes; the creation entry keeps its own."""
    host.add_component(build_fixture("management-1.5.0"), "m")
    agent, _ = host.create_agent("m", "e")
    host.add_component(build_fixture("updater-1.5.0"), "m")  # version 1: other bytes
    assert host.add_component(build_fixture("management-1.5.0"), "m").version == 2
    before = _result(host, agent, "env()") or ""
    assert '("GOLEM_COMPONENT_REVISION", "0")' in before
    assert host.update_agent(agent, 2).state == "successful"
    after = _result(host, agent, "env()") or ""
    assert '("GOLEM_COMPONENT_VERSION", "2")' in after
    assert '("GOLEM_COMPONENT_REVISION", "2")' in after
    assert dict(_created(host, agent).env)["GOLEM_COMPONENT_VERSION"] == "0"
    host.executor.forget_instance(agent)  # a replay answers the first call as recorded
    assert '("GOLEM_COMPONENT_REVISION", "2")' in (_result(host, agent, "env()") or "")


def test_a_revert_past_an_update_puts_the_version_number_back(host: HostService) -> None:
    """Versions 0 and 2 hold the same bytes: an agent created on 2, updated to 1 and
    reverted to before the update runs version 2 again, by number (the first version
    with its bytes is 0)."""
    host.add_component(build_fixture("updater-1.5.0"), "updater")
    host.add_component(build_fixture("updater-v2-1.5.0"), "updater")
    assert host.add_component(build_fixture("updater-1.5.0"), "updater").version == 2
    agent, _ = host.create_agent("updater", "r")
    assert host.agent(agent).component_version == 2
    assert _result(host, agent, "add(3)") == "3"
    before = host.store.oplog_length(agent)
    assert host.update_agent(agent, 1).state == "successful"
    assert host.agent(agent).component_version == 1
    host.revert_agent(agent, before)
    assert host.agent(agent).component_version == 2
    assert _result(host, agent, "version()") == "0"  # updater's code (version 2's bytes)
    assert _result(host, agent, "total()") == "3"


def test_update_of_a_sleeping_agent_applies_it_and_it_sleeps_on(host: HostService) -> None:
    """A durable sleep is a suspension too: Golem activates the worker for the update,
    its replay on the new version re-arms the same timer, and it sleeps on until the
    deadline it had (not woken for good, not busy-looping)."""
    host.add_component(build_fixture("durable-1.3.0"), "durable")
    agent, _ = host.create_agent("durable", "sleeper")
    inv = host.invoke(agent, "sleep(3600000000000)")  # an hour
    deadline = host.store.get_agent(agent).wake_at_ns
    assert inv.state == "started" and deadline is not None
    host.add_component(build_fixture("durable-diverged-1.3.0"), name="durable")
    host.add_component(build_fixture("durable-1.3.0"), name="durable")  # version 2: A again
    assert host.update_agent(agent, 2).state == "successful"
    record = host.store.get_agent(agent)
    assert record.status == "suspended" and record.component_version == 2
    assert record.wake_at_ns is not None and abs(record.wake_at_ns - deadline) < 5_000_000_000
    assert host.run_due() == []  # not due: it sleeps on
    assert host.store.get_invocation(inv.invocation_id).state == "started"


def test_update_of_a_retrying_agent_retries_it_now_on_the_new_version(
    host: HostService,
) -> None:
    """Golem activates a retrying worker for an update: its retry runs now, not after
    its delay (here a minute), and on the new version (2: the same bytes as 0)."""
    host.add_component(build_fixture("flaky"), "flaky")
    agent, _ = host.create_agent("flaky", "f")
    minute = 60_000_000_000
    assert host.invoke(agent, f"set-policy(5, {minute}, {minute}, 1.0)").state == "done"
    assert host.invoke(agent, "boom()").state == "started"
    before = host.store.get_agent(agent)
    assert before.status == "retrying" and before.retry_count == 1
    host.add_component(build_fixture("updater-1.5.0"), "flaky")  # version 1: other bytes
    assert host.add_component(build_fixture("flaky"), "flaky").version == 2
    assert host.update_agent(agent, 2).state == "successful"
    after = host.store.get_agent(agent)
    assert after.component_version == 2
    assert after.status == "retrying" and after.retry_count == 2  # retried at once


def test_a_fork_cut_before_an_update_runs_the_version_of_its_cut(host: HostService) -> None:
    """The copy's oplog ends before the source's update: it runs the version the source
    ran at the cut (as Golem derives a worker's version from its oplog), not the one the
    source runs now; a cut after the update runs the new one."""
    agent = _updater(host)
    assert _result(host, agent, "add(3)") == "3"
    cut = host.store.oplog_length(agent)
    assert host.update_agent(agent, 1).state == "successful"
    before = host.fork_agent(agent, "before", cut)
    assert host.agent(before).component_version == 0
    assert _result(host, before, "version()") == "0"
    assert _result(host, before, "total()") == "3"
    after = host.fork_agent(agent, "after", host.store.oplog_length(agent))
    assert host.agent(after).component_version == 1
    assert _result(host, after, "version()") == "1"
