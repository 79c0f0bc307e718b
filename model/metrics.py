"""Error figures for latency predictions: MAE, RMSE, MAPE and tail quantiles of the absolute error.

Latency errors have heavy tails (GC pauses, clock changes), so a mean alone hides what users feel:
p90 and p99 of the absolute error are reported with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ErrorMetrics:
    n: int
    """Tokens predicted."""
    mae: float
    """Mean absolute error, ms."""
    rmse: float
    """Root mean squared error, ms."""
    mape: float
    """Mean absolute percentage error as a fraction (0.05 = 5 %)."""
    p90_abs: float
    """90th percentile of the absolute error, ms."""
    p99_abs: float

    def to_dict(self) -> dict:
        return asdict(self)


def error_metrics(actual: np.ndarray, predicted: np.ndarray) -> ErrorMetrics | None:
    """Figures over all given tokens; None when there are none."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if actual.size == 0:
        return None
    errors = predicted - actual
    absolute = np.abs(errors)
    # a latency is never 0 ms, but a corrupt row could be: leave it out of MAPE rather than divide by it
    positive = actual > 0
    mape = float(np.mean(absolute[positive] / actual[positive])) if positive.any() else float("nan")
    return ErrorMetrics(
        n=int(actual.size),
        mae=float(absolute.mean()),
        rmse=float(np.sqrt(np.mean(errors**2))),
        mape=mape,
        p90_abs=float(np.quantile(absolute, 0.90)),
        p99_abs=float(np.quantile(absolute, 0.99)),
    )


def combine_folds(folds: list[tuple[np.ndarray, np.ndarray]]) -> ErrorMetrics | None:
    """Figures over several cross-validation folds, each given as (actual, predicted).

    MAE, RMSE and MAPE are the mean of the per-fold figures, each fold counting once (sklearn's
    `cross_val_score` convention, and how the seed README's leave-one-prompt-out MAE of ~33.7 ms
    is computed); the tail quantiles come from all out-of-fold errors pooled, since a p99 of a
    fold of one first token would mean nothing.
    """
    per_fold = [m for m in (error_metrics(a, p) for a, p in folds) if m is not None]
    if not per_fold:
        return None
    pooled = error_metrics(np.concatenate([a for a, _ in folds]), np.concatenate([p for _, p in folds]))
    return ErrorMetrics(
        n=pooled.n,
        mae=float(np.mean([m.mae for m in per_fold])),
        rmse=float(np.mean([m.rmse for m in per_fold])),
        mape=_mean_of_defined([m.mape for m in per_fold]),
        p90_abs=pooled.p90_abs,
        p99_abs=pooled.p99_abs,
    )


def _mean_of_defined(values: list[float]) -> float:
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")
