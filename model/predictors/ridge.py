"""The seed study's model: StandardScaler + Ridge(alpha=1.0) on both features, every token alike.

Kept exactly as the study built it (so its published table reproduces) and as the baseline the
other predictors are judged against. Its coefficients are in scaled units, as the study reports
them: ms per standard deviation of the feature, not ms per token.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from model.frame import CONTEXT, INPUT, TARGET
from model.predictors.base import LatencyPredictor, Term

FEATURES = [INPUT, CONTEXT]
ALPHA = 1.0


class RidgePredictor(LatencyPredictor):
    name = "ridge"
    description = "the seed study's StandardScaler + Ridge(alpha=1) on input length and context, all tokens alike"

    def __init__(self) -> None:
        self.feature_mean = np.zeros(len(FEATURES))
        self.feature_scale = np.ones(len(FEATURES))
        self.scaled_coefficients = np.zeros(len(FEATURES))
        self.scaled_intercept = 0.0

    def fit(self, frame: pd.DataFrame) -> None:
        from sklearn.linear_model import Ridge  # deferred: sklearn costs ~1 s to import
        from sklearn.preprocessing import StandardScaler

        # a DataFrame with the study's column names, as the study passed it
        features = frame[FEATURES].astype(float)
        scaler = StandardScaler().fit(features)
        ridge = Ridge(alpha=ALPHA).fit(scaler.transform(features), frame[TARGET].astype(float))
        self.feature_mean = scaler.mean_.copy()
        self.feature_scale = scaler.scale_.copy()
        self.scaled_coefficients = ridge.coef_.copy()
        self.scaled_intercept = float(ridge.intercept_)

    def predict(self, input_tokens: np.ndarray, context_sizes: np.ndarray) -> np.ndarray:
        features = np.stack([np.asarray(input_tokens, float), np.asarray(context_sizes, float)], axis=-1)
        return (features - self.feature_mean) / self.feature_scale @ self.scaled_coefficients + self.scaled_intercept

    @property
    def coefficients(self) -> dict[str, float]:
        return {name: float(value) for name, value in zip(FEATURES, self.scaled_coefficients)}

    @property
    def intercept(self) -> float:
        return self.scaled_intercept

    def terms(self) -> list[Term]:
        # un-standardised: prediction = scaled_intercept + sum(c * (x - mean) / scale), so the slope
        # per token is c / scale and the constant absorbs every -c * mean / scale
        per_token = self.scaled_coefficients / self.feature_scale
        intercept = self.scaled_intercept - float(per_token @ self.feature_mean)
        slopes = dict(zip(FEATURES, per_token))
        return [Term("intercept", float(intercept)), Term("per context token", float(slopes[CONTEXT])),
                Term("per input token", float(slopes[INPUT]))]

    def derived(self) -> dict[str, float]:
        # the same line in ms per token, which is what a reader can compare with other predictors
        per_token = self.scaled_coefficients / self.feature_scale
        return {f"{name}_ms_per_token": float(value) for name, value in zip(FEATURES, per_token)}

    def parameters(self) -> dict[str, Any]:
        return {
            "feature_mean": self.feature_mean.tolist(),
            "feature_scale": self.feature_scale.tolist(),
            "scaled_coefficients": self.scaled_coefficients.tolist(),
            "scaled_intercept": self.scaled_intercept,
        }

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> "RidgePredictor":
        predictor = cls()
        predictor.feature_mean = np.asarray(parameters["feature_mean"], float)
        predictor.feature_scale = np.asarray(parameters["feature_scale"], float)
        predictor.scaled_coefficients = np.asarray(parameters["scaled_coefficients"], float)
        predictor.scaled_intercept = float(parameters["scaled_intercept"])
        return predictor
