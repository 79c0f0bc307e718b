"""What one session and one timed token are, as plain dataclasses (no torch, no sqlite)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(slots=True)
class TokenRecord:
    """One generated token and how long it took."""

    k: int
    """1-based token index; k = 1 is the first token and includes prompt processing."""
    context_size: int
    """Tokens visible when predicting this token: input tokens + k - 1."""
    latency_ms: float
    """forward + sampling + the host sync that yields the token id."""
    phase: str
    """`prefill` for k = 1, else `decode`."""
    token_id: int | None
    token_text: str
    wall_time: float
    """Unix seconds when the token was produced (aligns tokens with system metrics)."""
    forward_ms: float | None = None
    sample_ms: float | None = None
    gc_collections: int = 0
    """Garbage collections that ran inside this token's timed interval."""
    gc_ms: float = 0.0


@dataclass
class SessionMeta:
    """What is known about a session when it starts: what ran, on what, with which settings."""

    prompt: str
    input_tokens: int
    model: str
    model_label: str = ""
    quant: str = "none"
    dtype: str = ""
    device: str = ""
    backend: str = "huggingface"
    batch_size: int = 1
    attn: str = ""
    gpu_name: str = ""
    warmup: bool = False
    repeat_index: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    source: str = "collect"


@dataclass
class SessionSummary:
    """Headline figures of a session, stored with it so listing 10k sessions stays instant."""

    tokens: int
    ttft_ms: float | None
    decode_p50_ms: float | None
    decode_p95_ms: float | None
    decode_p99_ms: float | None
    decode_mean_ms: float | None
    tokens_per_s: float | None
    """Per-sequence decode throughput: 1000 / mean decode ms (TPOT)."""


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
