"""A fitted predictor with what every use of it needs: the configuration it knows, its residuals
(for prediction intervals), what it was trained on, and a JSON form (never pickle: a saved model
is data a user may share, and loading it must not run code).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from model.frame import (CONTEXT, DECODE, INPUT, PHASES, PREFILL, TARGET, describe_fingerprint, fingerprint,
                         fingerprint_differences, first_token_mask, is_first_token, prepare, training_summary)
from model.predictors import LatencyPredictor, RooflineUnits, new_predictor, predictor_class
from profiler.errors import InputError

FORMAT = "tokenlat-tui/latency-model"
FORMAT_VERSION = 1
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 101)
"""Residual quantiles kept per phase: every percentile, enough for any interval the UI asks for."""


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN or infinity: an undefined figure is null."""
    return None if value is None or not np.isfinite(value) else float(value)


class ConfigurationMismatch(InputError):
    """A saved model asked to predict for a configuration it was not trained on."""


@dataclass
class FittedPredictor:
    model: LatencyPredictor
    fingerprint: dict[str, Any]
    """The configuration (profiler.columns.FINGERPRINT_FIELDS) of the training sessions."""
    residual_quantiles: dict[str, list[float]] = field(default_factory=dict)
    """Per phase, the training residuals (actual - predicted, ms) at QUANTILE_LEVELS."""
    residual_mean: dict[str, float] = field(default_factory=dict)
    """Per phase, the mean training residual: what turns a robust (median-like) fit into an expected value."""
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def coefficients(self) -> dict[str, float]:
        return self.model.coefficients

    @property
    def intercept(self) -> float | None:
        return self.model.intercept

    def derived(self) -> dict[str, float]:
        return self.model.derived()

    def terms(self):
        """The fitted terms in natural units (`model.predictors.base.Term`)."""
        return self.model.terms()

    # -- predicting
    def predict(self, input_tokens, context_sizes) -> np.ndarray:
        """ms per token for each (input tokens, context size); context <= input means the first token."""
        input_tokens, context_sizes = np.broadcast_arrays(np.asarray(input_tokens, float),
                                                          np.asarray(context_sizes, float))
        return self.model.predict(input_tokens, context_sizes)

    def interval(self, input_tokens, context_sizes, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) ms per token holding `coverage` of tokens like the training ones.

        From the training residuals' quantiles, so it is as wide as the noise the model saw; it
        says nothing about extrapolation error beyond the trained contexts.
        """
        if not 0.0 < coverage < 1.0:
            raise ValueError("coverage must be between 0 and 1")
        input_tokens, context_sizes = np.broadcast_arrays(np.asarray(input_tokens, float),
                                                          np.asarray(context_sizes, float))
        centre = self.model.predict(input_tokens, context_sizes)
        first = first_token_mask(input_tokens, context_sizes)
        tail = (1.0 - coverage) / 2.0
        low, high = centre.copy(), centre.copy()
        for phase, rows in ((PREFILL, first), (DECODE, ~first)):
            low[rows] += self.residual_quantile(phase, tail)
            high[rows] += self.residual_quantile(phase, 1.0 - tail)
        return low, high

    def residual_quantile(self, phase: str, level: float) -> float:
        quantiles = self.residual_quantiles.get(phase) or self.residual_quantiles.get(DECODE)
        if not quantiles:
            return float("nan")
        return float(np.interp(level, QUANTILE_LEVELS, quantiles))

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Predictions for a token frame's rows, refusing a frame of another configuration."""
        prepared = prepare(frame)
        self.check_configuration(fingerprint(prepared))
        return self.predict(prepared[INPUT].to_numpy(), prepared[CONTEXT].to_numpy())

    def check_configuration(self, other: dict[str, Any]) -> None:
        differences = fingerprint_differences(self.fingerprint, other)
        if differences:
            raise ConfigurationMismatch(
                f"this {self.name} model was fitted on {describe_fingerprint(self.fingerprint)} and won't predict "
                f"for a different configuration ({'; '.join(differences)}); fit one on those sessions instead")

    # -- JSON
    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "predictor": self.name,
            "fingerprint": self.fingerprint,
            "parameters": self.model.parameters(),
            "intercept": finite_or_none(self.intercept),
            # for readers; `parameters` is what predicting uses
            "coefficients": {k: finite_or_none(v) for k, v in self.coefficients.items()},
            "residual_quantiles": self.residual_quantiles,
            "residual_mean": self.residual_mean,
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FittedPredictor":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError("not a tokenlat-tui latency model (no 'format' of " + FORMAT + ")")
        if data.get("version") != FORMAT_VERSION:
            raise InputError(f"latency model format version {data.get('version')!r} is not supported "
                             f"(this tokenlat-tui reads version {FORMAT_VERSION})")
        try:
            model = predictor_class(data["predictor"]).from_parameters(data["parameters"])
            return cls(model=model, fingerprint=dict(data["fingerprint"]),
                       residual_quantiles={k: [float(v) for v in q] for k, q in data["residual_quantiles"].items()},
                       residual_mean={k: float(v) for k, v in data["residual_mean"].items()},
                       training=dict(data.get("training", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"latency model file is damaged: {exc!s}") from None


def fit_predictor(frame: pd.DataFrame, name: str = "phase", *, roofline: RooflineUnits | None = None,
                  ) -> FittedPredictor:
    """Fit predictor `name` on a token frame of one configuration (see `model.PREDICTORS`)."""
    prepared = prepare(frame)
    config = fingerprint(prepared)
    model = new_predictor(name, roofline)
    model.fit(prepared)
    predicted = model.predict(prepared[INPUT].to_numpy(float), prepared[CONTEXT].to_numpy(float))
    residuals = prepared[TARGET].to_numpy(float) - predicted
    first = is_first_token(prepared)
    quantiles, means = {}, {}
    for phase, rows in zip(PHASES, (first, ~first)):
        if rows.any():
            quantiles[phase] = np.quantile(residuals[rows], QUANTILE_LEVELS).tolist()
            means[phase] = float(residuals[rows].mean())
    return FittedPredictor(model, config, quantiles, means, training_summary(prepared))
