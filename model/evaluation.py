"""Evaluating predictors under a protocol (model.splits), first token and decode reported apart."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.fitted import FittedPredictor, fit_predictor
from model.frame import CONTEXT, INPUT, PHASES, TARGET, fingerprint, is_first_token, prepare
from model.metrics import ErrorMetrics, combine_folds
from model.repeats import noise_floor
from model.predictors import DEFAULT_PREDICTOR, RooflineUnits
from model.splits import DEFAULT_PROTOCOL, Split, make_splits

SCOPES = ("all",) + PHASES
"""Figures are given for all test tokens, and for first tokens (prefill) and decode steps apart."""


@dataclass
class Evaluation:
    predictor: str
    protocol: str
    metrics: dict[str, ErrorMetrics | None]
    """Keyed by scope: 'all', 'prefill', 'decode'; None where the test rows hold no such token."""
    fitted: FittedPredictor
    """Fitted on the protocol's training rows (seed, extrapolate) or on every row (grouped), so its
    terms are the ones the figures describe."""
    folds: int
    predictions: np.ndarray = field(repr=False)
    """Out-of-fold prediction per frame row; NaN for rows no fold tested."""

    @property
    def mae(self) -> float | None:
        return self.metrics["all"].mae if self.metrics["all"] else None

    @property
    def rmse(self) -> float | None:
        return self.metrics["all"].rmse if self.metrics["all"] else None


def _scope_rows(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    first = is_first_token(frame)
    return {"all": np.ones(len(frame), bool), "prefill": first, "decode": ~first}


def evaluate_splits(frame: pd.DataFrame, splits: list[Split], predictor: str, protocol: str,
                    roofline: RooflineUnits | None = None) -> Evaluation:
    """Fit on each split's training rows, predict its test rows, and combine the figures."""
    actual = frame[TARGET].to_numpy(float)
    predictions = np.full(len(frame), np.nan)
    per_fold: list[tuple[np.ndarray, np.ndarray]] = []
    fold_models = []
    for split in splits:
        fitted = fit_predictor(frame.iloc[split.train], predictor, roofline=roofline)
        test = frame.iloc[split.test]
        predicted = fitted.predict(test[INPUT].to_numpy(), test[CONTEXT].to_numpy())
        predictions[split.test] = predicted
        per_fold.append((split.test, predicted))
        fold_models.append(fitted)
    metrics = {}
    for scope, in_scope in _scope_rows(frame).items():
        folds = [(actual[rows[in_scope[rows]]], predicted[in_scope[rows]]) for rows, predicted in per_fold]
        metrics[scope] = combine_folds([f for f in folds if f[0].size])
    # one split: its model is the one the figures describe; several: show the fit on every row
    final = fold_models[0] if len(splits) == 1 else fit_predictor(frame, predictor, roofline=roofline)
    return Evaluation(predictor, protocol, metrics, final, len(splits), predictions)


def evaluate(frame: pd.DataFrame, predictor: str = DEFAULT_PREDICTOR, protocol: str = DEFAULT_PROTOCOL, *,
             train_max_context: int | None = None, test_max_context: int | None = None,
             roofline: RooflineUnits | None = None) -> Evaluation:
    """How well `predictor` predicts the frame's tokens under `protocol` ('grouped', 'extrapolate', 'seed')."""
    prepared = prepare(frame)
    fingerprint(prepared)  # one configuration only: a fit across several would describe none of them
    splits = make_splits(prepared, protocol, train_max_context=train_max_context, test_max_context=test_max_context)
    return evaluate_splits(prepared, splits, predictor, protocol, roofline)


def evaluate_all(frame: pd.DataFrame, predictors: list[str], protocol: str = DEFAULT_PROTOCOL, *,
                 train_max_context: int | None = None, test_max_context: int | None = None,
                 roofline: RooflineUnits | None = None) -> tuple[list[Evaluation], dict[str, ErrorMetrics] | None]:
    """Several predictors on the same splits, and the noise floor over the same test rows."""
    prepared = prepare(frame)
    fingerprint(prepared)
    splits = make_splits(prepared, protocol, train_max_context=train_max_context, test_max_context=test_max_context)
    evaluations = [evaluate_splits(prepared, splits, name, protocol, roofline) for name in predictors]
    tested = np.unique(np.concatenate([split.test for split in splits]))
    return evaluations, noise_floor(prepared, tested)


def seed_protocol(frame: pd.DataFrame) -> Evaluation:
    """The seed study's fit, exactly: Ridge on a random 80/20 token split of the rows in file order.

    On the seed CSV its `metrics['all']` MAE/RMSE and `fitted` coefficients/intercept are the
    study's published table.
    """
    return evaluate(frame, "ridge", "seed")
