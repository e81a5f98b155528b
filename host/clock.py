"""The host's steady clock for timers: wall-clock nanoseconds that never step.

Durable wake-ups are stored as wall-clock instants (they must mean something to another
process and after a restart), but comparing them with the raw wall clock lets a clock
step stretch or cut a sleep: a -60 s step turned a 3 s sleep into 63 s, and +1 h ended a
1 h sleep at once. This clock reads the wall clock once, when the process starts, and
advances it with the monotonic clock from then on, so a step while the process runs
changes nothing. (A process started after a step anchors on the new wall clock; the
monotonic clock does not advance while the machine itself sleeps.)
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SteadyClock:
    def __init__(
        self,
        wall: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._monotonic = monotonic
        self._anchor = (wall(), monotonic())

    def now_ns(self) -> int:
        wall0, mono0 = self._anchor
        return wall0 + (self._monotonic() - mono0)


_clock = SteadyClock()


def steady_ns() -> int:
    """Now on this process's steady clock (wall-clock nanoseconds since the epoch)."""
    return _clock.now_ns()
