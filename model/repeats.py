"""The noise floor: how well a token can be predicted by its own repeats.

Sessions that ran the same prompt on the same configuration are repeats. Each of their tokens is
predicted by the median latency of the *other* repeats around the same context (leave-one-out: a
token never predicts itself). What error remains is run-to-run noise that no predictor using only
input length and context can remove; a predictor at the floor has learnt everything the data allow.

"Around": decode steps take the other repeats' tokens within +-CONTEXT_WINDOW contexts. With the
usual three repeats, the other repeats at exactly the same context are two tokens, whose median is
their mean: one stall among them would make the floor look far worse than the noise really is. A
symmetric window leaves a linear trend's median unbiased and moves latency by a negligible amount
(0.003 ms per context token on a CPU). The first token, the only one at its context, is exact.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from model.frame import CONTEXT, PHASES, SESSION, TARGET, is_first_token, prepare, prompt_groups
from model.metrics import ErrorMetrics, error_metrics

CONTEXT_WINDOW = 8


def _window_medians(others: np.ndarray, window: int) -> np.ndarray:
    """Per row of a (contexts, repeats) table, the median of every value within +-window rows."""
    if window == 0:
        stacked = others
    else:
        padded = np.pad(others, ((window, window), (0, 0)), constant_values=np.nan)
        views = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1, axis=0)
        stacked = views.reshape(others.shape[0], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no other repeat got there
        return np.nanmedian(stacked, axis=1)


def repeat_predictions(frame: pd.DataFrame, window: int = CONTEXT_WINDOW) -> np.ndarray:
    """Per row, the median of the other repeats' latencies around its context; NaN where it has no repeat."""
    frame = prepare(frame)
    predictions = np.full(len(frame), np.nan)
    work = pd.DataFrame({"group": prompt_groups(frame), "phase": frame["phase"].to_numpy(),
                         "session": frame[SESSION].astype(str).to_numpy(), "context": frame[CONTEXT].to_numpy(),
                         "latency": frame[TARGET].to_numpy(float), "row": np.arange(len(frame))})
    for (_, phase), group in work.groupby(["group", "phase"], sort=False):
        if group["session"].nunique() < 2:
            continue
        # one column per repeat, one row per context (every integer in the range, so rows are contexts);
        # a context a repeat never reached stays NaN
        contexts = np.arange(group["context"].min(), group["context"].max() + 1)
        table = group.pivot_table(index="context", columns="session", values="latency", aggfunc="first")
        rows = group.pivot_table(index="context", columns="session", values="row", aggfunc="first")
        latencies = table.reindex(contexts).to_numpy(float)
        rows = rows.reindex(contexts)
        for column in range(latencies.shape[1]):
            median = _window_medians(np.delete(latencies, column, axis=1), window if phase != "prefill" else 0)
            row_positions = rows.iloc[:, column].to_numpy()
            present = ~np.isnan(row_positions)
            predictions[row_positions[present].astype(int)] = median[present]
    return predictions


def noise_floor(frame: pd.DataFrame, rows: np.ndarray | None = None,
                window: int = CONTEXT_WINDOW) -> dict[str, ErrorMetrics] | None:
    """Error figures of the repeat-median prediction, for all tokens and per phase; None without repeats.

    `rows` (positions) restricts the figures to those tokens (e.g. a protocol's test rows), while the
    repeats predicting them may come from anywhere in the frame.
    """
    frame = prepare(frame)
    predictions = repeat_predictions(frame, window)
    chosen = np.zeros(len(frame), bool)
    chosen[np.arange(len(frame)) if rows is None else rows] = True
    chosen &= ~np.isnan(predictions)
    if not chosen.any():
        return None
    actual = frame[TARGET].to_numpy(float)
    first = is_first_token(frame)
    figures = {"all": error_metrics(actual[chosen], predictions[chosen])}
    for phase, in_phase in zip(PHASES, (first, ~first)):
        selected = chosen & in_phase
        figures[phase] = error_metrics(actual[selected], predictions[selected])
    return figures
