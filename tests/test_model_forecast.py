"""Forecasts from a fitted predictor: latency at c, curves, totals for the next N tokens, budgets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import model
from model.fitted import fit_predictor


@pytest.fixture(scope="module")
def fitted():
    """The phase predictor on sessions of decode = 6 ms + 0.004 ms per context token, noisy."""
    rng = np.random.default_rng(3)
    frames = []
    for session, input_tokens in enumerate((12, 40, 90, 150)):
        k = np.arange(1, 601)
        context = input_tokens + k - 1
        latency = 6.0 + 0.004 * context + rng.gamma(2.0, 0.25, k.size)  # right-skewed, as latencies are
        latency[0] = 25 + 0.2 * input_tokens
        frames.append(pd.DataFrame({"Prompt_ID": f"s{session}", "Input_Token_Length": input_tokens,
                                    "Context_Size": context, "Token_Index_k": k, "Per_Token_Latency_ms": latency}))
    return fit_predictor(pd.concat(frames, ignore_index=True), "phase")


def test_curve_is_the_prediction_with_its_interval_around_it(fitted) -> None:
    curve = model.latency_curve(fitted, input_tokens=20, start_context=21, horizon=4096, step=64)
    assert curve.context[0] == 21 and curve.context[-1] <= 4096
    np.testing.assert_allclose(curve.predicted_ms, fitted.predict(20, curve.context))
    assert (curve.low_ms < curve.predicted_ms).all() and (curve.predicted_ms < curve.high_ms).all()
    assert model.latency_at(fitted, 20, 1000) == pytest.approx(float(fitted.predict(20, 1000)))
    # context == input tokens is the first token, priced by the first-token model
    assert model.latency_at(fitted, 20, 20) > model.latency_at(fitted, 20, 21)


def test_next_tokens_total_adds_the_mean_residual_and_its_p90_lies_above(fitted) -> None:
    forecast = model.next_tokens(fitted, input_tokens=20, start_context=500, count=200)
    predicted = fitted.predict(20, np.arange(500, 700))
    assert forecast.tokens == 200
    assert forecast.expected_ms == pytest.approx(predicted.sum() + 200 * fitted.residual_mean["decode"])
    assert forecast.p90_ms > forecast.expected_ms
    # the spread of a total grows like sqrt(N): relative to the total it shrinks
    longer = model.next_tokens(fitted, input_tokens=20, start_context=500, count=5000)
    assert (longer.p90_ms / longer.expected_ms) < (forecast.p90_ms / forecast.expected_ms)
    assert model.next_tokens(fitted, 20, 500, 0).expected_ms == 0.0


def test_next_tokens_p90_matches_simulated_runs(fitted) -> None:
    # p90 of 300-token totals when each token's noise is drawn like the training noise
    rng = np.random.default_rng(11)
    contexts = np.arange(100, 400)
    totals = (6.0 + 0.004 * contexts + rng.gamma(2.0, 0.25, (4000, contexts.size))).sum(axis=1)
    forecast = model.next_tokens(fitted, input_tokens=20, start_context=100, count=300)
    assert forecast.p90_ms == pytest.approx(np.quantile(totals, 0.9), rel=0.01)
    assert forecast.expected_ms == pytest.approx(totals.mean(), rel=0.01)


@settings(max_examples=40, deadline=None)
@given(budget=st.floats(min_value=1.0, max_value=2000.0), start=st.integers(min_value=21, max_value=50_000))
def test_budget_crossing_is_the_first_context_over_budget(fitted, budget: float, start: int) -> None:
    crossing = model.budget_crossing(fitted, 20, budget, start_context=start, max_context=131_072)
    if crossing is None:
        assert (fitted.predict(20, np.arange(start, 131_073)) <= budget).all()
    else:
        assert crossing >= start
        assert fitted.predict(20, crossing) > budget
        assert (fitted.predict(20, np.arange(start, crossing)) <= budget).all()


def test_budget_crossing_for_the_linear_law_lands_where_the_line_crosses(fitted) -> None:
    terms = fitted.derived()
    crossing = model.budget_crossing(fitted, 20, 50.0)
    expected = (50.0 - terms["decode_fixed_ms"]) / terms["decode_ms_per_context_token"]
    assert crossing == int(np.floor(expected)) + 1
    assert model.budget_crossing(fitted, 20, 1e9) is None
