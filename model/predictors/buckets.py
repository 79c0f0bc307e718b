"""A shape-free reference: the median latency per context bucket, interpolated between buckets.

It assumes nothing about how latency grows, so within the trained range it is hard to beat, and
beyond it it can only stay flat: side by side with `phase` it shows what the physical shape buys
when extrapolating to longer contexts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from model.frame import CONTEXT, INPUT, TARGET, first_token_mask, is_first_token
from model.predictors.base import LatencyPredictor

BUCKETS = 32
"""Decode buckets across the trained context range: ~30 tokens each on a 1k-token run."""


def bucket_medians(keys: np.ndarray, values: np.ndarray, buckets: int) -> tuple[list[float], list[float]]:
    """(median key, median value) per non-empty equal-width bucket of `keys`, ordered by key."""
    edges = np.linspace(keys.min(), keys.max(), buckets + 1)
    index = np.clip(np.searchsorted(edges, keys, side="right") - 1, 0, buckets - 1)
    centres, medians = [], []
    for bucket in np.unique(index):
        chosen = index == bucket
        centres.append(float(np.median(keys[chosen])))
        medians.append(float(np.median(values[chosen])))
    return centres, medians


class BucketPredictor(LatencyPredictor):
    name = "buckets"
    description = "median latency per context bucket (first tokens per input-length bucket), interpolated"

    def __init__(self) -> None:
        self.decode_contexts: list[float] = []
        self.decode_medians: list[float] = []
        self.first_inputs: list[float] = []
        self.first_medians: list[float] = []

    def fit(self, frame: pd.DataFrame) -> None:
        first = is_first_token(frame)
        decode = frame[~first] if (~first).any() else frame
        self.decode_contexts, self.decode_medians = bucket_medians(
            decode[CONTEXT].to_numpy(float), decode[TARGET].to_numpy(float), BUCKETS)
        if first.any():
            self.first_inputs, self.first_medians = bucket_medians(
                frame.loc[first, INPUT].to_numpy(float), frame.loc[first, TARGET].to_numpy(float), BUCKETS)

    def predict(self, input_tokens: np.ndarray, context_sizes: np.ndarray) -> np.ndarray:
        input_tokens = np.asarray(input_tokens, float)
        context_sizes = np.asarray(context_sizes, float)
        # np.interp holds the end values beyond the trained range: the flat extrapolation this shows
        decode = np.interp(context_sizes, self.decode_contexts, self.decode_medians)
        if not self.first_inputs:
            return decode
        first = np.interp(input_tokens, self.first_inputs, self.first_medians)
        return np.where(first_token_mask(input_tokens, context_sizes), first, decode)

    @property
    def coefficients(self) -> dict[str, float]:
        return {}  # no terms: the buckets are the model

    @property
    def intercept(self) -> None:
        return None

    def parameters(self) -> dict[str, Any]:
        return {"decode_contexts": self.decode_contexts, "decode_medians": self.decode_medians,
                "first_inputs": self.first_inputs, "first_medians": self.first_medians}

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> "BucketPredictor":
        predictor = cls()
        for name in ("decode_contexts", "decode_medians", "first_inputs", "first_medians"):
            setattr(predictor, name, [float(v) for v in parameters[name]])
        return predictor
