"""The linearizability checker (tests/linearizability.py) on its own: it rejects
histories that are not linearizable and accepts overlapping ones."""

from __future__ import annotations

from tests.linearizability import NOT_FOUND, Op, linearize


def test_the_checker_rejects_histories_that_are_not_linearizable() -> None:
    create = Op(0, ("create", "a"), 2, 0, 10)
    # Two completions of one promise both answered true.
    twice = [
        create,
        Op(1, ("complete", "a", 2, b"x"), True, 20, 30),
        Op(2, ("complete", "a", 2, b"y"), True, 25, 35),
    ]
    assert linearize(twice) is None
    # A read after a completion returned still sees the promise pending.
    stale = [
        create,
        Op(1, ("complete", "a", 2, b"x"), True, 20, 30),
        Op(2, ("get", "a", 2), (False, None), 40, 50),
    ]
    assert linearize(stale) is None
    # Overlapping in time, the same read is fine (it may come first).
    overlapping = [
        create,
        Op(1, ("complete", "a", 2, b"x"), True, 20, 30),
        Op(2, ("get", "a", 2), (False, None), 25, 50),
    ]
    assert linearize(overlapping) is not None
    # A promise seen before it was created.
    early = [Op(1, ("get", "a", 2), (False, None), 0, 5), Op(0, ("create", "a"), 2, 10, 20)]
    assert linearize(early) is None
    assert linearize([Op(1, ("get", "a", 2), NOT_FOUND, 0, 5), *early[1:]]) is not None
