"""A deleted promise must not make its agent unreplayable (issue "Nothing lost, nobody
let in, part 2", F4).

Replay answers from the oplog, never from the promise store's current state: after a
promise was looked at (get-promise, promise-secret) and then deleted, by the guest or
by an operator, the agent's next replay still reproduces the recorded run, and
``check`` does not call a recorded deletion damage.
"""

from __future__ import annotations

from host.ids import AgentId, PromiseId
from host.oplog import HostCall
from host.service import HostService
from tests.fixtures.build import build_fixture


def _agent(host: HostService, fixture: str, name: str) -> AgentId:
    record = host.add_component(build_fixture(fixture))
    agent, created = host.create_agent(record.id, name)
    assert created
    return agent


def _done(host: HostService, agent: AgentId, call: str) -> str | None:
    inv = host.invoke(agent, call)
    assert inv.state == "done", f"{call}: {inv.state} {inv.error}"
    return inv.result


def test_get_promise_then_operator_deletion_replays(host: HostService) -> None:
    agent = _agent(host, "promises-1.3.0", "get-then-delete")
    idx = int(_done(host, agent, "create()") or "")
    assert _done(host, agent, f"poll({idx})") == "none"  # get-promise, then get
    host.store.delete_promise(PromiseId(agent, idx))  # as an operator would
    host.executor.forget_instance(agent)  # the next invocation replays
    second = int(_done(host, agent, "create()") or "")
    assert second > idx
    assert host.agent(agent).record.status == "idle"
    assert host.check().problems == ()


def test_secret_then_guest_deletion_replays_and_is_pure_of_the_id(host: HostService) -> None:
    agent = _agent(host, "secrets-1.1.6", "secret-then-delete")
    idx = int(_done(host, agent, "create()") or "")
    secret = _done(host, agent, f"secret({idx})")
    assert secret == f'"{host.promise_secret(PromiseId(agent, idx))}"'
    _done(host, agent, f"delete({idx})")
    host.executor.forget_instance(agent)
    # replays create, secret and delete, then takes the secret of the deleted promise
    # live: the same, since it is a function of the id alone
    assert _done(host, agent, f"secret({idx})") == secret
    assert host.agent(agent).record.status == "idle"
    assert host.check().problems == ()
    # the secret itself is never written to the oplog
    plain = secret.strip('"') if secret else ""
    for entry in host.store.read_oplog(agent):
        if isinstance(entry, HostCall):
            assert plain not in repr(entry)


def test_secret_of_a_promise_the_agent_never_created_is_refused(host: HostService) -> None:
    agent = _agent(host, "secrets-1.1.6", "no-such-promise")
    inv = host.invoke(agent, "secret(1)")  # entry 1 is the agent's creation
    assert inv.state == "failed"
    assert "promise" in str(inv.error) and "/1" in str(inv.error)


def test_check_still_reports_a_promise_row_that_vanished(host: HostService) -> None:
    agent = _agent(host, "promises-1.3.0", "vanished")
    idx = int(_done(host, agent, "create()") or "")
    with host.store._tx("damage") as db:  # damage: the row is gone, not marked deleted
        db.execute(f"DELETE FROM promises WHERE idx = {int(idx)}")  # either store's SQL
    problems = host.check().problems
    assert len(problems) == 1 and "no promise in the store" in problems[0]
