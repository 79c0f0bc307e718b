"""Why was token k slow? The slowest decode tokens of a session, each with what was happening.

Evidence comes only from what the collector recorded beside the token:
- garbage collections that ran inside its timed interval (`gc_collections`, `gc_ms`);
- how long the decoding thread waited for a CPU inside it (`cpu_wait_ms`, `preemptions`: the
  scheduler's own run-queue accounting, profiler/sched_watch.py) — "waited 3.20 ms for a CPU";
- forward vs sampling time (`forward_ms`, `sample_ms`: CUDA events on a GPU), compared with the
  session's usual split, so "the forward pass was slow" is told apart from "sampling was slow";
- system metrics sampled at 20 Hz around the token's interval: an SM clock below the session's
  usual clock, a temperature rise, NVML throttle reasons, the process getting less CPU than usual
  (descheduled: another process or the OS had the core), or an RSS jump.
When none of these moved, the token is called unexplained — on a CPU that usually means the OS
ran something else on the core; we don't claim a cause we didn't see.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence

# NVML clocks-event (throttle) reason bits (nvml.h: nvmlClocksEventReason*); idle and
# application-clock settings are not slowdowns, so they're not reported as causes
THROTTLE_BITS = {
    0x4: "software power cap",
    0x8: "hardware slowdown",
    0x20: "software thermal slowdown",
    0x40: "hardware thermal slowdown",
    0x80: "power brake",
}
NEIGHBOURHOOD_S = 0.06
"""Metric samples this close to a token's interval count as beside it (the sampler runs at 20 Hz)."""
CLOCK_DROP = 0.05
"""An SM clock this far below the session's median clock counts as a drop."""
CPU_SHARE_DROP = 0.8
"""The process's CPU use beside a token below this fraction of its usual use: it was kept off the CPU."""
RSS_JUMP_MB = 32.0
CPU_WAIT_MS = 0.05
"""A run-queue wait below this is the scheduler's ordinary bookkeeping (a tick, a wake-up), not a cause."""
ORDINARY_TIMES = 1.25
"""A token within this multiple of the median is ordinary jitter: it may be among the slowest of a
steady session, but a 0.3 ms wobble is not something to explain, and blaming the forward pass for
it would be noise."""


@dataclass
class Spike:
    k: int
    context_size: int
    latency_ms: float
    times_median: float
    """latency / the session's median decode latency."""
    excess_ms: float
    """latency - the median decode latency: the part that needs explaining."""
    causes: list[str] = field(default_factory=list)
    explained_ms: float = 0.0
    """The part of the excess accounted for by measured causes (GC time, CPU wait, forward/sampling excess)."""
    cpu_wait_ms: float | None = None
    """How long the decoding thread waited for a CPU inside this token; None: not measured."""

    @property
    def ordinary(self) -> bool:
        return self.times_median < ORDINARY_TIMES

    @property
    def summary(self) -> str:
        # the threshold first: a token under it is not a spike, whatever was recorded beside it (listing
        # causes for a 1.22× token, while calling anything under 1.25× jitter, contradicted itself)
        if self.ordinary:
            return f"not a spike: within {ORDINARY_TIMES}× the median"
        if self.causes:
            return "; ".join(self.causes)
        waits = "no CPU wait, " if self.cpu_wait_ms is not None else ""
        return f"unexplained: no GC, {waits}no clock or throttle change recorded"


def find_spikes(tokens: Sequence[dict[str, Any]], metrics: Sequence[dict[str, Any]] = (), *,
                top: int = 10) -> list[Spike]:
    """The `top` slowest decode tokens, slowest first, each with its recorded causes."""
    decode = [t for t in tokens if t.get("phase") == "decode" and t.get("latency_ms") is not None]
    if not decode:
        return []
    median = statistics.median(t["latency_ms"] for t in decode)
    forward_usual = _median(t.get("forward_ms") for t in decode)
    sample_usual = _median(t.get("sample_ms") for t in decode)
    clock_usual = _median(m.get("sm_clock_mhz") for m in metrics)
    cpu_usual = _median(m.get("cpu_util") for m in metrics)
    rss_usual = _median(m.get("rss_mb") for m in metrics)
    ordered = sorted(metrics, key=lambda m: m["wall_time"])
    spikes = []
    for token in sorted(decode, key=lambda t: t["latency_ms"], reverse=True)[:top]:
        latency = token["latency_ms"]
        spike = Spike(token["k"], token["context_size"], latency, latency / median if median > 0 else float("inf"),
                      latency - median)
        _gc_cause(spike, token)
        _cpu_wait_cause(spike, token)
        _split_cause(spike, token, forward_usual, sample_usual, median)
        beside = _samples_beside(ordered, token)
        _metric_causes(spike, beside, clock_usual, cpu_usual, rss_usual)
        spikes.append(spike)
    return spikes


def _gc_cause(spike: Spike, token: dict) -> None:
    collections = token.get("gc_collections") or 0
    if collections:
        gc_ms = token.get("gc_ms") or 0.0
        plural = "s" if collections > 1 else ""
        spike.causes.append(f"garbage collection: {collections} collection{plural}, {gc_ms:.2f} ms")
        spike.explained_ms += gc_ms


def _cpu_wait_cause(spike: Spike, token: dict) -> None:
    """The scheduler kept the decoding thread off a CPU for this long inside the token: seen, not inferred."""
    wait = token.get("cpu_wait_ms")
    spike.cpu_wait_ms = wait
    if wait is None or wait < CPU_WAIT_MS:
        return
    switches = token.get("preemptions") or 0
    preempted = f", preempted {switches} time{'s' if switches != 1 else ''}" if switches else ""
    spike.causes.append(f"waited {wait:.2f} ms for a CPU{preempted}: another process or thread had the core")
    spike.explained_ms += wait


def _split_cause(spike: Spike, token: dict, forward_usual: float | None, sample_usual: float | None,
                 median: float) -> None:
    # what GC already accounts for is not blamed again on the part it ran in (a collection during the
    # forward pass makes that pass slow too); only a material remainder is worth a second cause
    already = spike.explained_ms
    left = spike.excess_ms - already
    if left < (ORDINARY_TIMES - 1) * median:
        return
    forward, sample = token.get("forward_ms"), token.get("sample_ms")
    for name, value, usual in (("in the forward pass", forward, forward_usual), ("in sampling", sample, sample_usual)):
        if value is None or usual is None:
            continue
        extra = value - usual - already
        # a part counts as the cause when it holds most of what is left to explain
        if extra > 0.5 * left:
            spike.causes.append(f"{name}: {value:.2f} ms (usually {usual:.2f} ms)")
            spike.explained_ms += extra


def _samples_beside(ordered: Sequence[dict], token: dict) -> list[dict]:
    ended = token.get("wall_time")
    if not ended:
        return []
    started = ended - token["latency_ms"] / 1000.0
    return [m for m in ordered if started - NEIGHBOURHOOD_S <= m["wall_time"] <= ended + NEIGHBOURHOOD_S]


def _metric_causes(spike: Spike, beside: list[dict], clock_usual: float | None, cpu_usual: float | None,
                   rss_usual: float | None) -> None:
    if not beside:
        return
    clocks = [m["sm_clock_mhz"] for m in beside if m.get("sm_clock_mhz")]
    if clocks and clock_usual and min(clocks) < clock_usual * (1 - CLOCK_DROP):
        spike.causes.append(f"SM clock {min(clocks):.0f} MHz (usually {clock_usual:.0f} MHz)")
    temps = [m["gpu_temp_c"] for m in beside if m.get("gpu_temp_c") is not None]
    if len(temps) >= 2 and max(temps) - min(temps) >= 2:
        spike.causes.append(f"GPU temperature {min(temps):.0f}→{max(temps):.0f} °C")
    reasons = set()
    for m in beside:
        reasons |= _throttle_names(m.get("throttle_reasons"))
    if reasons:
        spike.causes.append("throttled: " + ", ".join(sorted(reasons)))
    cpu = [m["cpu_util"] for m in beside if m.get("cpu_util") is not None]
    if cpu and cpu_usual and min(cpu) < cpu_usual * CPU_SHARE_DROP:
        spike.causes.append(f"process got less CPU ({min(cpu):.0f}% vs usually {cpu_usual:.0f}%): "
                            "another process or the OS had the core")
    rss = [m["rss_mb"] for m in beside if m.get("rss_mb") is not None]
    if rss and rss_usual is not None and max(rss) - rss_usual >= RSS_JUMP_MB:
        spike.causes.append(f"memory grew to {max(rss):.0f} MB (usually {rss_usual:.0f} MB)")


def _throttle_names(value: Any) -> set[str]:
    if value in (None, ""):
        return set()
    try:
        bits = int(value, 16) if isinstance(value, str) else int(value)
    except ValueError:
        return set()
    return {name for bit, name in THROTTLE_BITS.items() if bits & bit}


def _median(values) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


__all__ = ["Spike", "THROTTLE_BITS", "find_spikes"]
