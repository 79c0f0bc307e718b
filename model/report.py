"""Evaluations as plain, JSON-safe dicts: what `tokenlat-tui fit --json` prints and the app shows."""

from __future__ import annotations

from typing import Any

import numpy as np

from model.evaluation import SCOPES, Evaluation
from model.fitted import finite_or_none
from model.metrics import ErrorMetrics


def metrics_dict(metrics: ErrorMetrics | None) -> dict[str, Any] | None:
    if metrics is None:
        return None
    return {name: finite_or_none(value) if isinstance(value, float) else value
            for name, value in metrics.to_dict().items()}


def scopes_dict(metrics: dict[str, ErrorMetrics | None] | None) -> dict[str, Any] | None:
    if metrics is None:
        return None
    return {scope: metrics_dict(metrics.get(scope)) for scope in SCOPES}


def evaluation_dict(evaluation: Evaluation) -> dict[str, Any]:
    """Headline figures over all test tokens, then per phase, then the fitted terms."""
    overall = metrics_dict(evaluation.metrics["all"]) or {}
    fitted = evaluation.fitted
    return {
        "mae": overall.get("mae"),
        "rmse": overall.get("rmse"),
        "mape": overall.get("mape"),
        "p90_abs": overall.get("p90_abs"),
        "p99_abs": overall.get("p99_abs"),
        "tokens": overall.get("n", 0),
        "folds": evaluation.folds,
        "by_phase": {scope: metrics_dict(evaluation.metrics[scope]) for scope in SCOPES if scope != "all"},
        "intercept": finite_or_none(fitted.intercept),
        "coefficients": {name: finite_or_none(value) for name, value in fitted.coefficients.items()},
        "derived": {name: finite_or_none(value) for name, value in fitted.derived().items()},
        # what the app shows: ms and ms per token, never Ridge's standardised units
        "terms": [{**term.to_dict(), "value": finite_or_none(term.value)} for term in fitted.terms()],
    }


def fit_report(evaluations: list[Evaluation], floor: dict[str, ErrorMetrics] | None, *, protocol: str,
               fingerprint: dict[str, Any], sessions: list[str], tokens: int, **extra: Any) -> dict[str, Any]:
    """One object for a whole `fit` run; `extra` adds protocol details (e.g. train_max_context)."""
    report = {
        "protocol": protocol,
        **extra,
        "configuration": fingerprint,
        "sessions": sessions,
        "tokens": tokens,
        "noise_floor": scopes_dict(floor),
        "predictors": {evaluation.predictor: evaluation_dict(evaluation) for evaluation in evaluations},
    }
    return report


def ratio_to_floor(evaluation: Evaluation, floor: dict[str, ErrorMetrics] | None, scope: str = "decode") -> float | None:
    """The predictor's MAE over the noise floor's on the same tokens: 1.0 means nothing left to learn."""
    mine, best = evaluation.metrics.get(scope), (floor or {}).get(scope)
    if mine is None or best is None or not np.isfinite(best.mae) or best.mae <= 0:
        return None
    return mine.mae / best.mae
