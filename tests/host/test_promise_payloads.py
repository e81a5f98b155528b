"""A promise's payload is stored once (host/runtime/promise_payloads.py): the host-call
entry recording the guest's await/poll answer refers to the promise's row, and replay
reads the bytes back from it, also after the guest deleted the promise, in a fork, and
for entries recorded before with the bytes inline.

Real WAT promises fixtures, a real store. A replay that handed the guest other bytes
than the recorded run got would change the replayed invocation's result, which replay
refuses (a Divergence fails the next invocation), so ``_replays`` proves the bytes.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from host.errors import PromiseNotFound
from host.ids import AgentId, PromiseId
from host.oplog import HostCall
from host.runtime import promise_payloads as pp
from host.service import HostService
from host.values import Some, to_json
from tests.fixtures.build import build_fixture

PAYLOAD = random.Random(13).randbytes(3000)
WAVE = "[" + ", ".join(str(b) for b in PAYLOAD) + "]"


def _agent(host: HostService, fixture: str, name: str) -> AgentId:
    record = host.add_component(build_fixture(fixture))
    agent, created = host.create_agent(record.id, name)
    assert created
    return agent


def _done(host: HostService, agent: AgentId, call: str) -> str | None:
    inv = host.invoke(agent, call)
    assert inv.state == "done", f"{call}: {inv.state} {inv.error}"
    return inv.result


def _replays(host: HostService, agent: AgentId) -> None:
    host.executor.forget_instance(agent)  # the next invocation replays the whole log
    assert int(_done(host, agent, "create()") or "") > 0
    assert host.agent(agent).record.status == "idle"


READS = (".await-promise", ".poll-promise", ".[method]get-promise-result.get")


def _answers(host: HostService, agent: AgentId) -> list[HostCall]:
    """The recorded answers of the guest's payload reads."""
    return [
        e
        for e in host.store.read_oplog(agent)
        if isinstance(e, HostCall) and e.function.endswith(READS)
    ]


def _blob_bytes(host: HostService, agent: AgentId) -> int:
    return sum(len(blob or b"") for _, _, blob in host.store.read_oplog_raw(agent))


@pytest.mark.parametrize(
    ("generation", "call"),
    # 1.1.6: await-promise and poll-promise; 1.3.0: get-promise's get.
    [("1.1.6", "await"), ("1.1.6", "poll"), ("1.3.0", "await"), ("1.3.0", "poll")],
)
def test_the_answer_refers_to_the_promise_and_replays(
    host: HostService, generation: str, call: str
) -> None:
    agent = _agent(host, f"promises-{generation}", f"{call}-ref")
    idx = int(_done(host, agent, "create()") or "")
    assert host.complete_promise(PromiseId(agent, idx), PAYLOAD)
    expected = WAVE if call == "await" else f"some({WAVE})"
    assert _done(host, agent, f"{call}({idx})") == expected
    (answer,) = _answers(host, agent)
    assert answer.response == {pp.REF_KEY: idx}
    assert _blob_bytes(host, agent) < len(PAYLOAD)  # not a second copy in the oplog
    _replays(host, agent)


def test_a_suspended_await_resumes_with_the_payload_and_replays(host: HostService) -> None:
    agent = _agent(host, "promises-1.3.0", "suspended")
    idx = int(_done(host, agent, "create()") or "")
    inv = host.invoke(agent, f"await({idx})")
    assert inv.state == "started"  # suspended on the promise
    assert host.complete_promise(PromiseId(agent, idx), PAYLOAD)
    done = host.store.get_invocation(inv.invocation_id)
    assert (done.state, done.result) == ("done", WAVE)
    assert [a.response for a in _answers(host, agent)] == [{pp.REF_KEY: idx}]
    assert _blob_bytes(host, agent) < len(PAYLOAD)
    _replays(host, agent)


def test_a_deleted_promise_still_replays_its_payload(host: HostService) -> None:
    agent = _agent(host, "promises-1.1.6", "deleted")
    idx = int(_done(host, agent, "create()") or "")
    assert host.complete_promise(PromiseId(agent, idx), PAYLOAD)
    assert _done(host, agent, f"await({idx})") == WAVE
    _done(host, agent, f"delete({idx})")
    with pytest.raises(PromiseNotFound):
        host.store.get_promise(PromiseId(agent, idx))
    assert host.store.promise_payload(PromiseId(agent, idx)) == PAYLOAD
    _replays(host, agent)
    assert host.check().problems == ()


def test_a_fork_replays_the_payload_from_its_own_copy(host: HostService) -> None:
    source = _agent(host, "promises-1.3.0", "source")
    idx = int(_done(host, source, "create()") or "")
    assert host.complete_promise(PromiseId(source, idx), PAYLOAD)
    assert _done(host, source, f"await({idx})") == WAVE
    copy = host.fork_agent(source, "copy", host.store.oplog_length(source))
    assert host.store.promise_payload(PromiseId(copy, idx)) == PAYLOAD
    _replays(host, copy)
    assert _done(host, copy, f"await({idx})") == WAVE


def test_pending_and_unknown_promises(host: HostService) -> None:
    agent = _agent(host, "promises-1.3.0", "pending")
    idx = int(_done(host, agent, "create()") or "")
    assert host.store.promise_payload(PromiseId(agent, idx)) is None
    with pytest.raises(PromiseNotFound):
        host.store.promise_payload(PromiseId(agent, idx + 100))
    session = SimpleNamespace(store=host.store, agent=agent)
    with pytest.raises(ValueError, match="not completed"):
        pp.rebuild_bytes(session, {pp.REF_KEY: idx})


def test_answers_recorded_inline_before_still_replay(host: HostService) -> None:
    agent = _agent(host, "promises-1.3.0", "inline")
    session = SimpleNamespace(store=host.store, agent=agent)
    inline = to_json(PAYLOAD, pp._BYTES, compact_bytes=True)
    assert pp.rebuild_bytes(session, inline) == PAYLOAD
    assert pp.rebuild_bytes(session, list(PAYLOAD)) == PAYLOAD  # the oldest form: numbers
    maybe = to_json(Some(PAYLOAD), pp._MAYBE_BYTES, compact_bytes=True)
    assert pp.rebuild_maybe_bytes(session, maybe) == Some(PAYLOAD)
    assert pp.rebuild_maybe_bytes(session, None) is None
    # Bytes not read from a promise's row are recorded inline, as before.
    assert pp.snapshot_bytes(PAYLOAD) == inline
    assert pp.snapshot_maybe_bytes(None) is None
