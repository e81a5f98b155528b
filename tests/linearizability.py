"""A linearizability checker for the promise store, and the workers that record histories.

A history is a list of :class:`Op`: what a client called (``call``), what it got back
(``result``), and when the call began and returned (``start``/``end``, from the
system-wide monotonic clock, so threads and processes are comparable). The history is
linearizable when the operations can be put in one sequence that respects real time (an
operation that returned before another began comes first) and in which every result is
what :class:`PromiseModel` (the promise store run sequentially) answers. :func:`linearize`
searches for that sequence in the manner of Wing & Gong, with Lowe's memoization of
(operations left, model state) pairs.

Operations, on the promises of a few agents:

- ``("create", agent)`` -> the new promise's oplog index (only the agent's own runner
  creates, as in the host: one writer per agent oplog)
- ``("complete", agent, idx, data)`` -> ``True`` / ``False`` / ``"not-found"``
- ``("get", agent, idx)`` -> ``(completed, data)`` / ``"not-found"``
- ``("list", agent, pending_only)`` -> the agent's promises as ``(idx, completed, data)``
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host.errors import PromiseNotFound
from host.ids import AgentId, PromiseId
from host.oplog import AgentCreated, PromiseCreated
from host.store import SqliteStore

NOT_FOUND = "not-found"
COMPONENT = uuid.UUID("00000000-0000-4000-8000-00000000c0de")


@dataclass(frozen=True)
class Op:
    worker: int
    call: tuple[Any, ...]
    result: Any
    start: int
    end: int


# -- the sequential model ----------------------------------------------------------------
State = tuple[tuple[str, int, bool, bytes | None], ...]  # sorted (agent, idx, completed, data)


class PromiseModel:
    """The promise store, one operation at a time. States are hashable tuples."""

    @staticmethod
    def initial() -> State:
        return ()

    @staticmethod
    def step(state: State, call: tuple[Any, ...], result: Any) -> State | None:
        """The state after ``call`` if it may answer ``result`` in ``state``, else None."""
        promises = {(a, i): (c, d) for a, i, c, d in state}
        kind, agent = call[0], call[1]
        if kind == "create":
            idx = 2 + sum(1 for a, _ in promises if a == agent)  # entry 1 is agent-created
            if result != idx:
                return None
            promises[(agent, idx)] = (False, None)
        elif kind == "complete":
            _, _, idx, data = call
            found = promises.get((agent, idx))
            if found is None:
                return state if result == NOT_FOUND else None
            if found[0]:
                return state if result is False else None
            if result is not True:
                return None
            promises[(agent, idx)] = (True, data)
        elif kind == "get":
            found = promises.get((agent, call[2]))
            expected = NOT_FOUND if found is None else found
            return state if result == expected else None
        elif kind == "list":
            pending_only = call[2]
            expected_list = tuple(
                (i, c, d)
                for (a, i), (c, d) in sorted(promises.items())
                if a == agent and not (pending_only and c)
            )
            return state if result == expected_list else None
        else:
            raise ValueError(f"unknown operation {call}")
        return tuple(sorted((a, i, c, d) for (a, i), (c, d) in promises.items()))


def linearize(history: Sequence[Op]) -> list[Op] | None:
    """A sequential order of ``history`` consistent with real time and the model, or None."""
    ops = sorted(history, key=lambda o: o.start)
    seen: set[tuple[frozenset[int], State]] = set()

    def search(left: frozenset[int], state: State) -> list[Op] | None:
        if not left:
            return []
        first_end = min(ops[i].end for i in left)
        for i in sorted(left):
            op = ops[i]
            if op.start > first_end:
                break  # some operation returned before this one began: it must come first
            after = PromiseModel.step(state, op.call, op.result)
            if after is None:
                continue
            rest = left - {i}
            if (rest, after) in seen:
                continue
            seen.add((rest, after))
            found = search(rest, after)
            if found is not None:
                return [op, *found]
        return None

    return search(frozenset(range(len(ops))), PromiseModel.initial())


# -- histories -------------------------------------------------------------------------------
def agent_id(round_no: int, name: str) -> AgentId:
    return AgentId(COMPONENT, f"lin-{round_no}-{name}")


def setup_store(path: Path, rounds: int, agents: Sequence[str]) -> None:
    """A store with, per round, fresh agents of a component that is not registered (no
    guest ever runs: the operations go to the store directly)."""
    store = SqliteStore(path)
    try:
        for r in range(rounds):
            for name in agents:
                agent = agent_id(r, name)
                store.create_agent(agent, "none", AgentCreated(str(COMPONENT), "none"))
    finally:
        store.close()


def plan(
    seed: int, round_no: int, workers: int, ops: int, agents: Sequence[str]
) -> list[list[tuple[Any, ...]]]:
    """Each worker's operations for one round; worker i < len(agents) owns agent i (the
    only one that creates its promises). Indexes range a little past what gets created,
    so unknown promises are asked for too."""
    rng = random.Random(f"{seed}/{round_no}")
    plans: list[list[tuple[Any, ...]]] = []
    for w in range(workers):
        mine: list[tuple[Any, ...]] = []
        for n in range(ops):
            agent = rng.choice(agents)
            idx = rng.randint(2, 4)
            roll = rng.random()
            if w < len(agents) and roll < 0.3:
                mine.append(("create", agents[w]))
            elif roll < 0.6:
                mine.append(("complete", agent, idx, bytes([w, n])))
            elif roll < 0.85:
                mine.append(("get", agent, idx))
            else:
                mine.append(("list", agent, rng.random() < 0.5))
        plans.append(mine)
    return plans


def execute(
    store: SqliteStore, round_no: int, worker: int, calls: list[tuple[Any, ...]], seed: int
) -> list[Op]:
    """Run one worker's calls against the store, timing each."""
    rng = random.Random(f"{seed}/{round_no}/{worker}/pause")
    done: list[Op] = []
    next_idx: dict[str, int] = {}
    for call in calls:
        kind, name = call[0], call[1]
        agent = agent_id(round_no, name)
        if rng.random() < 0.5:
            time.sleep(rng.random() * 0.002)
        start = time.monotonic_ns()
        result: Any
        try:
            if kind == "create":
                first = next_idx.get(name) or store.oplog_length(agent) + 1
                promise = store.create_promise(agent, [PromiseCreated("lin")], first, "lin")
                next_idx[name] = promise.oplog_idx + 1
                result = promise.oplog_idx
            elif kind == "complete":
                result = store.complete_promise(PromiseId(agent, call[2]), call[3])
            elif kind == "get":
                record = store.get_promise(PromiseId(agent, call[2]))
                result = (record.completed, record.data)
            else:
                result = tuple(
                    (p.id.oplog_idx, p.completed, p.data)
                    for p in store.list_promises(agent, pending_only=call[2])
                )
        except PromiseNotFound:
            result = NOT_FOUND
        done.append(Op(worker, call, result, start, time.monotonic_ns()))
    return done


def thread_rounds(
    path: Path, seed: int, rounds: int, workers: int, ops: int, agents: Sequence[str]
) -> list[list[Op]]:
    """Every round's history, with ``workers`` threads sharing one SqliteStore."""
    store = SqliteStore(path)
    try:
        return [_thread_round(store, seed, r, workers, ops, agents) for r in range(rounds)]
    finally:
        store.close()


def _thread_round(
    store: SqliteStore, seed: int, r: int, workers: int, ops: int, agents: Sequence[str]
) -> list[Op]:
    plans = plan(seed, r, workers, ops, agents)
    barrier = threading.Barrier(workers)
    results: list[list[Op]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            barrier.wait()
            results[w] = execute(store, r, w, plans[w], seed)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [op for mine in results for op in mine]


def process_worker(
    path: str,
    seed: int,
    rounds: int,
    worker: int,
    workers: int,
    ops: int,
    agents: Sequence[str],
    barrier: Any,
    out: Any,
) -> None:
    """A process's share of every round: waits at the barrier, then runs its calls."""
    store = SqliteStore(path)
    try:
        for r in range(rounds):
            calls = plan(seed, r, workers, ops, agents)[worker]
            barrier.wait()
            out.put((r, execute(store, r, worker, calls, seed)))
    finally:
        store.close()
