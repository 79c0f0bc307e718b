"""This machine's memory bandwidth and fp32 FLOPS, measured, for the roofline of a CPU sweep.

A CPU has no spec-sheet row to look up, so the roofline floor of a CPU cell uses two probes:
  - memory bandwidth: numpy copies a 256 MiB array (every byte read once and written once, so
    2 x bytes per copy), best of 5 — a simple copy, what a decode step's weight reads resemble;
  - fp32 FLOPS: torch matmul of 1024 x 1024 matrices at torch's thread count, best of 5.
Both are best-of: the floor must be a bound, so the probe takes the machine at its fastest.
"""

from __future__ import annotations

import math
import time
from typing import Any

PROBE_WORDS = ("memory bandwidth: best of 5 numpy copies of a 256 MiB array (2 x bytes per copy); "
               "FLOPS: best of 5 fp32 1024x1024 torch matmuls")


def memory_bandwidth_gb_s(mib: int = 256, repeats: int = 5) -> float:
    import numpy as np

    source = np.ones(mib * 2**20 // 4, dtype=np.float32)
    target = np.empty_like(source)
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - started)
    return 2 * source.nbytes / best / 1e9  # every byte is read once and written once


def fp32_tflops(torch: Any, size: int = 1024, repeats: int = 5) -> float:
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)  # the first call pays for the thread pool's start-up
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e12


def probe_cpu(torch: Any) -> dict[str, Any]:
    """The figures a sweep stores in its spec (`hardware`) for the roofline of CPU cells."""
    return {"name": "this CPU (probed)", "bandwidth_gb_s": memory_bandwidth_gb_s(), "tflops": fp32_tflops(torch),
            "threads": torch.get_num_threads(), "how": PROBE_WORDS}


__all__ = ["PROBE_WORDS", "fp32_tflops", "memory_bandwidth_gb_s", "probe_cpu"]
