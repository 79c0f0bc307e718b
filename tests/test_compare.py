"""`tokenlat-tui compare`: known differences between imported sessions, in a real subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import error_lines, run_cli
from model.compare import BOOTSTRAP_REPEATS, BOOTSTRAP_TOKENS, compare, make_side

pytestmark = pytest.mark.slow  # each test runs the CLI in subprocesses


def _rows(session_id: str, model: str, scale: float, repeat: int, seed: int, tokens: int = 200,
          input_tokens: int = 8) -> list[dict]:
    """Decode latencies 10 ms + a spread, times `scale`; the spread is the same for every scale."""
    rng = np.random.default_rng(seed)
    spread = rng.gamma(2.0, 0.5, size=tokens)
    rows = []
    for k in range(1, tokens + 1):
        latency = (30.0 if k == 1 else 10.0 + spread[k - 1]) * scale
        rows.append({"Prompt_ID": session_id, "Input_Token_Length": input_tokens, "Context_Size": input_tokens + k - 1,
                     "Token_Index_k": k,
                     "Per_Token_Latency_ms": latency, "phase": "prefill" if k == 1 else "decode", "model": model,
                     "repeat_index": repeat, "prompt": "the same prompt"})
    return rows


def _import(data_dir: Path, tmp_path: Path, rows: list[dict]) -> None:
    csv = tmp_path / "sessions.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    result = run_cli("import", str(csv), data_dir=data_dir)
    assert result.returncode == 0, result.stderr


def test_compare_json_gives_the_known_difference_inside_its_interval(private_data_dir: Path, tmp_path: Path):
    # B's tokens are A's times 1.2: every percentile and TTFT is exactly 20 % higher
    _import(private_data_dir, tmp_path, _rows("aaaa0001", "m", 1.0, 0, seed=1) + _rows("bbbb0001", "m", 1.2, 0, seed=1))
    result = run_cli("compare", "aaaa0001", "bbbb0001", "--json", data_dir=private_data_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (comparison,) = report["comparisons"]
    assert comparison["method"] == BOOTSTRAP_TOKENS
    for metric in ("decode_p50_ms", "decode_p95_ms", "decode_p99_ms"):
        diff = comparison["differences"][metric]
        assert diff["relative"] == pytest.approx(0.2, abs=1e-9)
        assert diff["ci_low"] < 0.2 < diff["ci_high"]
    assert comparison["differences"]["tokens_per_s"]["relative"] == pytest.approx(1 / 1.2 - 1, abs=1e-9)
    assert comparison["differences"]["ttft_ms"]["relative"] == pytest.approx(0.2, abs=1e-9)
    assert comparison["differences"]["ttft_ms"]["ci_low"] is None  # one TTFT per side: no interval by tokens
    # the interval as it is, both ends (a bootstrap interval is asymmetric: no "± half-width")
    p50 = comparison["differences"]["decode_p50_ms"]
    assert comparison["verdict"].startswith(
        f"bbbb0001 is 20.0% slower at p50 than aaaa0001 (95% CI {p50['ci_low']:+.1%} to {p50['ci_high']:+.1%}, ")
    assert "±" not in comparison["verdict"]
    assert "slower at p50 than aaaa0001" in comparison["verdict"]
    assert not any("contexts differ" in line for line in report["notes"])  # one prompt: same contexts


def test_sides_decoded_at_different_contexts_are_flagged(private_data_dir: Path, tmp_path: Path):
    # the same latencies, but B's prompt is 400 tokens long: a difference could come from the context
    _import(private_data_dir, tmp_path, _rows("aaaa0001", "m", 1.0, 0, seed=1)
            + _rows("bbbb0001", "m", 1.0, 0, seed=1, input_tokens=400))
    report = json.loads(run_cli("compare", "aaaa0001", "bbbb0001", "--json", data_dir=private_data_dir).stdout)
    assert "decode contexts differ (aaaa0001 9–207, bbbb0001 401–599 tokens)" in " ".join(report["notes"])
    table = run_cli("compare", "aaaa0001", "bbbb0001", data_dir=private_data_dir)
    assert "decode contexts differ" in " ".join(table.stdout.split())


def test_groups_of_repeats_are_resampled_by_session(private_data_dir: Path, tmp_path: Path):
    rows = []
    for repeat in range(3):
        rows += _rows(f"aaaa000{repeat}", "m", 1.0, repeat, seed=10 + repeat)
        rows += _rows(f"bbbb000{repeat}", "m", 0.9, repeat, seed=10 + repeat)
    _import(private_data_dir, tmp_path, rows)
    result = run_cli("compare", "aaaa0000,aaaa0001,aaaa0002", "bbbb0000,bbbb0001,bbbb0002", "--json",
                     data_dir=private_data_dir)
    assert result.returncode == 0, result.stderr
    comparison = json.loads(result.stdout)["comparisons"][0]
    assert comparison["method"] == BOOTSTRAP_REPEATS
    assert comparison["sessions"] == 3
    p50 = comparison["differences"]["decode_p50_ms"]
    assert p50["relative"] == pytest.approx(-0.1, abs=1e-9)
    assert p50["ci_low"] <= -0.1 <= p50["ci_high"]
    assert "faster at p50" in comparison["verdict"]
    table = run_cli("compare", "aaaa0000,aaaa0001,aaaa0002", "bbbb0000,bbbb0001,bbbb0002", data_dir=private_data_dir)
    assert table.returncode == 0, table.stderr
    assert "10.0%" in table.stdout and "faster at p50" in table.stdout


def test_different_models_are_refused_unless_asked(private_data_dir: Path, tmp_path: Path):
    _import(private_data_dir, tmp_path, _rows("aaaa0001", "model-a", 1.0, 0, seed=1)
            + _rows("bbbb0001", "model-b", 1.0, 0, seed=2))
    refused = run_cli("compare", "aaaa0001", "bbbb0001", data_dir=private_data_dir)
    assert refused.returncode == 2
    (line,) = error_lines(refused.stderr)
    assert "different models" in line and "--any" in line
    allowed = run_cli("compare", "aaaa0001", "bbbb0001", "--any", "--json", data_dir=private_data_dir)
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.parametrize("args, fragment", [
    (["aaaa0001"], "at least two"),
    (["aaaa0001", "nope"], "no session"),
    (["aaaa0001", "aaaa0001,"], "empty session id"),
    (["aaaa0001", "bbbb0001", "--confidence", "1.5"], "--confidence"),
])
def test_bad_compare_arguments_are_one_line(private_data_dir: Path, tmp_path: Path, args, fragment):
    _import(private_data_dir, tmp_path, _rows("aaaa0001", "m", 1.0, 0, seed=1) + _rows("bbbb0001", "m", 1.0, 0, seed=2))
    result = run_cli("compare", *args, data_dir=private_data_dir)
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert fragment in line


def test_identical_sides_do_not_differ_clearly():
    """Pure: the same latencies on both sides give a zero difference and an interval around it."""
    tokens = [{"phase": "prefill", "latency_ms": 20.0}] + [
        {"phase": "decode", "latency_ms": 5.0 + (i % 7) * 0.1} for i in range(300)]
    a = make_side("A", [("a", tokens)])
    b = make_side("B", [("b", tokens)])
    result = compare(a, b, resamples=500)
    p50 = result.differences["decode_p50_ms"]
    assert p50.relative == 0.0 and p50.ci_low <= 0.0 <= p50.ci_high
    assert "do not differ clearly" in result.verdict()


def test_a_remote_session_is_labelled_with_its_timing(private_data_dir: Path):
    from profiler.store import SessionStore
    from seeded_sessions import Spec, seed_sessions
    from tui.session_view import ARRIVAL_LABEL

    seed_sessions(SessionStore(private_data_dir), [Spec("aaaa0001-local", "p", seed=1, day=1),
                                                   Spec("dddd0001-remote", "p", seed=1, day=2, timing="arrival")])
    table = run_cli("compare", "aaaa0001", "dddd0001", data_dir=private_data_dir)
    assert table.returncode == 0, table.stderr
    assert f"dddd0001: {ARRIVAL_LABEL}" in table.stdout and f"aaaa0001: {ARRIVAL_LABEL}" not in table.stdout
    report = json.loads(run_cli("compare", "aaaa0001", "dddd0001", "--json", data_dir=private_data_dir).stdout)
    assert report["baseline"]["timing"] == "device" and report["comparisons"][0]["timing"] == "arrival"
