"""A linear fit with non-negative terms and a Huber loss: the phase predictor's workhorse.

Non-negative because every term is a cost (a fixed per-step cost, a cost per context token): a
negative one would be an artefact of noise that turns absurd when extrapolated. Huber because
latency has spikes (GC pauses, a preempted thread) that would drag a least-squares line upward.
"""

from __future__ import annotations

import numpy as np

HUBER_TUNING = 1.345
"""Huber's classic constant: 95 % efficiency on Gaussian noise, spikes beyond it count linearly."""


def robust_scale(residuals: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (spikes don't inflate it)."""
    deviation = np.median(np.abs(residuals - np.median(residuals)))
    return float(1.4826 * deviation)


def nonnegative_huber(features: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """(intercept, coefficients), all >= 0, minimising the Huber loss of target - prediction.

    `features` is (rows, terms). Starts from non-negative least squares, then twice refits the
    Huber threshold from the residuals' robust scale, so the threshold tracks the noise rather
    than the spikes.
    """
    from scipy.optimize import least_squares, nnls  # deferred: scipy is only needed to fit

    features = np.asarray(features, dtype=float).reshape(len(target), -1)
    target = np.asarray(target, dtype=float)
    design = np.column_stack([np.ones(len(target)), features])
    solution, _ = nnls(design, target)
    for _ in range(2):
        scale = robust_scale(target - design @ solution)
        if scale <= 0.0:
            break  # most residuals are exactly zero: the least-squares start already fits
        start = np.maximum(solution, 1e-12)  # least_squares wants a start inside the bounds
        result = least_squares(
            lambda params: design @ params - target,
            start,
            jac=lambda params: design,
            bounds=(0.0, np.inf),
            loss="huber",
            f_scale=HUBER_TUNING * scale,
            x_scale="jac",  # context columns run to 1e5 while the intercept is ~1: rescale the steps
        )
        solution = result.x
    # the bounded solver stops a hair inside the bound: report a term pinned there as exactly 0
    solution = np.where(solution < 1e-9, 0.0, solution)
    return float(solution[0]), solution[1:]
