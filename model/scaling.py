"""How throughput and per-token latency scale with batch size: the knee and the cost of each doubling.

For each step from batch B1 to B2 the throughput exponent a = log(T2/T1) / log(B2/B1): a = 1 means
doubling the batch doubles aggregate tokens/s at no cost in per-token latency (memory-bound decoding:
the weights are read once for the whole batch); a = 0 means it only doubles latency (compute-bound).
Per doubling, throughput is x 2^a; per-token latency is measured directly as (L2/L1)^(1/log2(B2/B1)).
The knee is the first batch size after which a < KNEE_EXPONENT: from there, a larger batch buys
little throughput for its latency. Pure functions of measured figures.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

KNEE_EXPONENT = 0.5


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    throughput_exponent: float
    per_doubling_throughput_x: float
    per_doubling_latency_x: float | None
    """Per-token latency multiplier per doubling, from the measured latencies (None without them)."""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Scaling:
    batches: list[int]
    segments: list[Segment]
    knee: int | None
    """First batch after which doubling adds less than 2^KNEE_EXPONENT x throughput; None if none."""

    def to_json(self) -> dict:
        return {"batches": self.batches, "knee": self.knee, "knee_exponent": KNEE_EXPONENT,
                "segments": [s.to_json() for s in self.segments]}


def scaling(throughput: dict[int, float], latency_ms: dict[int, float] | None = None) -> Scaling:
    """Segments between consecutive batch sizes (those with a positive throughput), and the knee."""
    batches = sorted(b for b, t in throughput.items() if t and t > 0)
    segments: list[Segment] = []
    knee = None
    for small, large in zip(batches, batches[1:]):
        doublings = math.log2(large / small)
        exponent = math.log(throughput[large] / throughput[small]) / math.log(large / small)
        latency_x = None
        if latency_ms and latency_ms.get(small) and latency_ms.get(large):
            latency_x = (latency_ms[large] / latency_ms[small]) ** (1 / doublings)
        segments.append(Segment(small, large, exponent, 2**exponent, latency_x))
        if knee is None and exponent < KNEE_EXPONENT:
            knee = small
    return Scaling(batches, segments, knee)


def describe(label: str, result: Scaling, bounds: dict[int, str] | None = None) -> list[str]:
    """The scaling analysis in words, one line per fact."""
    if len(result.batches) < 2:
        return [f"{label}: one batch size measured, no scaling to describe"]
    lines = []
    for seg in result.segments:
        latency = (f", per-token latency x{seg.per_doubling_latency_x:.2f}" if seg.per_doubling_latency_x is not None
                   else "")
        lines.append(f"{label}: batch {seg.start} -> {seg.end}: each doubling gives throughput "
                     f"x{seg.per_doubling_throughput_x:.2f}{latency} (exponent {seg.throughput_exponent:.2f})")
    if result.knee is not None:
        lines.append(f"{label}: knee at batch {result.knee}: beyond it each doubling adds less than "
                     f"x{2 ** KNEE_EXPONENT:.2f} throughput")
    else:
        lines.append(f"{label}: no knee up to batch {result.batches[-1]}: throughput still scales with batch")
    if bounds:
        memory = [b for b in result.batches if bounds.get(b) == "memory"]
        compute = [b for b in result.batches if bounds.get(b) == "compute"]
        parts = []
        if memory:
            parts.append(f"memory-bound at batch {', '.join(map(str, memory))}")
        if compute:
            parts.append(f"compute-bound at batch {', '.join(map(str, compute))}")
        if parts:
            lines.append(f"{label}: by the roofline, {' and '.join(parts)}")
    return lines


__all__ = ["KNEE_EXPONENT", "Scaling", "Segment", "describe", "scaling"]
