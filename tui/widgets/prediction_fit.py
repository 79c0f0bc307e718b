"""What the prediction panel shows, computed off the UI thread from the store and `model/`.

Ridge is fitted as the seed study did: StandardScaler + Ridge(alpha=1) on Input_Token_Length and
Context_Size over decode tokens (the first token is prompt processing and would bend the line).
The other predictors `model/` offers fit the whole frame: they model the first token apart.
Held-out error comes from grouped folds over sessions, never random tokens: tokens of one
generation are correlated, and a random split would flatter every predictor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.columns import FINGERPRINT_FIELDS
from profiler.errors import InputError

SEED_PREDICTOR = "ridge"
SIDE_BY_SIDE = "all"
MAX_FOLDS = 5


def available_predictors() -> list[str]:
    """Predictor names `model/` offers, the seed's Ridge first (names only: no numpy/pandas import here)."""
    from model.predictor_names import PREDICTOR_NAMES

    return [SEED_PREDICTOR] + [name for name in PREDICTOR_NAMES if name != SEED_PREDICTOR]


@dataclass
class PredictorFit:
    name: str
    coefficients: dict[str, float]
    intercept: float | None
    mae: float | None
    """Mean absolute error (ms) on held-out sessions; None with fewer than 2 sessions."""
    rmse: float | None
    curve: list[float]
    """Predicted ms per token at each context of `FitReport.curve_contexts`."""
    next_tokens_ms: float
    """Predicted time for the next N tokens after the current context."""


@dataclass
class FitReport:
    session_ids: list[str]
    scope: str
    """What was fitted, in words ('3 marked sessions', 'all 12 sessions of model=…')."""
    input_tokens: int
    current_context: int
    horizon: int
    next_n: int
    measured_contexts: list[int]
    measured_ms: list[float]
    curve_contexts: list[int]
    fits: list[PredictorFit] = field(default_factory=list)


def sessions_to_fit(sessions: list[dict[str, Any]], marked: list[str], reference: dict[str, Any] | None
                    ) -> tuple[list[str], str]:
    """The marked sessions, else every measured session sharing the reference's configuration."""
    usable = [s for s in sessions if not s["warmup"] and (s["tokens"] or 0) >= 2 and s["status"] != "running"]
    if marked:
        chosen = [s["id"] for s in usable if s["id"] in marked]
        return chosen, f"{len(chosen)} marked session(s)"
    if reference is None:
        return [], "no sessions"
    key = {f: reference.get(f) for f in FINGERPRINT_FIELDS}
    chosen = [s["id"] for s in usable if all(s.get(f) == v for f, v in key.items())]
    model = str(reference.get("model") or "").rsplit("/", 1)[-1]
    label = f" ({reference['model_label']})" if reference.get("model_label") else ""
    return chosen, f"{len(chosen)} sessions of {model}{label}"


def seed_frame(frame):
    """The rows the seed study's Ridge is fitted on: decode steps only."""
    return frame[frame["phase"] == "decode"].reset_index(drop=True)


def fit_one(frame, name: str):
    """`model/`'s fit of predictor `name`, on the rows that predictor is meant for."""
    from model.fitted import fit_predictor

    return fit_predictor(seed_frame(frame) if name == SEED_PREDICTOR else frame, name)


def held_out_error(frame, name: str) -> tuple[float | None, float | None]:
    """MAE and RMSE (ms) on decode tokens of sessions left out of the fit, over grouped folds."""
    import numpy as np

    sessions = frame["Prompt_ID"].unique()
    if len(sessions) < 2:
        return None, None
    from sklearn.model_selection import GroupKFold

    from model.metrics import combine_folds

    folds = []
    for train, test in GroupKFold(n_splits=min(MAX_FOLDS, len(sessions))).split(frame, groups=frame["Prompt_ID"]):
        fitted = fit_one(frame.iloc[train], name)
        held = seed_frame(frame.iloc[test])
        if held.empty:
            continue
        predicted = fitted.predict(held["Input_Token_Length"].to_numpy(float), held["Context_Size"].to_numpy(float))
        folds.append((held["Per_Token_Latency_ms"].to_numpy(float), np.asarray(predicted)))
    metrics = combine_folds(folds)
    return (None, None) if metrics is None else (metrics.mae, metrics.rmse)


def build_report(store, session_ids: list[str], scope: str, predictor: str, *, horizon: int, next_n: int,
                 current: tuple[int, int] | None = None) -> FitReport:
    """Fit and evaluate; `current` = (input tokens, context) to extrapolate from (default: latest session)."""
    if not session_ids:
        raise InputError("nothing to fit: run a prompt or mark finished sessions (space) first")
    frame = store.tokens_frame(session_ids)
    if frame.empty:
        raise InputError("nothing to fit: the chosen sessions have no tokens")
    decode = seed_frame(frame)
    if current is None:
        last = frame[frame["Prompt_ID"] == frame["Prompt_ID"].iloc[-1]]
        current = (int(last["Input_Token_Length"].iloc[0]), int(last["Context_Size"].max()) + 1)
    input_tokens, context = current
    horizon = max(horizon, context + 1)
    step = max(1, (horizon - context) // 200)  # ~200 points: the plot is a terminal, not a PDF
    contexts = list(range(context, horizon + 1, step))
    names = available_predictors() if predictor == SIDE_BY_SIDE else [predictor]
    report = FitReport(session_ids, scope, input_tokens, context, horizon, next_n,
                       decode["Context_Size"].astype(int).tolist(), decode["Per_Token_Latency_ms"].astype(float).tolist(),
                       contexts)
    for name in names:
        fitted = fit_one(frame, name)
        curve = fitted.predict([input_tokens] * len(contexts), contexts)
        upcoming = list(range(context, context + next_n))
        next_ms = float(sum(fitted.predict([input_tokens] * len(upcoming), upcoming))) if upcoming else 0.0
        mae, rmse = held_out_error(frame, name)
        report.fits.append(PredictorFit(name, dict(fitted.coefficients), fitted.intercept, mae, rmse,
                                        [float(v) for v in curve], next_ms))
    return report
