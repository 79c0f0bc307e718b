"""Comparing sessions: which run was faster, by how much, and how sure we can be.

A side is one session or a group of repeats of one configuration. Each figure (TTFT, decode p50,
p95, p99, tokens/s) is compared as a relative difference against the first side (the baseline),
with a percentile-bootstrap confidence interval:

- both sides have several sessions (repeats): resample *sessions* with replacement, so the interval
  includes run-to-run variation (the honest choice: tokens of one run are not independent);
- otherwise: resample *tokens* within each side, which only captures within-run variation and says
  so in `method`. TTFT has one value per session, so it gets no interval from a token bootstrap.

Pure numpy on latencies; the CLI (`tokenlat-tui compare`) and the app fetch them from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

BOOTSTRAP_REPEATS = "bootstrap over repeats"
BOOTSTRAP_TOKENS = "bootstrap over tokens"

METRICS = ("ttft_ms", "decode_p50_ms", "decode_p95_ms", "decode_p99_ms", "tokens_per_s")
METRIC_NAMES = {"ttft_ms": "TTFT", "decode_p50_ms": "p50", "decode_p95_ms": "p95", "decode_p99_ms": "p99",
                "tokens_per_s": "tokens/s"}
HIGHER_IS_BETTER = {"tokens_per_s"}

_BATCH = 256  # bootstrap resamples evaluated at once: bounds memory at _BATCH x tokens floats


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a session, or repeats of one configuration."""

    label: str
    session_ids: tuple[str, ...]
    ttft_ms: tuple[float, ...]
    """One first-token latency per session (sessions without one are left out)."""
    decode_ms: tuple[np.ndarray, ...]
    """Each session's decode latencies (k >= 2), in ms."""

    @property
    def tokens(self) -> int:
        return int(sum(len(d) for d in self.decode_ms) + len(self.ttft_ms))


@dataclass(frozen=True)
class Difference:
    metric: str
    baseline: float | None
    value: float | None
    relative: float | None
    """(value - baseline) / baseline; None when either is missing."""
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass
class Comparison:
    baseline: Side
    other: Side
    method: str
    confidence: float
    resamples: int
    differences: dict[str, Difference] = field(default_factory=dict)

    def verdict(self, metric: str = "decode_p50_ms") -> str:
        return verdict_line(self.other.label, self.baseline.label, self.differences[metric], self.method,
                            self.confidence)


def side_figures(side: Side) -> dict[str, float | None]:
    """The point estimates: pooled decode percentiles, median TTFT, tokens/s = 1000 / mean decode ms."""
    pooled = np.concatenate(side.decode_ms) if side.decode_ms else np.empty(0)
    figures: dict[str, float | None] = {"ttft_ms": float(np.median(side.ttft_ms)) if side.ttft_ms else None}
    if pooled.size:
        p50, p95, p99 = np.percentile(pooled, [50, 95, 99])
        mean = float(pooled.mean())
        figures.update(decode_p50_ms=float(p50), decode_p95_ms=float(p95), decode_p99_ms=float(p99),
                       tokens_per_s=1000.0 / mean if mean > 0 else None)
    else:
        figures.update(decode_p50_ms=None, decode_p95_ms=None, decode_p99_ms=None, tokens_per_s=None)
    return figures


def compare(baseline: Side, other: Side, *, confidence: float = 0.95, resamples: int = 2000,
            seed: int = 0) -> Comparison:
    """Relative differences of `other` against `baseline`, each with a bootstrap interval."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    by_repeats = len(baseline.session_ids) >= 2 and len(other.session_ids) >= 2
    method = BOOTSTRAP_REPEATS if by_repeats else BOOTSTRAP_TOKENS
    rng = np.random.default_rng(seed)
    base_fig, other_fig = side_figures(baseline), side_figures(other)
    draw = _session_bootstrap if by_repeats else _token_bootstrap
    base_draws = draw(baseline, resamples, rng)
    other_draws = draw(other, resamples, rng)
    alpha = (1 - confidence) / 2
    result = Comparison(baseline, other, method, confidence, resamples)
    for metric in METRICS:
        b, v = base_fig[metric], other_fig[metric]
        relative = (v - b) / b if b not in (None, 0) and v is not None else None
        low = high = None
        b_draws, o_draws = base_draws.get(metric), other_draws.get(metric)
        if relative is not None and b_draws is not None and o_draws is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = (o_draws - b_draws) / b_draws
            ratios = ratios[np.isfinite(ratios)]
            if ratios.size:
                low, high = (float(x) for x in np.quantile(ratios, [alpha, 1 - alpha]))
        result.differences[metric] = Difference(metric, b, v, relative, low, high)
    return result


def _token_bootstrap(side: Side, resamples: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    pooled = np.concatenate(side.decode_ms) if side.decode_ms else np.empty(0)
    if not pooled.size:
        return {}
    out = {m: np.empty(resamples) for m in ("decode_p50_ms", "decode_p95_ms", "decode_p99_ms", "tokens_per_s")}
    for start in range(0, resamples, _BATCH):
        stop = min(start + _BATCH, resamples)
        sample = pooled[rng.integers(0, pooled.size, size=(stop - start, pooled.size))]
        p50, p95, p99 = np.percentile(sample, [50, 95, 99], axis=1)
        out["decode_p50_ms"][start:stop], out["decode_p95_ms"][start:stop] = p50, p95
        out["decode_p99_ms"][start:stop] = p99
        out["tokens_per_s"][start:stop] = 1000.0 / sample.mean(axis=1)
    return out  # no TTFT draws: one value per session can't be resampled by token


def _session_bootstrap(side: Side, resamples: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    count = len(side.session_ids)
    ttft = np.asarray(side.ttft_ms, dtype=float)
    out = {m: np.empty(resamples) for m in METRICS}
    for index in range(resamples):
        chosen = rng.integers(0, count, size=count)
        pooled = np.concatenate([side.decode_ms[i] for i in chosen])
        if pooled.size:
            out["decode_p50_ms"][index], out["decode_p95_ms"][index], out["decode_p99_ms"][index] = \
                np.percentile(pooled, [50, 95, 99])
            out["tokens_per_s"][index] = 1000.0 / pooled.mean()
        else:
            for m in ("decode_p50_ms", "decode_p95_ms", "decode_p99_ms", "tokens_per_s"):
                out[m][index] = np.nan
        # TTFT: sessions without a first token (ttft shorter than ids) are resampled among those that have one
        out["ttft_ms"][index] = np.median(ttft[rng.integers(0, ttft.size, size=ttft.size)]) if ttft.size else np.nan
    return out


def verdict_line(label: str, baseline_label: str, diff: Difference, method: str, confidence: float) -> str:
    """One sentence: "B is 12.0% slower at p50 than A (95% CI +3.1% to +21.7%, bootstrap over tokens)"."""
    name = METRIC_NAMES[diff.metric]
    if diff.relative is None:
        return f"{label} vs {baseline_label}: no {name} to compare"
    if diff.ci_low is None or diff.ci_high is None:
        worse = (diff.relative < 0) if diff.metric in HIGHER_IS_BETTER else (diff.relative > 0)
        word = _word(diff.metric, worse)
        return f"{label} is {abs(diff.relative):.1%} {word} at {name} than {baseline_label} (no interval: one value per side)"
    level = f"{confidence:.0%} CI {_signed(diff.ci_low)} to {_signed(diff.ci_high)}, {method}"
    if diff.ci_low <= 0 <= diff.ci_high:
        return f"{label} and {baseline_label} do not differ clearly at {name} ({_signed(diff.relative)}; {level})"
    worse = (diff.relative < 0) if diff.metric in HIGHER_IS_BETTER else (diff.relative > 0)
    # the interval as it is (bootstrap intervals are asymmetric): no "± half-width" that misstates one side
    return f"{label} is {abs(diff.relative):.1%} {_word(diff.metric, worse)} at {name} than {baseline_label} ({level})"


def _word(metric: str, worse: bool) -> str:
    if metric in HIGHER_IS_BETTER:
        return "lower" if worse else "higher"
    return "slower" if worse else "faster"


def _signed(value: float) -> str:
    return f"{value:+.1%}"


def make_side(label: str, sessions: Sequence[tuple[str, Sequence[dict]]],
              latency: Callable[[dict], float] = lambda t: t["latency_ms"]) -> Side:
    """A Side from (session id, token dicts with `phase` and `latency_ms`) pairs, as the store returns them."""
    ids, ttfts, decodes = [], [], []
    for session_id, tokens in sessions:
        ids.append(session_id)
        first = [latency(t) for t in tokens if t["phase"] == "prefill"]
        if first:
            ttfts.append(float(first[0]))
        decodes.append(np.asarray([latency(t) for t in tokens if t["phase"] == "decode"], dtype=float))
    return Side(label, tuple(ids), tuple(ttfts), tuple(decodes))


__all__ = ["BOOTSTRAP_REPEATS", "BOOTSTRAP_TOKENS", "Comparison", "Difference", "METRICS", "METRIC_NAMES", "Side",
           "compare", "make_side", "side_figures", "verdict_line"]
