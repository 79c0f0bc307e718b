"""The default predictor: first token and decode steps fitted apart, with physically shaped terms.

- First token (prompt processing): fixed cost + cost per prompt token, from the input length.
- Decode step: fixed cost + cost per context token, from the context size. On a memory-bound
  device the fixed part is reading the weights and the per-token part reading the KV cache.

Both fits are Huber (spikes don't drag them) with non-negative terms (a cost can't be negative,
and a negative slope fitted to noise turns absurd once extrapolated to long contexts).

With the model's weight bytes, KV bytes per token and the device's bandwidth known, the decode
step is fitted in roofline units instead: latency = fixed overhead + roofline time / achieved
bandwidth fraction, where roofline time = (weight bytes + KV bytes per token x context) / bandwidth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from model.frame import CONTEXT, INPUT, TARGET, first_token_mask, is_first_token
from model.predictors.base import LatencyPredictor, Term
from model.robust_fit import nonnegative_huber

FIRST_TOKEN = "First_Token"
ROOFLINE_MS = "Roofline_ms"


@dataclass(frozen=True)
class RooflineUnits:
    """What the roofline needs to know about a model on a device (see shared/FIELD-NOTES.md)."""

    weight_bytes: float
    kv_bytes_per_token: float
    bandwidth_bytes_per_s: float

    def __post_init__(self) -> None:
        if min(self.weight_bytes, self.kv_bytes_per_token) < 0 or self.bandwidth_bytes_per_s <= 0:
            raise ValueError("roofline units need bytes >= 0 and a bandwidth > 0")

    def decode_floor_ms(self, context_sizes: np.ndarray) -> np.ndarray:
        """The fastest a decode step could be: every weight and cached byte read once at full bandwidth."""
        moved = self.weight_bytes + self.kv_bytes_per_token * np.asarray(context_sizes, float)
        return moved / self.bandwidth_bytes_per_s * 1000.0


class PhasePredictor(LatencyPredictor):
    name = "phase"
    description = "first token from input length, decode from context; Huber, non-negative terms"

    def __init__(self, roofline: RooflineUnits | None = None) -> None:
        self.roofline = roofline
        self.decode_fixed_ms = 0.0
        self.decode_slope = 0.0
        """ms per context token, or (with roofline units) 1 / achieved bandwidth fraction."""
        self.first_fixed_ms = 0.0
        self.first_ms_per_input_token = 0.0

    def _decode_feature(self, context_sizes: np.ndarray) -> np.ndarray:
        if self.roofline is None:
            return np.asarray(context_sizes, float)
        return self.roofline.decode_floor_ms(context_sizes)

    def fit(self, frame: pd.DataFrame) -> None:
        first = is_first_token(frame)
        decode = frame[~first]
        if decode.empty:
            from profiler.errors import InputError

            raise InputError("the phase predictor needs decode tokens (k >= 2) to fit")
        self.decode_fixed_ms, (self.decode_slope,) = nonnegative_huber(
            self._decode_feature(decode[CONTEXT].to_numpy()), decode[TARGET].to_numpy())
        self._fit_first_token(frame[first])

    def _fit_first_token(self, first: pd.DataFrame) -> None:
        if first.empty:
            # no first token seen: say it costs what a decode step at that context would
            self.first_fixed_ms, self.first_ms_per_input_token = float("nan"), float("nan")
            return
        if first[INPUT].nunique() < 3:
            # a slope through one or two prompt lengths is a guess: the median first token is not
            self.first_fixed_ms, self.first_ms_per_input_token = float(first[TARGET].median()), 0.0
            return
        self.first_fixed_ms, (self.first_ms_per_input_token,) = nonnegative_huber(
            first[INPUT].to_numpy(), first[TARGET].to_numpy())

    def _decode_ms(self, context_sizes: np.ndarray) -> np.ndarray:
        return self.decode_fixed_ms + self.decode_slope * self._decode_feature(context_sizes)

    def predict(self, input_tokens: np.ndarray, context_sizes: np.ndarray) -> np.ndarray:
        input_tokens = np.asarray(input_tokens, float)
        context_sizes = np.asarray(context_sizes, float)
        decode = self._decode_ms(context_sizes)
        if np.isnan(self.first_fixed_ms):
            return decode
        first = self.first_fixed_ms + self.first_ms_per_input_token * input_tokens
        return np.where(first_token_mask(input_tokens, context_sizes), first, decode)

    @property
    def coefficients(self) -> dict[str, float]:
        # As a linear model: the intercept is the decode step's fixed cost; First_Token is the
        # coefficient of a 0/1 first-token feature (the first token's fixed cost minus the decode
        # one); Input_Token_Length acts on the first token only, Context_Size on decode steps only.
        terms = {INPUT: self.first_ms_per_input_token, FIRST_TOKEN: self.first_fixed_ms - self.decode_fixed_ms}
        terms[ROOFLINE_MS if self.roofline else CONTEXT] = self.decode_slope
        return {name: float(value) for name, value in terms.items()}

    @property
    def intercept(self) -> float:
        return float(self.decode_fixed_ms)

    def terms(self) -> list[Term]:
        slope = (Term("per context token", float(self.decode_slope)) if self.roofline is None
                 else Term("per roofline ms", float(self.decode_slope)))
        return [Term("decode fixed", float(self.decode_fixed_ms)), slope,
                Term("first token fixed", float(self.first_fixed_ms)),
                Term("1st, per input token", float(self.first_ms_per_input_token))]

    def derived(self) -> dict[str, float]:
        figures = {"decode_fixed_ms": self.decode_fixed_ms, "first_token_fixed_ms": self.first_fixed_ms}
        if self.roofline is None:
            figures["decode_ms_per_context_token"] = self.decode_slope
        else:
            # latency = overhead + floor / fraction, so the slope on the floor is 1 / fraction
            figures["achieved_bandwidth_fraction"] = 1.0 / self.decode_slope if self.decode_slope > 0 else float("inf")
            figures["fixed_overhead_ms"] = self.decode_fixed_ms
        return {name: float(value) for name, value in figures.items()}

    def parameters(self) -> dict[str, Any]:
        return {
            "roofline": asdict(self.roofline) if self.roofline else None,
            "decode_fixed_ms": self.decode_fixed_ms,
            "decode_slope": self.decode_slope,
            "first_fixed_ms": None if np.isnan(self.first_fixed_ms) else self.first_fixed_ms,
            "first_ms_per_input_token": None if np.isnan(self.first_ms_per_input_token) else self.first_ms_per_input_token,
        }

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> "PhasePredictor":
        roofline = parameters.get("roofline")
        predictor = cls(RooflineUnits(**roofline) if roofline else None)
        predictor.decode_fixed_ms = float(parameters["decode_fixed_ms"])
        predictor.decode_slope = float(parameters["decode_slope"])
        for name in ("first_fixed_ms", "first_ms_per_input_token"):
            value = parameters.get(name)
            setattr(predictor, name, float("nan") if value is None else float(value))
        return predictor
