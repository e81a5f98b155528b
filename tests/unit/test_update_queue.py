"""Queued update requests and the update records of an agent's metadata
(host/runtime/update_queue.py), on each store in turn (the ``store_url`` fixture). No
wasm: the executor's part is tested in tests/host/test_fork_update.py and
tests/e2e/test_fork_update_http.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from host.errors import OplogConflict
from host.ids import AgentId
from host.oplog import (
    AgentCreated,
    FailedUpdate,
    HostCall,
    Jump,
    PendingUpdate,
    SuccessfulUpdate,
)
from host.runtime import update_queue
from host.store import Store, open_store
from host.store.base import InvocationState


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def _agent(store: Store) -> AgentId:
    agent = AgentId(uuid.uuid4(), "a")
    assert store.create_agent(agent, "h1", AgentCreated(str(agent.component_id), "h1"))
    return agent


def test_records_pair_requests_with_outcomes_and_skip_deleted_ones(store: Store) -> None:
    agent = _agent(store)
    store.append(
        agent,
        2,
        [
            PendingUpdate(2, "h2", "automatic", timestamp=10),  # 2
            HostCall("f", [], 1),  # 3
            SuccessfulUpdate(2, "h2", timestamp=11),  # 4
            PendingUpdate(3, "h3", "snapshot-based", timestamp=12),  # 5: reverted below
            FailedUpdate(3, "no load-snapshot", timestamp=13),  # 6: reverted below
            Jump(5, 7),  # 7
            PendingUpdate(4, "h4", "snapshot-based", timestamp=14),  # 8
            FailedUpdate(4, "the new version does not export load", timestamp=15),  # 9
            PendingUpdate(5, "h5", "automatic", timestamp=16),  # 10: not applied yet
        ],
    )
    queued = update_queue.enqueue(store, agent, PendingUpdate(6, "h6", "automatic"))
    entries = store.read_oplog_kinds(agent, update_queue.KINDS)
    # Only those kinds were read, with their oplog indexes.
    assert [i for i, _ in entries] == [2, 4, 5, 6, 7, 8, 9, 10]
    found = update_queue.records(entries, store.list_invocations(agent))
    assert [(r.kind, r.target_version, r.timestamp) for r in found] == [
        ("SuccessfulUpdate", 2, 11),
        ("FailedUpdate", 4, 15),
        ("PendingUpdate", 5, 16),
        ("PendingUpdate", 6, queued.created_at),
    ]
    assert found[1].details == "the new version does not export load"
    assert found[0].details is None


def test_a_queued_request_moves_into_the_oplog_in_one_transaction(store: Store) -> None:
    agent = _agent(store)
    request = PendingUpdate(2, "h2", "automatic")
    queued = update_queue.enqueue(store, agent, request)
    # The same request again is not queued twice; another one is.
    assert update_queue.enqueue(store, agent, PendingUpdate(2, "h2", "automatic")) == queued
    other = update_queue.enqueue(store, agent, PendingUpdate(2, "h2", "snapshot-based"))
    assert other.invocation_id != queued.invocation_id
    record = store.list_invocations(agent, [InvocationState.QUEUED])[0]
    assert update_queue.is_update(record.function)
    taken = update_queue.request_of(record)
    assert (taken.target_version, taken.component_hash, taken.mode) == (2, "h2", "automatic")
    # A conflicting append writes nothing and leaves the request queued ...
    store.append(agent, 2, [HostCall("f", [], 1)])
    with pytest.raises(OplogConflict):
        store.append(agent, 2, [request], takes_invocation=queued.invocation_id)
    assert store.get_invocation(queued.invocation_id).state == InvocationState.QUEUED
    # ... a good one takes it out of the queue with the entry.
    store.append(agent, 3, [request], takes_invocation=queued.invocation_id)
    assert store.get_invocation(queued.invocation_id).state == InvocationState.DONE
    assert isinstance(store.read_oplog(agent, 3)[0], PendingUpdate)
    waiting = update_queue.queued_updates(store.list_invocations(agent))
    assert [r.invocation_id for r in waiting] == [other.invocation_id]
