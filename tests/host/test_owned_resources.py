"""The resource instances an agent owns, read from its oplog (host/runtime/owned.py), for
Golem's ``exportedResourceInstances`` in the agent's metadata: after every call the list
equals the live table of the agent's instance, and it is the same after a restart (no
instance at all), with the counters WAT fixture and a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host.runtime.owned import OwnedResource
from tests.host.test_resources import API, Counters


@pytest.fixture
def counters(tmp_path: Path) -> Iterator[Counters]:
    c = Counters(tmp_path / "data")
    yield c
    c.host.close()


def _owned(c: Counters) -> list[OwnedResource]:
    return c.host.owned_resources(c.agent)


def _live_table(c: Counters) -> list[tuple[int, str]]:
    live = c.host.executor._live[c.agent]  # the kept idle instance
    return live.session.exported.live()


CALLS = [
    '{[constructor]counter}("a")',  # 0
    "{make}(40)",  # 1, a handle in a result
    '{counter("c1").inc-by}(5)',  # 2, an indexed instance made on first use
    '{counter("c1").inc-by}(5)',  # the same one
    '{counter.drop}("/1")',
    '{counter("c2").get}',  # 3
    '{counter("c1").drop}',
    '{counter("c1").get}',  # 4: made afresh after the drop
    '{counter("c1").new}',  # the indexed instance's handle: no new one
]


def test_the_owned_list_follows_the_live_table_call_by_call(counters: Counters) -> None:
    c = counters
    for call in CALLS:
        c.call(call)
        assert [(r.key, r.resource_name) for r in _owned(c)] == _live_table(c), call
    owned = _owned(c)
    assert [r.key for r in owned] == [0, 3, 4]
    assert {r.resource_owner for r in owned} == {API}
    assert all(r.created_at > 0 for r in owned)
    c.restart()  # no instance: the list comes from the oplog alone
    assert _owned(c) == owned


def test_an_agent_without_resources_owns_none(counters: Counters) -> None:
    c = counters
    assert c.call("{dropped}") == 0
    assert _owned(c) == []
