"""host.runtime.lru: the bounded per-agent mapping forgets the least recently used."""

from __future__ import annotations

import pytest

from host.runtime.lru import LRU


def test_it_never_holds_more_than_maxsize() -> None:
    lru: LRU[int, str] = LRU(3)
    for i in range(100):
        lru.setdefault(i, lambda i=i: f"v{i}")  # type: ignore[misc]
        assert len(lru) <= 3
    assert [k in lru for k in (96, 97, 98, 99)] == [False, True, True, True]


def test_a_read_keeps_an_entry_and_the_oldest_goes() -> None:
    lru: LRU[str, list[int]] = LRU(2)
    a = lru.setdefault("a", list)
    lru.setdefault("b", list)
    assert lru.get("a") is a  # "a" is now the most recent
    lru.setdefault("c", list)
    assert "a" in lru and "b" not in lru and "c" in lru


def test_setdefault_makes_a_value_only_when_absent() -> None:
    lru: LRU[str, list[int]] = LRU(2)
    made: list[int] = []

    def make() -> list[int]:
        made.append(1)
        return []

    first = lru.setdefault("k", make)
    first.append(7)
    assert lru.setdefault("k", make) == [7]
    assert made == [1]
    assert lru.pop("k") == [7] and lru.pop("k") is None and len(lru) == 0


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        LRU(0)
