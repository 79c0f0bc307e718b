"""Stored sessions with known latencies, for the compare and fit tests (app, CLI and tmux alike).

Each session is a real store row with real token rows, written through `SessionStore.import_sessions`
(the path `import` takes). Latencies are a fixed formula plus a seeded spread, so a test knows
every figure in advance: a session of `scale` 1.2 is exactly 1.2 times its twin of scale 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from profiler.records import SessionMeta, TokenRecord
from profiler.store import SessionStore


@dataclass(frozen=True)
class Spec:
    session_id: str
    prompt: str
    input_tokens: int = 16
    tokens: int = 64
    scale: float = 1.0
    """Every latency of the session is multiplied by this."""
    seed: int = 0
    """The spread's seed: twins (same seed) differ only by `scale`."""
    model: str = "scripted"
    dtype: str = "float32"
    timing: str = "device"
    day: int = 1
    """Start date (2026-01-DD, 12:00 UTC): the table lists newest first."""
    warmup: bool = False
    """Stored as a warm-up session (left out of statistics unless asked for)."""


def latencies(spec: Spec) -> list[float]:
    """ms per token: a first token of 20 ms + 0.1 ms per prompt token, then decode steps of
    4 ms + 0.01 ms per context token + a gamma spread (tails like a real run's)."""
    spread = np.random.default_rng(spec.seed).gamma(2.0, 0.3, size=spec.tokens)
    values = []
    for k in range(1, spec.tokens + 1):
        context = spec.input_tokens + k - 1
        base = 20.0 + spec.input_tokens * 0.1 if k == 1 else 4.0 + context * 0.01 + float(spread[k - 1])
        values.append(base * spec.scale)
    return values


def seed_sessions(store: SessionStore, specs: list[Spec]) -> SessionStore:
    rows = []
    for spec in specs:
        meta = SessionMeta(prompt=spec.prompt, input_tokens=spec.input_tokens, model=spec.model,
                           model_label="scripted delays", dtype=spec.dtype, device="cpu", backend="scripted",
                           warmup=spec.warmup)
        tokens = [TokenRecord(k=k, context_size=spec.input_tokens + k - 1, latency_ms=latency,
                              phase="prefill" if k == 1 else "decode", token_id=97, token_text="ab "[k % 3],
                              wall_time=1_700_000_000.0 + k)
                  for k, latency in enumerate(latencies(spec), 1)]
        started = f"2026-01-{spec.day:02d}T12:00:00.000000+00:00"
        rows.append((meta, {"id": spec.session_id, "started": started, "ended": started, "timing": spec.timing},
                     tokens))
    store.import_sessions(rows)
    return store
