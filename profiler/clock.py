"""The clock seam: the decode loop reads time only through a Clock.

The real clock is `perf_counter_ns`. Tests and the scripted backend pass a `ManualClock`
(time advances only when told) or sleep on the real clock, so known delays can be measured
back exactly.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...

    def sleep_ns(self, duration_ns: int) -> None: ...


class PerfClock:
    """The real monotonic high-resolution clock."""

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def sleep_ns(self, duration_ns: int) -> None:
        # time.sleep overshoots by ~0.1 ms; sleep most of the way, then spin, so an
        # injected 5 ms delay really lasts 5 ms (the ±0.5 ms measure-back test depends on it).
        deadline = time.perf_counter_ns() + duration_ns
        coarse = duration_ns - 1_000_000
        if coarse > 0:
            time.sleep(coarse / 1e9)
        while time.perf_counter_ns() < deadline:
            pass


class ManualClock:
    """A clock that moves only when `sleep_ns`/`advance_ns` is called: exact, deterministic timings."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def sleep_ns(self, duration_ns: int) -> None:
        self._now += duration_ns

    advance_ns = sleep_ns
