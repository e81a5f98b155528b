"""This process's per-agent run locks, kept only while a thread holds or waits for one.

The executor serialises the runs of one agent in this process with a lock per agent. A
table that kept every agent's lock forever grew by a lock, a dict slot and the agent id
for each agent ever run: with 100,000 suspended agents a server's RSS was 146.7 MiB with
it and 131.7 MiB without (scripts/bench_memory.py, issue 13), ~150 B per agent. Here
an agent's entry counts its users and is dropped when the last one leaves, so the table
holds only agents running or about to run now.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from host.ids import AgentId


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0


class AgentLocks:
    """One non-reentrant lock per agent, created on first use and dropped when unused."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._entries: dict[AgentId, _Entry] = {}

    def _enter(self, agent: AgentId) -> _Entry:
        with self._guard:
            entry = self._entries.get(agent)
            if entry is None:
                entry = self._entries[agent] = _Entry()
            entry.users += 1
            return entry

    def _leave(self, agent: AgentId, entry: _Entry) -> None:
        with self._guard:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[agent]

    @contextmanager
    def hold(self, agent: AgentId) -> Iterator[None]:
        """Hold the agent's lock for the block (waits while another thread holds it)."""
        entry = self._enter(agent)
        try:
            with entry.lock:
                yield
        finally:
            self._leave(agent, entry)

    @contextmanager
    def hold_if_free(self, agent: AgentId) -> Iterator[bool]:
        """Hold the agent's lock for the block if no thread holds it now (never waits);
        the block is told whether it holds it."""
        entry = self._enter(agent)
        try:
            held = entry.lock.acquire(blocking=False)
            try:
                yield held
            finally:
                if held:
                    entry.lock.release()
        finally:
            self._leave(agent, entry)

    def wait_free(self, agent: AgentId, timeout: float) -> bool:
        """Wait up to ``timeout`` s until no thread holds the agent's lock; whether it
        became free."""
        entry = self._enter(agent)
        try:
            if entry.lock.acquire(timeout=timeout):
                entry.lock.release()
                return True
            return False
        finally:
            self._leave(agent, entry)

    def locked(self, agent: AgentId) -> bool:
        """Whether a thread holds the agent's lock now."""
        with self._guard:
            entry = self._entries.get(agent)
            return entry is not None and entry.lock.locked()

    def __len__(self) -> int:
        """How many agents have an entry (held or waited for) now."""
        with self._guard:
            return len(self._entries)
