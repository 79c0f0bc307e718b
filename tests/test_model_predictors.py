"""Predictors against latency laws known in advance: recovered terms, robustness to spikes,
non-negativity, roofline units, intervals, and saving as JSON with the configuration it knows.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from model.fitted import ConfigurationMismatch, FittedPredictor, fit_predictor
from model.predictors import PREDICTORS, RooflineUnits
from model.saved import load_model, save_model
from profiler.errors import InputError


def decode_law_frame(latency_of_context, *, sessions: int = 4, tokens: int = 400, noise_ms: float = 0.2,
                     spike_rate: float = 0.0, model: str = "law-a", seed: int = 1) -> pd.DataFrame:
    """Sessions whose decode steps follow `latency_of_context(c)` (plus noise and spikes); their first
    token costs 30 ms + 0.5 ms per prompt token."""
    rng = np.random.default_rng(seed)
    rows = []
    for session in range(sessions):
        input_tokens = 8 + 12 * session
        context = input_tokens + np.arange(tokens)
        latency = np.asarray(latency_of_context(context), float) + rng.normal(0, noise_ms, tokens)
        latency += np.where(rng.random(tokens) < spike_rate, 40.0, 0.0)  # GC-pause-like stalls
        latency[0] = 30 + 0.5 * input_tokens
        rows.append(pd.DataFrame({
            "Prompt_ID": f"s{session}", "Input_Token_Length": input_tokens, "Context_Size": context,
            "Token_Index_k": np.arange(1, tokens + 1), "Per_Token_Latency_ms": latency, "model": model,
            "dtype": "float32", "batch_size": 1}))
    return pd.concat(rows, ignore_index=True)


def linear_law(context):
    return 4.0 + 0.01 * context


def test_phase_recovers_the_law_despite_spikes() -> None:
    frame = decode_law_frame(linear_law, spike_rate=0.03)
    phase = fit_predictor(frame, "phase")
    derived = phase.derived()
    assert derived["decode_fixed_ms"] == pytest.approx(4.0, rel=0.02)
    assert derived["decode_ms_per_context_token"] == pytest.approx(0.01, rel=0.03)
    assert derived["first_token_fixed_ms"] == pytest.approx(30.0, rel=0.02)
    assert phase.coefficients["Input_Token_Length"] == pytest.approx(0.5, rel=0.02)
    # least squares would be pulled up by the spikes' mean (0.03 x 40 ms = 1.2 ms)
    ridge = fit_predictor(frame, "ridge")
    decode_rows = frame["Token_Index_k"] > 1
    contexts = frame.loc[decode_rows, "Context_Size"].to_numpy()
    inputs = frame.loc[decode_rows, "Input_Token_Length"].to_numpy()
    truth = linear_law(contexts)
    assert np.abs(phase.predict(inputs, contexts) - truth).mean() < 0.05
    assert np.abs(ridge.predict(inputs, contexts) - truth).mean() > 0.5


def test_phase_terms_never_go_negative() -> None:
    # latency falling with context (a warming cache, or noise) must not become a negative cost
    frame = decode_law_frame(lambda c: 10.0 - 0.005 * c)
    phase = fit_predictor(frame, "phase")
    assert phase.coefficients["Context_Size"] == 0.0
    assert phase.intercept > 0
    far = phase.predict(10, np.array([10_000, 100_000]))
    assert (far > 0).all()


def test_first_token_from_one_prompt_length_is_its_median() -> None:
    frame = decode_law_frame(linear_law).assign(Input_Token_Length=16)
    frame["Context_Size"] = 16 + frame["Token_Index_k"] - 1
    phase = fit_predictor(frame, "phase")
    assert phase.coefficients["Input_Token_Length"] == 0.0
    first_tokens = frame.loc[frame["Token_Index_k"] == 1, "Per_Token_Latency_ms"]
    assert phase.predict(16, 16) == pytest.approx(first_tokens.median())


def test_roofline_units_read_as_bandwidth_fraction_and_overhead() -> None:
    units = RooflineUnits(weight_bytes=2e9, kv_bytes_per_token=2e6, bandwidth_bytes_per_s=1e12)
    # a device reaching 40 % of its bandwidth, plus 1.5 ms of launch overhead per step
    frame = decode_law_frame(lambda c: 1.5 + units.decode_floor_ms(c) / 0.4, noise_ms=0.05)
    phase = fit_predictor(frame, "phase", roofline=units)
    derived = phase.derived()
    assert derived["achieved_bandwidth_fraction"] == pytest.approx(0.4, rel=0.02)
    assert derived["fixed_overhead_ms"] == pytest.approx(1.5, rel=0.05)
    assert "Roofline_ms" in phase.coefficients and "Context_Size" not in phase.coefficients
    restored = FittedPredictor.from_json(json.loads(json.dumps(phase.to_json())))
    assert restored.derived() == pytest.approx(derived)


def test_buckets_follow_the_data_inside_and_stay_flat_beyond() -> None:
    frame = decode_law_frame(linear_law, noise_ms=0.0)
    buckets = fit_predictor(frame, "buckets")
    inside = np.array([100, 200, 300])
    np.testing.assert_allclose(buckets.predict(8, inside), linear_law(inside), rtol=0.01)
    longest = frame["Context_Size"].max()
    assert buckets.predict(8, 4 * longest) == pytest.approx(buckets.predict(8, longest))


def test_interval_covers_what_it_says_on_new_runs_of_the_same_law() -> None:
    fitted = fit_predictor(decode_law_frame(linear_law, noise_ms=0.5, seed=1), "phase")
    fresh = decode_law_frame(linear_law, noise_ms=0.5, seed=2)
    decode = fresh[fresh["Token_Index_k"] > 1]
    low, high = fitted.interval(decode["Input_Token_Length"], decode["Context_Size"], coverage=0.8)
    inside = (decode["Per_Token_Latency_ms"] >= low) & (decode["Per_Token_Latency_ms"] <= high)
    assert inside.mean() == pytest.approx(0.8, abs=0.03)
    assert (high - low > 0).all()


@pytest.mark.parametrize("name", list(PREDICTORS))
def test_saved_json_predicts_exactly_as_the_fitted_model(name: str, tmp_path) -> None:
    frame = decode_law_frame(linear_law, spike_rate=0.01)
    fitted = fit_predictor(frame, name)
    path = save_model(fitted, tmp_path / "model.json")
    data = json.loads(path.read_text())  # plain JSON, no pickle
    assert data["predictor"] == name and data["fingerprint"]["model"] == "law-a"
    assert data["training"]["sessions"] == ["s0", "s1", "s2", "s3"]
    loaded = load_model(path)
    contexts = np.arange(8, 5000, 7)
    np.testing.assert_array_equal(loaded.predict(8, contexts), fitted.predict(8, contexts))
    np.testing.assert_array_equal(loaded.interval(8, contexts)[1], fitted.interval(8, contexts)[1])
    assert loaded.coefficients == fitted.coefficients


def test_a_saved_model_refuses_another_configuration(tmp_path) -> None:
    path = save_model(fit_predictor(decode_law_frame(linear_law, model="law-a"), "phase"), tmp_path / "a.json")
    loaded = load_model(path)
    assert len(loaded.predict_frame(decode_law_frame(linear_law, model="law-a", seed=5))) == 1600
    with pytest.raises(ConfigurationMismatch, match=r"model 'law-a' vs 'law-b'"):
        loaded.predict_frame(decode_law_frame(linear_law, model="law-b"))
    with pytest.raises(ConfigurationMismatch, match="batch_size 1 vs 8"):
        loaded.predict_frame(decode_law_frame(linear_law).assign(batch_size=8))


def test_fitting_refuses_mixed_configurations() -> None:
    mixed = pd.concat([decode_law_frame(linear_law, model="law-a"), decode_law_frame(linear_law, model="law-b")])
    with pytest.raises(InputError, match="2 configurations"):
        fit_predictor(mixed, "phase")


def test_loading_rejects_files_that_are_not_latency_models(tmp_path) -> None:
    not_json = tmp_path / "notes.txt"
    not_json.write_text("hello")
    with pytest.raises(InputError, match="not a JSON latency model"):
        load_model(not_json)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError, match="not a tokenlat-tui latency model"):
        load_model(other)
    with pytest.raises(InputError, match="no model file"):
        load_model(tmp_path / "missing.json")


def test_unknown_predictor_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="unknown predictor 'forest'; choose from phase, ridge, buckets"):
        fit_predictor(decode_law_frame(linear_law), "forest")
