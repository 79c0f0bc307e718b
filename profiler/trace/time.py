"""The trace's one clock and its exact units.

Trace-event `ts` and `dur` are microseconds, as JSON numbers. Every time here is an integer count of
nanoseconds, and it is written as `ns / 1000`: Python divides two integers correctly rounded and
prints a float by its shortest round-tripping decimal, so the JSON holds the exact decimal with at
most three places (12345678 ns -> 12345.678). A reader gets the nanoseconds back exactly with
`round(value * 1000)` (or by reading the literal as a decimal), as long as values stay below 2**53 ns
(104 days of timeline): `ts` counts from the trace's origin, not from 1970, for that reason.
Perfetto's JSON importer does the same (llround(ts * 1000)), so it shows the exact ns too.
"""

from __future__ import annotations

import math

from profiler.errors import InputError

CLOCK = ("the collecting host's wall clock (Unix time, time.time()); ts = microseconds since origin_unix_ns, "
         "written as exact decimals with at most three places (ns = round(ts * 1000)). Token durations are the "
         "stored latencies (perf_counter_ns around each step, or chunk arrival gaps for a remote stream); each "
         "token ends at its stored wall time (a remote token at its chunk's arrival)")
"""What the trace's metadata says about its clock."""


def ns_from_ms(value: float | None, what: str) -> int:
    """A stored millisecond figure as integer ns: exact for latencies the decode loop stored (ns / 1e6)."""
    if value is None or not math.isfinite(value) or value < 0:
        raise InputError(f"{what} is {value!r}, not a duration: the session's rows are damaged")
    return round(value * 1e6)


def ns_from_unix(seconds: float) -> int:
    return round(seconds * 1e9)


def trace_us(ns: int) -> float:
    """Integer ns as the trace's microseconds (exact decimal, at most three places)."""
    return ns / 1000


def ns_from_trace_us(value: float) -> int:
    """The inverse of `trace_us`, for readers and tests."""
    return round(value * 1000)
