"""A small bounded mapping that forgets its least recently used entries.

For per-agent state that is worth keeping for agents run recently but must not grow
with every agent a long-lived process has ever run (issue 13: 100,000 suspended agents
must cost the host almost nothing). Not thread-safe: callers hold their own lock, or
touch it from one thread, or accept that a racing pair of calls may create two values.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``maxsize`` entries; reading or setting one makes it the most recent."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"an LRU needs room for at least one entry, not {maxsize}")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def setdefault(self, key: K, make: Callable[[], V]) -> V:
        """The value of ``key``, made by ``make()`` (and stored) when absent."""
        value = self.get(key)
        if value is None:
            value = self._data[key] = make()
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def pop(self, key: K) -> V | None:
        return self._data.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)
