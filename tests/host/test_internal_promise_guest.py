"""A guest may not complete another agent's internal promise (the one it awaits a
wasm-rpc call on): conformance guest agent15-net, in-process on a real SQLite store.

CallerAgent("a").call_wait(c) suspends on its internal promise while CalleeAgent(c)
waits on its own; HookAgent("h").complete_other(...) of the caller's promise fails (the
host refuses, naming the promise as internal) and leaves both agents waiting; completing
the callee's own promise then finishes both with the callee's answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host.conformance.build import build_py
from host.errors import InternalPromise
from host.ids import AgentId
from host.service import HostService

pytestmark = pytest.mark.slow  # builds and compiles an 18 MB componentize-py guest

GUEST = Path(__file__).resolve().parents[2] / "conformance" / "guests" / "agent15-net" / "1.5.0"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[HostService]:
    service = HostService(tmp_path / "store")
    # The conformance runner's own label: the build is shared with its runs.
    service.add_component(build_py(GUEST, "conformance-agent15-net-1.5.0"), "net")
    try:
        yield service
    finally:
        service.close()


def _agent(host: HostService, name: str) -> AgentId:
    return host.agent_id("net", name)


def test_a_guest_cannot_complete_an_internal_promise(host: HostService) -> None:
    caller = _agent(host, 'CallerAgent("a")')
    callee = _agent(host, 'CalleeAgent("c")')
    waiting = host.submit(host.agent_call_from_wave(caller, 'call_wait("c")'))
    assert waiting.state == "started" and host.agent(caller).status == "suspended"
    assert host.list_promises(caller) == []
    (internal,) = host.list_promises(caller, include_internal=True)
    assert host.internal_promises([internal]) == {internal.id}
    with pytest.raises(InternalPromise, match="is internal"):
        host.complete(internal.id, b"forged")

    hook = _agent(host, 'HookAgent("h")')
    cid = str(caller.component_id)
    call = host.agent_call_from_json(
        hook, "complete_other", [cid, caller.name, internal.id.oplog_idx, "forged"]
    )
    tried = host.submit(call)
    outcome = host.agent_result(tried) if tried.state == "done" else None
    refused = tried.state == "failed" or (outcome is not None and outcome.error is not None)
    assert refused, (tried.state, tried.error, outcome)
    text = tried.error if tried.state == "failed" else (outcome.error if outcome else "")
    assert "internal" in (text or ""), text
    assert not host.store.get_promise(internal.id).completed
    assert host.agent(caller).status == "suspended"

    (theirs,) = host.list_promises(callee)
    assert host.complete(theirs.id, b"go").completed
    done = host.invocation(waiting.invocation_id).invocation
    assert done.state == "done"
    result = host.agent_result(done)
    assert result is not None and result.json == "got go"
