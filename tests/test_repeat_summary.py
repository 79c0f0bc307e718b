"""`collect --repeat N` ends with each figure's mean ± sd and min–max across the repeats (llama-bench style)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_cli
from profiler.store import SessionStore
from seeded_sessions import Spec, seed_sessions
from tui.repeat_summary import FIGURES, summarize_repeats


def test_the_summary_is_over_the_measured_repeats_of_each_prompt(tmp_path):
    store = seed_sessions(SessionStore(tmp_path / "data"), [
        Spec("w0000001", "p", seed=9, scale=2.0, warmup=True),
        Spec("r0000001", "p", seed=1), Spec("r0000002", "p", seed=2, scale=1.1), Spec("r0000003", "p", seed=3),
        Spec("s0000001", "alone", seed=4),  # one session of its prompt: nothing to summarise
    ])
    sessions = store.list_sessions()
    (summary,) = summarize_repeats(sessions)
    assert summary.prompt == "p" and summary.sessions == 3 and summary.warmups == 1 and summary.unfinished == 0
    measured = [s for s in sessions if s["id"].startswith("r")]
    for key, _label in FIGURES:
        values = np.array([s[key] for s in measured])
        figure = summary.figures[key]
        assert figure.mean == pytest.approx(values.mean())
        assert figure.sd == pytest.approx(values.std(ddof=1))
        assert (figure.low, figure.high, figure.n) == (values.min(), values.max(), 3)


@pytest.mark.slow  # a CLI subprocess on the embedded model
def test_collect_with_repeats_prints_the_summary(tmp_path):
    data_dir = tmp_path / "data"
    result = run_cli("collect", "summarise me", "--max-new-tokens", "8", "--ignore-eos", "--warmup", "1",
                     "--repeat", "3", data_dir=data_dir, timeout=300)
    assert result.returncode == 0, result.stderr
    measured = [s for s in SessionStore(data_dir).list_sessions() if not s["warmup"]]
    assert len(measured) == 3
    assert "across 3 repeats of 'summarise me' (1 warm-up left out)" in result.stdout
    ttft = np.array([s["ttft_ms"] for s in measured])
    line = next(line for line in result.stdout.splitlines() if "TTFT ms" in line and "±" in line)
    assert f"{ttft.mean():.2f} ± {ttft.std(ddof=1):.2f}" in line and f"{ttft.min():.2f}–{ttft.max():.2f}" in line
    rate = next(line for line in result.stdout.splitlines() if "tok/s" in line and "±" in line)
    assert "decode tok/s (1000 / mean decode ms)" in rate
