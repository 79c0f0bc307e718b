"""Known injected delays are measured back (issue 2 §3: the clock/delay seam)."""

from __future__ import annotations

import statistics

import pytest

from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock, PerfClock
from profiler.collect import Collector, RunSettings
from profiler.store import SessionStore

TOLERANCE_MS = 0.5


def measured_latencies(backend, clock, tokens, **settings):
    store = SessionStore()
    run = RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=0, **settings)
    (outcome,) = Collector(backend, store, run, clock=clock).run(["measure me"])
    return [t["latency_ms"] for t in store.session_tokens(outcome.session_id)]


class RecordingClock(PerfClock):
    """The real clock, also noting how long each injected delay really lasted (passed in, not patched)."""

    def __init__(self) -> None:
        self.slept_ms: list[float] = []

    def sleep_ns(self, duration_ns: int) -> None:
        started = self.now_ns()
        super().sleep_ns(duration_ns)
        self.slept_ms.append((self.now_ns() - started) / 1e6)


def test_injected_delays_on_the_real_clock_are_measured_within_half_a_millisecond():
    # GIVEN a backend that really spends 20 ms on the prefill and 5 ms per decode step
    clock = RecordingClock()
    backend = ScriptedBackend(prefill_ms=20, decode_ms=5, clock=clock)
    # WHEN the profiler's loop (recording, store flushes and the metrics sampler included) times it
    latencies = measured_latencies(backend, clock, 80)
    first, decode = latencies[0], latencies[1:]
    # THEN each token's latency is the time its step really took, within ±0.5 ms: nothing the loop
    # does per token (recording, flushing, the sampler thread) leaks into a measured interval.
    # On this shared 2-core box the scheduler may wake a sleeping step late (at load 4 a quarter of
    # the 5 ms steps really last 6-8 ms): that is the host's noise, not a measurement error, so
    # against the injected figures the test uses the median; against the truth, 95 % of the tokens.
    assert len(clock.slept_ms) == len(latencies)
    errors = [measured - slept for measured, slept in zip(latencies, clock.slept_ms)]
    assert all(error >= 0 for error in errors), "a latency shorter than the step it timed"
    accurate = [error <= TOLERANCE_MS for error in errors]
    assert sum(accurate) >= 0.95 * len(latencies), f"measured minus real step time: {sorted(errors)[-10:]}"
    assert statistics.median(errors) <= 0.1, "the loop adds a per-token cost to what it measures"
    assert 20 <= first and (abs(first - 20) <= TOLERANCE_MS or errors[0] <= TOLERANCE_MS)
    assert abs(statistics.median(decode) - 5) <= TOLERANCE_MS
    # a delay is never measured short: the loop's clock brackets the whole step
    assert min(decode) >= 5 - 0.05


def test_a_context_dependent_delay_is_measured_per_token():
    clock = RecordingClock()
    backend = ScriptedBackend(prefill_ms=3, decode_ms=lambda context: 2 + (context % 3), clock=clock)
    latencies = measured_latencies(backend, clock, 40, system_metrics=False)
    input_tokens = len(backend.encode("measure me"))
    injected = [2 + ((input_tokens + k - 1) % 3) for k in range(2, 41)]
    # per token against what the step really took, and the typical offset from what was injected
    errors = [measured - slept for measured, slept in zip(latencies, clock.slept_ms)]
    assert sum(0 <= error <= TOLERANCE_MS for error in errors) >= 0.95 * len(errors)
    assert abs(statistics.median(ms - want for ms, want in zip(latencies[1:], injected))) <= TOLERANCE_MS


def test_injected_delays_on_a_manual_clock_are_measured_exactly():
    clock = ManualClock(start_ns=1_000_000_000)
    backend = ScriptedBackend(prefill_ms=20, decode_ms=5, clock=clock)
    latencies = measured_latencies(backend, clock, 50)
    assert latencies == [20.0] + [5.0] * 49


def test_manual_clock_delays_can_vary_with_context():
    clock = ManualClock()
    backend = ScriptedBackend(prefill_ms=12.5, decode_ms=lambda context: 0.25 * context, clock=clock)
    latencies = measured_latencies(backend, clock, 10, system_metrics=False)
    input_tokens = len(backend.encode("measure me"))
    assert latencies[0] == 12.5
    assert latencies[1:] == [pytest.approx(0.25 * (input_tokens + k - 1), abs=1e-9) for k in range(2, 11)]
