"""`tokenlat-tui fit` in a real subprocess, on stores filled through `tokenlat-tui import`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # each test runs the CLI in subprocesses

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_CSV = REPO_ROOT.parent / "shared" / "data" / "seed-llm-latency" / "llm_latency_dataset.csv"


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENLAT_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tokenlat-tui: error: "), result.stderr
    return lines[0]


def write_repeats_csv(path: Path, model: str, prompts: int = 3, repeats: int = 3, seed: int = 0) -> Path:
    """A CSV in our export's columns: each prompt run `repeats` times, decode = 3 ms + 0.01 ms/context token."""
    rng = np.random.default_rng(seed)
    rows = []
    for prompt in range(prompts):
        input_tokens = 6 + 10 * prompt
        for repeat in range(repeats):
            for k in range(1, 121):
                context = input_tokens + k - 1
                latency = (12.0 + 0.2 * input_tokens) if k == 1 else 3.0 + 0.01 * context
                rows.append({"Prompt_ID": f"{model}-p{prompt}-r{repeat}", "Input_Token_Length": input_tokens,
                             "Context_Size": context, "Token_Index_k": k,
                             "Per_Token_Latency_ms": latency + abs(rng.normal(0, 0.2)),
                             "prompt": f"prompt number {prompt}", "model": model, "repeat_index": repeat})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory) -> Path:
    if not SEED_CSV.exists():
        pytest.skip(f"seed dataset not at {SEED_CSV}")
    data_dir = tmp_path_factory.mktemp("seed-store")
    assert run_cli(data_dir, "import", str(SEED_CSV)).returncode == 0
    return data_dir


@pytest.fixture(scope="module")
def repeats_dir(tmp_path_factory) -> Path:
    """Model A's repeated runs first, then model B's (newest), in one store."""
    data_dir = tmp_path_factory.mktemp("repeats-store")
    for model in ("model-a", "model-b"):
        csv_path = write_repeats_csv(tmp_path_factory.mktemp("csv") / f"{model}.csv", model)
        result = run_cli(data_dir, "import", str(csv_path))
        assert result.returncode == 0, result.stderr
    return data_dir


def test_seed_protocol_json_gives_the_published_table(seed_dir: Path) -> None:
    result = run_cli(seed_dir, "fit", "--protocol", "seed", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    ridge = report["predictors"]["ridge"]
    assert (round(ridge["mae"], 4), round(ridge["rmse"], 4)) == (34.0332, 159.1067)
    assert {k: round(v, 4) for k, v in ridge["coefficients"].items()} == {
        "Input_Token_Length": -4.2815, "Context_Size": 48.75}
    assert round(ridge["intercept"], 4) == 390.9156
    assert set(report["predictors"]) == {"phase", "ridge", "buckets"}
    for figures in report["predictors"].values():
        assert {"mae", "rmse", "intercept", "coefficients"} <= set(figures)


def test_default_table_shows_every_predictor_held_out_by_prompt(seed_dir: Path) -> None:
    result = run_cli(seed_dir, "fit")
    assert result.returncode == 0, result.stderr
    assert "hold out whole prompts" in result.stdout
    for name in ("phase", "ridge", "buckets"):
        assert name in result.stdout
    assert "33.73" in result.stdout  # ridge's leave-one-prompt-out MAE, as the seed README gives it
    assert "no noise floor" in result.stdout  # the seed ran each prompt once


def test_newest_configuration_is_fitted_with_its_noise_floor(repeats_dir: Path) -> None:
    result = run_cli(repeats_dir, "fit", "--json", "--predictor", "phase,ridge")
    assert result.returncode == 0, result.stderr
    assert "model-b" in result.stderr and "9 session(s) of 1 other configuration(s) left out" in result.stderr
    report = json.loads(result.stdout)
    assert report["configuration"]["model"] == "model-b" and len(report["sessions"]) == 9
    floor, phase = report["noise_floor"], report["predictors"]["phase"]
    assert floor["decode"]["n"] == 9 * 119
    assert phase["by_phase"]["decode"]["mae"] < 1.2 * floor["decode"]["mae"]
    assert phase["coefficients"]["Context_Size"] == pytest.approx(0.01, rel=0.1)
    assert set(report["predictors"]) == {"phase", "ridge"}


def test_extrapolation_reports_its_limits(repeats_dir: Path) -> None:
    result = run_cli(repeats_dir, "fit", "--protocol", "extrapolate", "--train-max-context", "80", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["train_max_context"] == 80
    assert report["predictors"]["phase"]["by_phase"]["prefill"] is None  # every first token is below 80
    assert report["predictors"]["phase"]["mape"] < 0.05


def test_a_saved_model_refuses_another_configuration(repeats_dir: Path, tmp_path: Path) -> None:
    sessions = json.loads(run_cli(repeats_dir, "sessions", "--json").stdout)
    ids_a = [s["id"] for s in sessions if s["model"] == "model-a"]
    ids_b = [s["id"] for s in sessions if s["model"] == "model-b"]
    saved = tmp_path / "model-a.json"
    result = run_cli(repeats_dir, "fit", *ids_a, "--predictor", "phase", "--save", str(saved), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(saved.read_text())["fingerprint"]["model"] == "model-a"
    scored = run_cli(repeats_dir, "fit", *ids_a[:3], "--load", str(saved), "--json")
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["predictors"]["phase"]["mae"] < 0.5
    refusal = one_error_line(run_cli(repeats_dir, "fit", *ids_b, "--load", str(saved)))
    assert "won't predict for a different configuration" in refusal and "'model-a' vs 'model-b'" in refusal
    # the table of a loaded model says what its figures are: none of these tokens was held out of its fit
    table = run_cli(repeats_dir, "fit", *ids_a[:3], "--load", str(saved))
    assert table.returncode == 0, table.stderr
    assert "scored on every token" in table.stdout and "error on every token, ms" in table.stdout
    assert "held-out" not in table.stdout
    # and its terms come in natural units, as the app shows them
    assert "per context token" in table.stdout and "fitted terms, in ms (slopes: ms per token)" in table.stdout


@pytest.mark.parametrize("args, message", [
    (["fit", "--predictor", "forest"], "unknown predictor 'forest'"),
    (["fit", "deadbeef"], "no session 'deadbeef'"),
    (["fit"], "no sessions to fit"),
])
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    assert message in one_error_line(run_cli(tmp_path, *args))


def test_grouped_fit_of_one_prompt_explains_what_to_do(repeats_dir: Path) -> None:
    sessions = json.loads(run_cli(repeats_dir, "sessions", "--json").stdout)
    line = one_error_line(run_cli(repeats_dir, "fit", sessions[0]["id"]))
    assert "needs at least 2" in line and "--protocol extrapolate" in line


def test_sessions_of_two_configurations_are_not_fitted_together(repeats_dir: Path) -> None:
    sessions = json.loads(run_cli(repeats_dir, "sessions", "--json").stdout)
    mixed = [next(s["id"] for s in sessions if s["model"] == m) for m in ("model-a", "model-b")]
    assert "span 2 configurations" in one_error_line(run_cli(repeats_dir, "fit", *mixed))
