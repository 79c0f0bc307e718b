"""Fitting stored sessions: the one path `tokenlat-tui fit` and the app's prediction panel share.

Both evaluate with `evaluate_sessions` (same frame, same protocol, same splits), so for the same
sessions they report the same errors and terms to the last digit. The default protocol holds out
whole prompts (model.splits): repeats of one prompt stay on one side of every split, since a model
tested on a twin of a run it was trained on looks better than it is.

The app adds what a panel draws: a prediction curve beyond the current context and the time the
next N tokens should take, from the same fitted model whose terms it shows.

numpy/pandas load on first use: the app imports this module for its first frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.columns import FINGERPRINT_FIELDS
from profiler.errors import InputError

GROUPED = "grouped"
CURVE_POINTS = 200
"""Points on the prediction curve: the plot is a terminal, not a PDF."""


def evaluate_sessions(frame, predictors: list[str], protocol: str = GROUPED, *, train_max_context: int | None = None,
                      test_max_context: int | None = None, roofline=None) -> tuple[list, dict[str, Any]]:
    """(evaluations, the `fit --json` report) for a token frame of one configuration."""
    from model.evaluation import evaluate_all
    from model.frame import fingerprint, prepare
    from model.report import fit_report

    prepared = prepare(frame)
    extra = {}
    if protocol == "extrapolate":
        extra = {"train_max_context": train_max_context, "test_max_context": test_max_context}
    evaluations, floor = evaluate_all(prepared, predictors, protocol, train_max_context=train_max_context,
                                      test_max_context=test_max_context, roofline=roofline)
    report = fit_report(evaluations, floor, protocol=protocol, fingerprint=fingerprint(prepared),
                        sessions=list(dict.fromkeys(prepared["Prompt_ID"])), tokens=len(prepared), **extra)
    return evaluations, report


@dataclass
class PredictorFit:
    name: str
    figures: dict[str, Any]
    """This predictor's entry of the `fit --json` report: held-out errors (ms), terms, folds."""
    curve: list[float]
    """Predicted ms per token at each context of `FitReport.curve_contexts`."""
    next_tokens_ms: float
    """Predicted time for the next N tokens after the current context."""

    @property
    def mae(self) -> float | None:
        return self.figures["mae"]

    @property
    def rmse(self) -> float | None:
        return self.figures["rmse"]


@dataclass
class FitReport:
    session_ids: list[str]
    scope: str
    """What was fitted, in words ('3 marked sessions', '12 sessions of …')."""
    input_tokens: int
    current_context: int
    horizon: int
    next_n: int
    measured_contexts: list[int]
    measured_ms: list[float]
    """The decode tokens fitted on (the plot's points)."""
    curve_contexts: list[int]
    report: dict[str, Any]
    """The whole `fit --json` object for these sessions (with protocol 'grouped')."""
    held_out_note: str | None = None
    """Why there is no held-out error (one prompt only); None when there is."""
    fits: list[PredictorFit] = field(default_factory=list)


def sessions_to_fit(sessions: list[dict[str, Any]], marked: list[str], reference: dict[str, Any] | None
                    ) -> tuple[list[str], str]:
    """The marked sessions, else every measured session sharing the reference's configuration."""
    usable = [s for s in sessions if not s["warmup"] and (s["tokens"] or 0) >= 2 and s["status"] != "running"]
    if marked:
        chosen = [s["id"] for s in usable if s["id"] in marked]
        # say what was marked but not fitted: "1 marked session" when two were marked reads as a miscount
        dropped = [s for s in sessions if s["id"] in marked and s["id"] not in chosen]
        warmups = sum(1 for s in dropped if s["warmup"])
        notes = ([f"{warmups} warm-up{'' if warmups == 1 else 's'} left out"] if warmups else []) + (
            [f"{len(dropped) - warmups} running or under 2 tokens left out"] if len(dropped) > warmups else [])
        scope = f"{len(chosen)} marked session{'' if len(chosen) == 1 else 's'}"
        return chosen, scope + (f" ({'; '.join(notes)})" if notes else "")
    if reference is None:
        return [], "no sessions"
    key = {f: reference.get(f) for f in FINGERPRINT_FIELDS}
    chosen = [s["id"] for s in usable if all(s.get(f) == v for f, v in key.items())]
    model = str(reference.get("model") or "").rsplit("/", 1)[-1]
    label = f" ({reference['model_label']})" if reference.get("model_label") else ""
    return chosen, f"{len(chosen)} session{'' if len(chosen) == 1 else 's'} of {model}{label}"


def session_frame(store, session_ids: list[str]):
    """The tokens of the named sessions, exactly as `tokenlat-tui fit ID ...` reads them."""
    # named sessions are used even if they were warm-ups: the user asked for them (as `fit` does)
    return store.tokens_frame(session_ids, include_warmup=True)


def build_report(store, session_ids: list[str], scope: str, predictors: list[str], *, horizon: int, next_n: int,
                 current: tuple[int, int] | None = None) -> FitReport:
    """Fit and evaluate as `fit --json ID ...` does; `current` = (input tokens, context) to extrapolate
    from (default: the latest session's end)."""
    from model.frame import fingerprint, is_first_token, prepare, prompt_groups
    from model.report import evaluation_dict

    if not session_ids:
        raise InputError("nothing to fit: run a prompt or mark finished sessions (space) first")
    raw = session_frame(store, session_ids)
    if raw.empty:
        raise InputError("nothing to fit: the chosen sessions have no tokens")
    frame = prepare(raw)
    fingerprint(frame)  # marked sessions of several configurations: one clear line, not a fit of none
    note = None
    if len(set(prompt_groups(frame))) >= 2:
        evaluations, report = evaluate_sessions(frame, predictors)
        fitted = {e.predictor: (e.fitted, evaluation_dict(e)) for e in evaluations}
    else:
        # one prompt (repeats of it included): nothing can be held out, but the fit still predicts
        note = "no held-out error: it needs 2 different prompts (repeats of one prompt count once)"
        fitted = {name: _fit_without_evaluation(frame, name) for name in predictors}
        report = {"protocol": GROUPED, "sessions": list(dict.fromkeys(frame["Prompt_ID"])), "tokens": len(frame),
                  "predictors": {name: figures for name, (_, figures) in fitted.items()}}
    decode = frame[~is_first_token(frame)]
    if current is None:
        last = frame[frame["Prompt_ID"] == frame["Prompt_ID"].iloc[-1]]
        current = (int(last["Input_Token_Length"].iloc[0]), int(last["Context_Size"].max()) + 1)
    input_tokens, context = current
    horizon = max(horizon, context + 1)
    # the curve spans the measured contexts too, so a plot can draw the fit over its data and its
    # extrapolation beyond (from the current context to the horizon) apart
    start = min(int(decode["Context_Size"].min()), context) if len(decode) else context
    step = max(1, (horizon - start) // CURVE_POINTS)
    contexts = list(range(start, horizon + 1, step))
    result = FitReport(list(session_ids), scope, input_tokens, context, horizon, next_n,
                       decode["Context_Size"].astype(int).tolist(), decode["Per_Token_Latency_ms"].astype(float).tolist(),
                       contexts, report, note)
    upcoming = list(range(context, context + next_n))
    for name, (model, figures) in fitted.items():
        curve = model.predict([input_tokens] * len(contexts), contexts)
        next_ms = float(sum(model.predict([input_tokens] * len(upcoming), upcoming))) if upcoming else 0.0
        result.fits.append(PredictorFit(name, figures, [float(v) for v in curve], next_ms))
    return result


def _fit_without_evaluation(frame, name: str):
    from model.evaluation import SCOPES, Evaluation
    from model.fitted import fit_predictor
    from model.report import evaluation_dict

    fitted = fit_predictor(frame, name)
    evaluation = Evaluation(name, GROUPED, {scope: None for scope in SCOPES}, fitted, 0, None)
    return fitted, evaluation_dict(evaluation)


__all__ = ["FitReport", "PredictorFit", "build_report", "evaluate_sessions", "session_frame", "sessions_to_fit"]
