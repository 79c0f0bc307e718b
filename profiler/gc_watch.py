"""Counting garbage collections, so a GC pause that lands inside a token is recorded on it."""

from __future__ import annotations

import gc
import time


class GcWatch:
    """Running totals of collections and their time, read before and after each token.

    `gc.callbacks` costs nothing between collections; the totals are plain attribute reads.
    """

    def __init__(self) -> None:
        self.collections = 0
        self.total_ns = 0
        self._started_ns = 0

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._started_ns = time.perf_counter_ns()
        else:
            self.collections += 1
            self.total_ns += time.perf_counter_ns() - self._started_ns
