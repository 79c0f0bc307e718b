"""Latency models: turn stored sessions into per-token latency predictions, and say how good they are.

Frames come from `SessionStore(...).tokens_frame()` (or a DataFrame with the seed CSV's columns).
Nothing here imports textual; pandas, numpy, scipy and scikit-learn load on first use.

Fitting and predicting::

    fitted = model.fit_predictor(frame, "phase")        # or "ridge" (the seed's), "buckets"
    fitted.predict(input_tokens, context_sizes)        # ms per token; context <= input = first token
    low, high = fitted.interval(input_tokens, context_sizes, coverage=0.8)
    fitted.coefficients                                  # {"Input_Token_Length": .., "Context_Size": .., ...}
    fitted.intercept                                     # ms (None for a predictor without one)
    fitted.derived()                                     # friendlier units, e.g. achieved_bandwidth_fraction
    fitted.terms()                                       # [Term(name, value, unit)]: ms and ms per token
    fitted.fingerprint                                   # the training sessions' configuration
    fitted.predict_frame(frame)                          # refuses a frame of another configuration
    model.save_model(fitted, "m.json"); model.load_model("m.json")   # JSON, never pickle
    FittedPredictor.to_json() -> dict / FittedPredictor.from_json(dict)

Roofline units (phase predictor): pass `roofline=RooflineUnits(weight_bytes, kv_bytes_per_token,
bandwidth_bytes_per_s)` to `fit_predictor`/`evaluate`; `derived()` then holds
`achieved_bandwidth_fraction` and `fixed_overhead_ms`.

Questions about the future (model.forecast)::

    model.latency_at(fitted, input_tokens, context) -> float
    model.latency_curve(fitted, input_tokens, start_context, horizon, step=1, coverage=0.8) -> LatencyCurve
    model.next_tokens(fitted, input_tokens, start_context, count) -> TotalForecast(tokens, expected_ms, p90_ms)
    model.budget_crossing(fitted, input_tokens, budget_ms, start_context=None, max_context=131072) -> int | None

Honest evaluation (model.evaluation; protocols in model.splits)::

    ev = model.evaluate(frame, predictor="phase", protocol="grouped")   # or "extrapolate", "seed"
    ev.metrics["all" | "prefill" | "decode"] -> ErrorMetrics(n, mae, rmse, mape, p90_abs, p99_abs) | None
    ev.fitted -> FittedPredictor;  ev.mae, ev.rmse
    evaluations, floor = model.evaluate_all(frame, ["phase", "ridge"], protocol, train_max_context=512)
    model.noise_floor(frame, rows=None) -> {"all"|"prefill"|"decode": ErrorMetrics} | None
    model.seed_protocol(frame) -> Evaluation   # the study's exact Ridge fit and figures
    model.fit_report(...) -> dict              # JSON-safe summary, as `fit --json` prints it
    model.session_fit.evaluate_sessions(frame, predictors, protocol) -> (evaluations, fit_report dict)
        # the one path `fit` and the app's prediction panel share (build_report adds the panel's curves)

Errors a user can act on raise `profiler.errors.InputError` (a saved model asked to predict for
another configuration raises its subclass `ConfigurationMismatch`).
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> submodule: imported on first use, so `import model` (and `model.roofline`, which lives
# beside these) costs nothing until a fit is actually wanted
_EXPORTS = {
    "fit_predictor": "model.fitted",
    "FittedPredictor": "model.fitted",
    "ConfigurationMismatch": "model.fitted",
    "save_model": "model.saved",
    "load_model": "model.saved",
    "PREDICTORS": "model.predictors",
    "DEFAULT_PREDICTOR": "model.predictors",
    "RooflineUnits": "model.predictors",
    "evaluate": "model.evaluation",
    "evaluate_all": "model.evaluation",
    "seed_protocol": "model.evaluation",
    "Evaluation": "model.evaluation",
    "PROTOCOLS": "model.splits",
    "DEFAULT_PROTOCOL": "model.splits",
    "ErrorMetrics": "model.metrics",
    "noise_floor": "model.repeats",
    "latency_at": "model.forecast",
    "latency_curve": "model.forecast",
    "next_tokens": "model.forecast",
    "budget_crossing": "model.forecast",
    "LatencyCurve": "model.forecast",
    "TotalForecast": "model.forecast",
    "fit_report": "model.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
