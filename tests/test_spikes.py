"""Spikes explained: the slowest tokens with their recorded causes (model/spikes.py, `show --spikes`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import error_lines, run_cli
from model.spikes import find_spikes
from tui.session_view import timing_label


def _token(k: int, ms: float, *, wall: float, gc: int = 0, gc_ms: float = 0.0, forward: float | None = None,
           sample: float | None = None) -> dict:
    return {"k": k, "context_size": 10 + k - 1, "latency_ms": ms, "phase": "prefill" if k == 1 else "decode",
            "wall_time": wall, "gc_collections": gc, "gc_ms": gc_ms, "forward_ms": forward, "sample_ms": sample}


def _steady(count: int = 100, ms: float = 10.0) -> list[dict]:
    return [_token(k, 40.0 if k == 1 else ms, wall=1000.0 + k * 0.01, forward=ms - 0.1, sample=0.1)
            for k in range(1, count + 1)]


def test_slowest_first_with_gc_and_sampling_causes():
    tokens = _steady()
    tokens[30] = _token(31, 45.0, wall=1000.31, gc=2, gc_ms=34.0, forward=10.9, sample=0.1)
    tokens[60] = _token(61, 25.0, wall=1000.61, forward=9.9, sample=15.1)
    spikes = find_spikes(tokens, top=3)
    assert [s.k for s in spikes[:2]] == [31, 61]
    assert spikes[0].times_median == pytest.approx(4.5)
    assert "garbage collection: 2 collections, 34.00 ms" in spikes[0].summary
    assert spikes[0].explained_ms == pytest.approx(34.0)
    assert "in sampling: 15.10 ms (usually 0.10 ms)" in spikes[1].summary
    assert "forward" not in spikes[1].summary  # the forward pass was as usual: not blamed
    assert spikes[2].summary == "not a spike: within 1.25× the median"  # a steady 10 ms token


def test_gc_inside_the_forward_pass_is_not_blamed_twice_and_a_remainder_is():
    tokens = _steady()
    # GC ran inside the forward pass: the pass is slow by exactly the collection's time
    tokens[20] = _token(21, 44.0, wall=1000.21, gc=1, gc_ms=34.0, forward=43.9, sample=0.1)
    # here the pass is 20 ms slower than GC explains: that remainder is the forward pass's own
    tokens[40] = _token(41, 64.0, wall=1000.41, gc=1, gc_ms=34.0, forward=63.9, sample=0.1)
    by_k = {s.k: s for s in find_spikes(tokens, top=2)}
    assert by_k[21].causes == ["garbage collection: 1 collection, 34.00 ms"]
    assert by_k[41].causes == ["garbage collection: 1 collection, 34.00 ms",
                               "in the forward pass: 63.90 ms (usually 9.90 ms)"]


def test_a_slow_token_with_nothing_recorded_is_unexplained():
    tokens = _steady()
    tokens[10] = _token(11, 30.0, wall=1000.11)  # no forward/sampling split, no GC, no metrics
    assert find_spikes(tokens, top=1)[0].summary.startswith("unexplained")


def test_metrics_beside_the_token_clock_drop_throttle_and_descheduling():
    tokens = _steady()
    tokens[50] = _token(51, 30.0, wall=1000.51)
    tokens[80] = _token(81, 28.0, wall=1000.81)
    metrics = [{"wall_time": 1000.0 + i * 0.05, "sm_clock_mhz": 1980.0, "gpu_temp_c": 60.0,
                "throttle_reasons": "0x0", "cpu_util": 99.0, "rss_mb": 500.0} for i in range(25)]
    # beside token 51 (ends at 1000.51): the clock dropped and hardware thermal slowdown was reported
    metrics[10] = {**metrics[10], "sm_clock_mhz": 1410.0, "throttle_reasons": "0x40", "gpu_temp_c": 84.0}
    # beside token 81: the process got half its usual CPU
    metrics[16] = {**metrics[16], "cpu_util": 45.0}
    by_k = {s.k: s for s in find_spikes(tokens, metrics, top=2)}
    assert "SM clock 1410 MHz (usually 1980 MHz)" in by_k[51].summary
    assert "throttled: hardware thermal slowdown" in by_k[51].summary
    assert "GPU temperature 60→84 °C" in by_k[51].summary
    assert "process got less CPU (45% vs usually 99%)" in by_k[81].summary
    assert "SM clock" not in by_k[81].summary


def test_no_decode_tokens_gives_no_spikes():
    assert find_spikes([_token(1, 40.0, wall=1.0)]) == []


@pytest.mark.slow
def test_show_spikes_on_an_imported_session(private_data_dir: Path, tmp_path: Path):
    rows = []
    for k in range(1, 121):
        latency = 30.0 if k == 1 else (52.0 if k == 77 else 8.0)
        rows.append({"Prompt_ID": "spiky001", "Input_Token_Length": 5, "Context_Size": 5 + k - 1, "Token_Index_k": k,
                     "Per_Token_Latency_ms": latency, "phase": "prefill" if k == 1 else "decode", "model": "m",
                     "gc_collections": 1 if k == 77 else 0, "gc_ms": 43.5 if k == 77 else 0.0, "prompt": "p"})
    csv = tmp_path / "spiky.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    assert run_cli("import", str(csv), data_dir=private_data_dir).returncode == 0
    table = run_cli("show", "spiky001", "--spikes", "3", data_dir=private_data_dir)
    assert table.returncode == 0, table.stderr
    first_row = next(line for line in table.stdout.splitlines() if "77" in line)
    assert "52.00" in first_row and "garbage collection: 1 collection, 43.50 ms" in first_row
    as_json = json.loads(run_cli("show", "spiky001", "--spikes", "--json", data_dir=private_data_dir).stdout)
    assert as_json["spikes"][0]["k"] == 77 and len(as_json["spikes"]) == 10
    bad = run_cli("show", "spiky001", "--spikes", "0", data_dir=private_data_dir)
    assert bad.returncode == 2 and "--spikes must be at least 1" in error_lines(bad.stderr)[0]
    assert timing_label({"timing": "arrival"}) not in table.stdout
    # a remote session's spikes say that its latencies are chunk arrival gaps
    remote_csv = tmp_path / "remote.csv"
    pd.DataFrame([{**row, "Prompt_ID": "remote01", "timing": "arrival"} for row in rows]).to_csv(remote_csv, index=False)
    assert run_cli("import", str(remote_csv), data_dir=private_data_dir).returncode == 0
    remote = run_cli("show", "remote01", "--spikes", "3", data_dir=private_data_dir)
    assert remote.returncode == 0, remote.stderr
    assert timing_label({"timing": "arrival"}) in " ".join(remote.stdout.split())  # the title may wrap


def test_a_token_under_the_threshold_is_not_a_spike_even_with_causes_beside_it():
    """Anything under ORDINARY_TIMES × the median is jitter: its row says so rather than listing causes
    (a GC inside a 1.22× token), in the one table `show --spikes` and the app's detail screen both draw."""
    from rich.console import Console

    from model.spikes import ORDINARY_TIMES
    from tui.spike_table import spike_table

    tokens = _steady()
    under = 10.0 * (ORDINARY_TIMES - 0.03)
    over = 10.0 * (ORDINARY_TIMES + 0.05)
    tokens[20] = _token(21, under, wall=1000.21, gc=1, gc_ms=1.5, forward=under - 0.1, sample=0.1)
    tokens[40] = _token(41, over, wall=1000.41, gc=1, gc_ms=2.0, forward=over - 0.1, sample=0.1)
    by_k = {s.k: s for s in find_spikes(tokens, top=2)}
    assert by_k[21].ordinary and by_k[21].summary.startswith("not a spike")
    assert not by_k[41].ordinary and "garbage collection" in by_k[41].summary
    console = Console(width=120, record=True)
    console.print(spike_table([by_k[41], by_k[21]], "spikes"))
    lines = console.export_text().splitlines()
    row_21 = next(line for line in lines if line.lstrip("│ ").startswith("21 "))
    row_41 = next(line for line in lines if line.lstrip("│ ").startswith("41 "))
    # × median readable against the threshold, and the row's words agree with it
    assert f"{ORDINARY_TIMES - 0.03:.2f}" in row_21 and "not a spike" in row_21 and "garbage" not in row_21
    assert f"{ORDINARY_TIMES + 0.05:.2f}" in row_41 and "garbage collection" in row_41
