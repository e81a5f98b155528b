"""host.runtime.agent_locks: an agent's run lock exists only while a thread holds or
waits for it, so suspended agents hold no lock (issue 13)."""

from __future__ import annotations

import threading
import uuid

from host.ids import AgentId
from host.runtime.agent_locks import AgentLocks

A = AgentId(uuid.uuid4(), "a")
B = AgentId(uuid.uuid4(), "b")


def test_an_entry_lives_only_while_held() -> None:
    locks = AgentLocks()
    assert len(locks) == 0 and not locks.locked(A)
    with locks.hold(A):
        assert locks.locked(A) and not locks.locked(B)
        assert len(locks) == 1
    assert len(locks) == 0 and not locks.locked(A)


def test_an_exception_in_the_block_drops_the_entry() -> None:
    locks = AgentLocks()
    try:
        with locks.hold(A):
            raise ValueError("boom")
    except ValueError:
        pass
    assert len(locks) == 0


def test_a_waiter_keeps_the_entry_and_gets_the_same_lock() -> None:
    locks = AgentLocks()
    entered = threading.Event()
    order: list[str] = []

    def second() -> None:
        entered.set()
        with locks.hold(A):
            order.append("second")

    with locks.hold(A):
        thread = threading.Thread(target=second)
        thread.start()
        entered.wait(5)
        # the waiter cannot enter while the first holder is inside
        assert not locks.wait_free(A, timeout=0.05)
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]
    assert len(locks) == 0


def test_wait_free_on_a_free_agent() -> None:
    locks = AgentLocks()
    assert locks.wait_free(A, timeout=0.01)
    assert len(locks) == 0


def test_many_agents_leave_nothing_behind() -> None:
    locks = AgentLocks()
    for i in range(1000):
        with locks.hold(AgentId(uuid.uuid4(), f"s{i}")):
            pass
    assert len(locks) == 0
