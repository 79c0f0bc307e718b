"""Questions a user asks of a fitted predictor: how slow at context c, the curve up to a horizon,
how long the next N tokens take, and at which context a latency budget is crossed.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from model.fitted import QUANTILE_LEVELS, FittedPredictor
from model.frame import DECODE, PREFILL

SIMULATED_RUNS = 2000
"""Draws behind the p90 of a total: its quantile moves by well under 1 % between seeds."""
MAX_SIMULATED_TOKENS = 512
"""Beyond this many tokens the total's spread comes from the normal approximation (cheaper, and by
then a sum of independent residuals is close to normal)."""
DEFAULT_MAX_CONTEXT = 131_072
BUDGET_SCAN_CHUNK = 65_536


@dataclass(frozen=True)
class LatencyCurve:
    context: np.ndarray
    predicted_ms: np.ndarray
    low_ms: np.ndarray
    high_ms: np.ndarray
    coverage: float


@dataclass(frozen=True)
class TotalForecast:
    tokens: int
    expected_ms: float
    """Expected total time of the tokens: predictions plus the mean residual (spikes included)."""
    p90_ms: float
    """90 % of runs finish these tokens within this time (residuals taken as independent)."""


def latency_at(fitted: FittedPredictor, input_tokens: int, context: int) -> float:
    """Predicted ms for the token whose context is `context` (context == input tokens: the first token)."""
    return float(fitted.predict(input_tokens, context))


def latency_curve(fitted: FittedPredictor, input_tokens: int, start_context: int, horizon: int, *,
                  step: int = 1, coverage: float = 0.8) -> LatencyCurve:
    """Predicted ms per token with its interval, for contexts start_context..horizon (inclusive)."""
    if horizon < start_context:
        raise ValueError("horizon must not be below start_context")
    context = np.arange(start_context, horizon + 1, max(1, step))
    low, high = fitted.interval(input_tokens, context, coverage)
    return LatencyCurve(context, fitted.predict(input_tokens, context), low, high, coverage)


def next_tokens(fitted: FittedPredictor, input_tokens: int, start_context: int, count: int) -> TotalForecast:
    """Expected total and p90 for `count` tokens, the first of which sees `start_context` tokens."""
    if count <= 0:
        return TotalForecast(0, 0.0, 0.0)
    context = np.arange(start_context, start_context + count)
    predicted = fitted.predict(input_tokens, context)
    first = context <= input_tokens
    phases = np.where(first, PREFILL, DECODE)
    mean_residual = np.array([fitted.residual_mean.get(p, fitted.residual_mean.get(DECODE, 0.0)) for p in phases])
    expected = float(np.sum(predicted + mean_residual))
    return TotalForecast(count, expected, _total_quantile(fitted, predicted, phases, 0.9))


def _phase_quantiles(fitted: FittedPredictor, phase: str) -> list[float]:
    return fitted.residual_quantiles.get(phase) or fitted.residual_quantiles.get(DECODE) or [0.0] * len(QUANTILE_LEVELS)


def _total_quantile(fitted: FittedPredictor, predicted: np.ndarray, phases: np.ndarray, level: float) -> float:
    # Each token's latency = its prediction + a residual drawn from its phase's training residuals.
    # Independent draws understate a run-wide slowdown (a throttled clock slows every token), so in
    # such conditions this quantile is optimistic.
    counts = {phase: int(np.sum(phases == phase)) for phase in (PREFILL, DECODE)}
    if len(predicted) <= MAX_SIMULATED_TOKENS:
        rng = np.random.default_rng(0)  # fixed seed: the same question gets the same answer
        residual_sums = np.zeros(SIMULATED_RUNS)
        for phase, count in counts.items():
            if count:
                uniform = rng.random((SIMULATED_RUNS, count))
                residual_sums += np.interp(uniform, QUANTILE_LEVELS, _phase_quantiles(fitted, phase)).sum(axis=1)
        return float(predicted.sum() + np.quantile(residual_sums, level))
    mean, variance = 0.0, 0.0
    for phase, count in counts.items():
        # the residual distribution, read back from its percentiles
        sample = np.interp(np.linspace(0.0005, 0.9995, 1000), QUANTILE_LEVELS, _phase_quantiles(fitted, phase))
        mean += count * sample.mean()
        variance += count * sample.var()
    return float(predicted.sum() + mean + NormalDist().inv_cdf(level) * np.sqrt(variance))


def budget_crossing(fitted: FittedPredictor, input_tokens: int, budget_ms: float, *, start_context: int | None = None,
                    max_context: int = DEFAULT_MAX_CONTEXT) -> int | None:
    """The first decode context >= start_context whose predicted ms per token exceeds `budget_ms`,
    or None if none does up to `max_context` (the model's context window)."""
    start = input_tokens + 1 if start_context is None else max(int(start_context), input_tokens + 1)
    if start > max_context:
        return None
    # scanned in chunks rather than solved: it holds for every predictor, monotone or not
    for chunk_start in range(start, max_context + 1, BUDGET_SCAN_CHUNK):
        context = np.arange(chunk_start, min(chunk_start + BUDGET_SCAN_CHUNK, max_context + 1))
        over = np.flatnonzero(fitted.predict(input_tokens, context) > budget_ms)
        if over.size:
            return int(context[over[0]])
    return None
