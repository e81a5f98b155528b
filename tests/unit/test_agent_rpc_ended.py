"""The callee's end wakes the agent awaiting it from what its finish committed (no read of
the invocation record): host/runtime/agent_rpc.py invocation_ended."""

from __future__ import annotations

import uuid

from host.ids import AgentId, PromiseId
from host.runtime.agent_rpc import invocation_ended


def test_the_awaiting_agent_is_woken_only_when_the_end_completed_its_promise() -> None:
    caller = AgentId(uuid.uuid4(), "caller")
    woken: list[AgentId] = []
    invocation_ended((PromiseId(caller, 7), b"{}"), woken.append)
    assert woken == [caller]
    invocation_ended(None, woken.append)  # nobody awaits this invocation
    assert woken == [caller]
