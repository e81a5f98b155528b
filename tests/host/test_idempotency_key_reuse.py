"""An idempotency key names one call (issue "Nothing lost, nobody let in, part 2", F12):
the same key with the same function and parameters returns the stored invocation; with
another function or other parameters it is refused with a Conflict (HTTP 409) naming the
key and the first call's function, and nothing is queued."""

from __future__ import annotations

import pytest

from host.errors import Conflict, IdempotencyKeyReused
from host.ids import AgentId
from host.service import HostService
from tests.fixtures.build import build_fixture


def _agent(host: HostService) -> AgentId:
    record = host.add_component(build_fixture("promises-1.1.6"))
    agent, _ = host.create_agent(record.id, "idem")
    assert host.invoke(agent, "create()").result == "3"  # the promise poll(3) looks at
    return agent


def test_same_key_same_call_returns_the_stored_invocation(host: HostService) -> None:
    agent = _agent(host)
    first = host.invoke(agent, "poll(3)", idempotency_key="k")
    again = host.invoke(agent, "poll( 3 )", idempotency_key="k")  # same canonical params
    assert again.invocation_id == first.invocation_id
    assert len(host.store.list_invocations(agent)) == 2


@pytest.mark.parametrize(
    ("second", "differs"),
    [("create()", "another function (create)"), ("poll(4)", "other parameters")],
)
def test_same_key_other_call_is_a_conflict(host: HostService, second: str, differs: str) -> None:
    agent = _agent(host)
    first = host.invoke(agent, "poll(3)", idempotency_key="k-1")
    assert first.state == "done"
    with pytest.raises(IdempotencyKeyReused) as raised:
        host.invoke(agent, second, idempotency_key="k-1")
    assert isinstance(raised.value, Conflict)
    message = str(raised.value)
    assert "'k-1'" in message and "poll" in message and first.invocation_id in message
    assert differs in message
    assert [i.invocation_id for i in host.store.list_invocations(agent)][1:] == [
        first.invocation_id
    ]
