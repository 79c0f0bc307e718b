"""Forward vs sampling time inside one decode step, at no cost to the step itself.

On CUDA three events are recorded on the stream (start, forward done, sampled) and read only after
the host sync that yields the token ids, so timing adds no synchronisation. On the CPU, work is
synchronous: the clock is read at the same three points, the last after the host has the ids.
The step's own latency is measured by the decode loop around `step()`; this only splits it.
"""

from __future__ import annotations

import time
from typing import Any


class StepTimer:
    def __init__(self, torch: Any, cuda: bool) -> None:
        self._events = [torch.cuda.Event(enable_timing=True) for _ in range(3)] if cuda else None
        self._start = self._forward_done = 0

    def start(self) -> None:
        if self._events:
            self._events[0].record()
        else:
            self._start = time.perf_counter_ns()

    def forward_done(self) -> None:
        if self._events:
            self._events[1].record()
        else:
            self._forward_done = time.perf_counter_ns()

    def sampled(self) -> None:
        """On CUDA: mark the end of sampling on the stream (call before the host sync)."""
        if self._events:
            self._events[2].record()

    def split_ns(self) -> tuple[int, int]:
        """(forward ns, sampling ns); call after the host sync (the ids are on the host)."""
        if self._events:
            events = self._events
            return int(events[0].elapsed_time(events[1]) * 1e6), int(events[1].elapsed_time(events[2]) * 1e6)
        sampled = time.perf_counter_ns()
        return self._forward_done - self._start, sampled - self._forward_done
