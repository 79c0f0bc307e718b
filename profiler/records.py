"""What one session and one timed token are, as plain dataclasses (no torch, no sqlite)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import field, make_dataclass
from typing import Any

from profiler.session_fields import META_FIELDS, SUMMARY_FIELDS, TOKEN_FIELDS, Field

RUNNING = "running"
FINISHED = "finished"
INTERRUPTED = "interrupted"
FAILED = "failed"
STATUSES = (RUNNING, FINISHED, INTERRUPTED, FAILED)

PREFILL = "prefill"
DECODE = "decode"

DEVICE_TIMING = "device"
"""Latency measured around the local decode step (device time, host-synchronised)."""
ARRIVAL_TIMING = "arrival"
"""Latency seen by a client as gaps between a server's streamed chunks."""
TIMINGS = (DEVICE_TIMING, ARRIVAL_TIMING)


def utc_now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def iso_from_unix(seconds: float) -> str:
    return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).isoformat(timespec="microseconds")


def _dataclass_of(name: str, fields_: tuple[Field, ...], doc: str, **options: Any):
    """A dataclass with one attribute per field of the table, in its order, typed and defaulted as it says."""
    spec = []
    for f in fields_:
        if f.json:
            default = field(default_factory=dict, metadata={"doc": f.doc})
        elif f.required:
            default = field(metadata={"doc": f.doc})
        else:
            default = field(default=f.default, metadata={"doc": f.doc})
        spec.append((f.name, f.type, default))
    cls = make_dataclass(name, spec, **options)
    cls.__module__ = __name__  # where pickle and repr() find it
    cls.__doc__ = doc
    return cls


# The fields themselves are listed, with what each means, in profiler/session_fields.py.
TokenRecord = _dataclass_of("TokenRecord", TOKEN_FIELDS, "One generated token and how long it took.", slots=True)
SessionMeta = _dataclass_of(
    "SessionMeta", META_FIELDS,
    "What is known about a session when it starts: what ran, on what, with which settings, in which run or sweep.")
SessionSummary = _dataclass_of(
    "SessionSummary", SUMMARY_FIELDS,
    "Headline figures of a session, stored with it so listing 10k sessions stays instant.")


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), on an already sorted list."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = (len(sorted_values) - 1) * q / 100.0
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    fraction = position - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * fraction


def summarize(first_token_ms: float | None, decode_ms: list[float], token_count: int) -> SessionSummary:
    ordered = sorted(decode_ms)
    if ordered:
        mean = sum(ordered) / len(ordered)
        p50, p95, p99 = (percentile(ordered, q) for q in (50, 95, 99))
        tokens_per_s = 1000.0 / mean if mean > 0 else None
    else:
        mean = p50 = p95 = p99 = tokens_per_s = None
    return SessionSummary(token_count, first_token_ms, p50, p95, p99, mean, tokens_per_s)
