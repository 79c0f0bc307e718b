"""Evaluation protocols, error figures and the noise floor, on the seed CSV and on sessions drawn
from a known latency law (so the right answer is known in advance).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.evaluation import evaluate, evaluate_all, seed_protocol
from model.metrics import combine_folds, error_metrics
from model.repeats import noise_floor, repeat_predictions
from model.splits import extrapolation_split, grouped_splits
from profiler.columns import SEED_COLUMNS
from profiler.errors import InputError
from profiler.store import SessionStore

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_CSV = REPO_ROOT.parent / "shared" / "data" / "seed-llm-latency" / "llm_latency_dataset.csv"


def law_sessions(prompts: int = 3, repeats: int = 3, tokens: int = 150, noise_ms: float = 0.5,
                 seed: int = 0) -> pd.DataFrame:
    """Sessions of a known law: decode 5 ms + 0.02 ms per context token, first token 20 + 0.3 ms per
    prompt token, Gaussian noise; each prompt repeated on one configuration."""
    rng = np.random.default_rng(seed)
    rows = []
    for prompt in range(prompts):
        input_tokens = 10 + 15 * prompt
        for repeat in range(repeats):
            for k in range(1, tokens + 1):
                context = input_tokens + k - 1
                law = 20 + 0.3 * input_tokens if k == 1 else 5 + 0.02 * context
                rows.append({"Prompt_ID": f"p{prompt}-r{repeat}", "Input_Token_Length": input_tokens,
                             "Context_Size": context, "Token_Index_k": k,
                             "Per_Token_Latency_ms": law + rng.normal(0, noise_ms), "prompt": f"prompt {prompt}",
                             "model": "law"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def seed_frame(tmp_path_factory) -> pd.DataFrame:
    """The seed CSV as the store gives it back after `tokenlat-tui import`."""
    if not SEED_CSV.exists():
        pytest.skip(f"seed dataset not at {SEED_CSV}")
    data_dir = tmp_path_factory.mktemp("seed-store")
    env = {**os.environ, "TOKENLAT_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-m", "tui", "import", str(SEED_CSV)], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return SessionStore(data_dir).tokens_frame()


@pytest.mark.slow
def test_store_gives_the_seed_rows_back_in_file_order(seed_frame: pd.DataFrame) -> None:
    # the seed protocol's random split picks row positions: any reordering changes its figures
    from_file = pd.read_csv(SEED_CSV)
    pd.testing.assert_frame_equal(seed_frame[SEED_COLUMNS].reset_index(drop=True), from_file, check_dtype=False)


@pytest.mark.slow
def test_seed_protocol_reproduces_the_published_table(seed_frame: pd.DataFrame) -> None:
    evaluation = seed_protocol(seed_frame)
    overall = evaluation.metrics["all"]
    assert overall.n == 95  # 376 train / 95 test rows, as the study split them
    assert round(overall.mae, 4) == 34.0332
    assert round(overall.rmse, 4) == 159.1067
    assert {k: round(v, 4) for k, v in evaluation.fitted.coefficients.items()} == {
        "Input_Token_Length": -4.2815, "Context_Size": 48.7500}
    assert round(evaluation.fitted.intercept, 4) == 390.9156


@pytest.mark.slow
def test_leave_one_prompt_out_on_the_seed_phase_beats_ridge(seed_frame: pd.DataFrame) -> None:
    ridge = evaluate(seed_frame, "ridge", "grouped")
    phase = evaluate(seed_frame, "phase", "grouped")
    assert ridge.folds == phase.folds == 4  # one per prompt
    assert ridge.mae == pytest.approx(33.7, abs=0.05)  # the seed README's honest figure
    assert phase.mae < ridge.mae
    assert phase.metrics["prefill"].n == 4 and phase.metrics["decode"].n == 467  # reported apart


def test_grouped_folds_hold_out_whole_prompts_with_their_repeats() -> None:
    frame = law_sessions(prompts=4, repeats=3, tokens=20)
    folds = grouped_splits(frame)
    assert len(folds) == 4
    tested = []
    for fold in folds:
        train_prompts = set(frame["prompt"].iloc[fold.train])
        test_prompts = set(frame["prompt"].iloc[fold.test])
        assert len(test_prompts) == 1 and not train_prompts & test_prompts
        tested.extend(fold.test)
    assert sorted(tested) == list(range(len(frame)))


def test_grouped_needs_two_prompts() -> None:
    with pytest.raises(InputError, match="at least 2"):
        evaluate(law_sessions(prompts=1, repeats=3, tokens=20), "phase", "grouped")


def test_extrapolation_trains_below_and_tests_above_the_limit() -> None:
    frame = law_sessions(prompts=2, repeats=1, tokens=200)
    (split,) = extrapolation_split(frame, train_max_context=100, test_max_context=150)
    assert frame["Context_Size"].iloc[split.train].max() <= 100
    tested = frame["Context_Size"].iloc[split.test]
    assert tested.min() > 100 and tested.max() <= 150
    assert len(split.test) == int(((frame["Context_Size"] > 100) & (frame["Context_Size"] <= 150)).sum())
    with pytest.raises(InputError, match="choose another"):
        extrapolation_split(frame, train_max_context=10_000)


def test_noise_floor_predicts_each_token_by_its_other_repeats() -> None:
    frame = pd.DataFrame({
        "Prompt_ID": ["a", "a", "b", "b", "c", "c", "lone", "lone"],
        "Input_Token_Length": [5] * 8, "Context_Size": [5, 6] * 4, "Token_Index_k": [1, 2] * 4,
        "Per_Token_Latency_ms": [10.0, 20.0, 12.0, 26.0, 14.0, 23.0, 99.0, 99.0],
        "prompt": ["same"] * 6 + ["other", "other"],
    })
    predicted = repeat_predictions(frame, window=0)
    # a at context 5 <- median(b, c) = 13; b <- median(a, c) = 12; c <- median(a, b) = 11; ...
    np.testing.assert_allclose(predicted[:6], [13.0, 24.5, 12.0, 21.5, 11.0, 23.0])
    assert np.isnan(predicted[6:]).all()  # a prompt run once has no repeat to predict it
    floor = noise_floor(frame, window=0)
    assert floor["all"].n == 6 and floor["prefill"].n == 3 and floor["decode"].n == 3
    assert floor["decode"].mae == pytest.approx((4.5 + 4.5 + 0.0) / 3)


def test_decode_floor_takes_the_other_repeats_around_the_context_and_never_the_first_token() -> None:
    k = np.arange(1, 8)
    latencies = {"a": [90, 1, 2, 3, 4, 5, 6], "b": [80, 10, 20, 30, 40, 50, 60], "c": [70, 7, 7, 7, 7, 7, 500]}
    frame = pd.concat([pd.DataFrame({"Prompt_ID": name, "Input_Token_Length": 5, "Context_Size": 4 + k,
                                     "Token_Index_k": k, "Per_Token_Latency_ms": values, "prompt": "same"})
                       for name, values in latencies.items()], ignore_index=True)
    predicted = repeat_predictions(frame, window=1)
    # a's token at k=4 (context 8) <- median of b and c at contexts 7..9: 20, 30, 40, 7, 7, 7
    assert predicted[3] == pytest.approx(np.median([20, 30, 40, 7, 7, 7]))
    # a's first token <- b's and c's first tokens only, never their decode steps
    assert predicted[0] == pytest.approx(75.0)
    # c's stall at k=7 is outvoted in a's window (contexts 10..11 of b and c: 50, 60, 7, 500)
    assert predicted[6] == pytest.approx(np.median([50, 60, 7, 500]))


def test_sessions_without_prompt_text_are_not_repeats() -> None:
    frame = law_sessions(prompts=1, repeats=3, tokens=10).assign(prompt="")
    assert noise_floor(frame) is None


def test_noise_floor_measures_the_noise_and_phase_reaches_it() -> None:
    noise_ms = 0.5
    frame = law_sessions(prompts=4, repeats=3, tokens=300, noise_ms=noise_ms)
    evaluations, floor = evaluate_all(frame, ["phase", "ridge"], "grouped")
    # each token against the median of the 2 other repeats' 17 tokens around its context (34
    # values): the median's own variance is (pi / 2) x noise^2 / 34 on top of the token's noise
    expected_floor = noise_ms * np.sqrt(1 + np.pi / 2 / 34) * np.sqrt(2 / np.pi)
    assert floor["decode"].mae == pytest.approx(expected_floor, rel=0.05)
    phase, ridge = evaluations
    # a model that learnt the law has only the token's own noise left: at the floor
    assert phase.metrics["decode"].mae == pytest.approx(noise_ms * np.sqrt(2 / np.pi), rel=0.08)
    assert phase.metrics["decode"].mae / floor["decode"].mae < 1.05
    # one line for all tokens can't follow the first token's separate law
    assert ridge.metrics["prefill"].mae > 10 * phase.metrics["prefill"].mae


def test_fold_figures_average_folds_and_pool_the_tails() -> None:
    folds = [(np.array([10.0, 10.0]), np.array([11.0, 11.0])), (np.array([10.0]), np.array([14.0]))]
    combined = combine_folds(folds)
    assert combined.n == 3
    assert combined.mae == pytest.approx((1.0 + 4.0) / 2)  # each fold counts once
    assert combined.p90_abs == pytest.approx(error_metrics(np.full(3, 10.0), np.array([11, 11, 14.0])).p90_abs)
    assert error_metrics(np.array([]), np.array([])) is None
