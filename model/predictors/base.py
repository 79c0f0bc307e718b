"""What every latency predictor provides: fit on a token frame, predict, show and save its terms."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Term:
    """A fitted term in natural units: what a reader compares across predictors.

    `name` reads before the value and `unit` after it: "per context token 0.0100 ms" is a slope of
    0.01 ms per context token; "decode fixed 4.2 ms" a constant. Never standardised units."""

    name: str
    value: float
    unit: str = "ms"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit}


class LatencyPredictor(ABC):
    """A latency model of one configuration: ms per token from (input tokens, context size).

    A pair with context <= input tokens is a first token (prompt processing); the rest are decode
    steps. Subclasses hold only their parameters; `model.fitted.FittedPredictor` adds what every
    predictor needs around them (configuration fingerprint, residuals for intervals, JSON).
    """

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def fit(self, frame: pd.DataFrame) -> None:
        """Fit on a prepared frame (`model.frame.prepare`) of one configuration."""

    @abstractmethod
    def predict(self, input_tokens: np.ndarray, context_sizes: np.ndarray) -> np.ndarray:
        """Predicted ms per token, for arrays of equal shape."""

    @property
    @abstractmethod
    def coefficients(self) -> dict[str, float]:
        """Fitted terms keyed by feature name (`Input_Token_Length`, `Context_Size`, ...)."""

    @property
    @abstractmethod
    def intercept(self) -> float | None:
        """The constant term in ms, or None for a predictor without one."""

    def terms(self) -> list[Term]:
        """The fitted terms in natural units (ms, ms per token); none for a shape-free predictor."""
        return []

    def derived(self) -> dict[str, float]:
        """Figures read off the terms in friendlier units (e.g. achieved bandwidth); none by default."""
        return {}

    @abstractmethod
    def parameters(self) -> dict[str, Any]:
        """Everything needed to predict again, as JSON-safe values (no pickle)."""

    @classmethod
    @abstractmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> "LatencyPredictor":
        """The inverse of `parameters()`."""
