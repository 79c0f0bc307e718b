"""Sweeps without decoding: the seeded order, the grid's refusals, presets and TOML configurations,
the scaling analysis, output-file refusals, and the store's sweep rows (a real SQLite file)."""

from __future__ import annotations

import json
import math

import pytest

from conftest import assert_one_error_line
from model.scaling import KNEE_EXPONENT, describe, scaling
from profiler.errors import InputError
from profiler.sweep.configs import PRESETS, cell_options, read_config_file, resolve_configs, unsupported_reason
from profiler.sweep.grid import Cell, SweepSpec, parse_int_list, parse_name_list, plan


def spec(**kw) -> SweepSpec:
    values = {"mode": "local", "batches": [1, 8, 32], "lengths": [16, 64], "precisions": ["fp32", "fp16"],
              "repeat": 3, "seed": 7}
    values.update(kw)
    return SweepSpec(**values)


def test_order_is_reproducible_from_the_seed_and_changes_with_it():
    first = [(p.cell.key, p.repeat) for p in plan(spec())]
    again = [(p.cell.key, p.repeat) for p in plan(spec())]
    other = [(p.cell.key, p.repeat) for p in plan(spec(seed=8))]
    assert first == again
    assert first != other
    assert sorted(first) == sorted(other)  # the same cells, another order
    grid_order = [c.key for c in spec().cells()]
    assert [key for key, repeat in first if repeat == 0] != grid_order  # shuffled, not grid order


def test_repeats_are_spread_over_the_sweep():
    order = plan(spec())
    cells = len(spec().cells())
    assert len(order) == 3 * cells
    # every cell's repeat r runs before any cell's repeat r + 1: drift falls on every cell alike
    assert [p.repeat for p in order] == sorted(p.repeat for p in order)
    for repeat in range(3):
        assert {p.cell.key for p in order if p.repeat == repeat} == {c.key for c in spec().cells()}
    assert [p.position for p in order] == list(range(len(order)))


def test_config_cells_replace_the_precision_axis():
    s = spec(configs=["baseline", "sdpa"], precisions=[])
    keys = {c.key for c in s.cells()}
    assert "config=sdpa batch=8 tokens=16" in keys and len(keys) == 2 * 3 * 2
    assert Cell.from_params(Cell(batch=8, config="sdpa").params()).key == "config=sdpa batch=8 tokens=16"
    assert SweepSpec.from_json(json.loads(json.dumps(s.to_json()))) == s


@pytest.mark.parametrize("text, fragment", [("", "empty value"), ("1,,8", "empty value"), ("1,x", "not a whole"),
                                            ("0,8", "out of range"), ("-1", "out of range")])
def test_bad_lists_are_refused(text, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_int_list("--batch", text, [1])


def test_name_lists():
    assert parse_name_list("--precision", "fp32,int8,fp32", ["fp32", "int8"]) == ["fp32", "int8"]
    assert parse_int_list("--batch", "32,1,8,8", [1]) == [1, 8, 32]
    with pytest.raises(InputError, match="unknown 'fp64'"):
        parse_name_list("--precision", "fp32,fp64", ["fp32", "int8"])


def test_presets_and_a_users_toml_file(tmp_path):
    path = tmp_path / "configs.toml"
    path.write_text('[configs.fast]\nattn = "sdpa"\ndtype = "bfloat16"\n\n[configs.baseline]\nattn = "sdpa"\n')
    user = read_config_file(str(path))
    resolved = resolve_configs(["baseline", "fast", "int8"], user)
    assert resolved["fast"] == {"attn": "sdpa", "dtype": "bfloat16"}
    assert resolved["baseline"] == {"attn": "sdpa"}  # a user's definition wins over the preset's
    assert resolved["int8"] == PRESETS["int8"]
    with pytest.raises(InputError, match="unknown configuration 'turbo'"):
        resolve_configs(["turbo"], user)
    path.write_text('[configs.odd]\nflash = true\n')
    with pytest.raises(InputError, match="unknown option 'flash'"):
        read_config_file(str(path))
    path.write_text('configs = [')
    with pytest.raises(InputError, match="not valid TOML"):
        read_config_file(str(path))


def test_cell_options_and_what_the_cpu_cannot_run():
    from profiler.backends import BackendOptions

    base = BackendOptions()
    assert cell_options(base, "fp16", None).dtype == "float16"
    int8 = cell_options(base, "int8", None)
    assert int8.quant == "8bit"
    reason = unsupported_reason(int8, cuda=False, bitsandbytes=True)
    assert "int8" in reason and "CUDA" in reason
    assert "not installed" in unsupported_reason(int8, cuda=True, bitsandbytes=False)
    assert unsupported_reason(cell_options(base, "fp32", None), cuda=False, bitsandbytes=False) is None
    with pytest.raises(InputError, match="not supported by this build"):
        cell_options(base, "auto", {"no_such_option": 1})


def test_scaling_finds_the_knee_and_prices_each_doubling():
    # throughput doubles up to batch 8, then barely moves: the knee is 8
    throughput = {1: 100.0, 2: 200.0, 4: 400.0, 8: 790.0, 16: 900.0, 32: 950.0}
    latency = {b: b * 1000 / t for b, t in throughput.items()}
    result = scaling(throughput, latency)
    assert result.knee == 8
    first = result.segments[0]
    assert math.isclose(first.throughput_exponent, 1.0)
    assert math.isclose(first.per_doubling_latency_x, 1.0)
    late = result.segments[-1]
    assert late.throughput_exponent < KNEE_EXPONENT
    assert math.isclose(late.per_doubling_latency_x, (latency[32] / latency[16]))
    words = describe("fp32 · 64 tokens", result, {1: "memory", 32: "compute"})
    assert any("knee at batch 8" in w for w in words)
    assert any("memory-bound at batch 1" in w and "compute-bound at batch 32" in w for w in words)
    assert scaling({1: 10.0, 8: 80.0}).knee is None


def test_sweep_rows_in_a_real_store(private_data_dir):
    from profiler.store import SessionStore
    from profiler.store.sweeps import DONE, INTERRUPTED, RUNNING, SKIPPED, SweepStore
    from profiler.sweep.runner import create_sweep

    store = SessionStore()
    s = spec(repeat=2)
    sweep_id = create_sweep(store, s)
    sweeps = SweepStore(store.path)
    rows = sweeps.cells(sweep_id)
    assert [(r.cell, r.repeat) for r in rows] == [(p.cell.key, p.repeat) for p in plan(s)]
    assert {r.status for r in rows} == {"pending"}
    sweeps.start_cell(sweep_id, rows[0].cell, 0)
    sweeps.end_cell(sweep_id, rows[0].cell, 0, SKIPPED, reason="int8 needs a GPU")
    assert sweeps.cells(sweep_id)[0].reason == "int8 needs a GPU"
    assert sweeps.resolve(sweep_id[:8]) == sweep_id
    with pytest.raises(InputError, match="no sweep"):
        sweeps.resolve("ffffffff")
    listed = sweeps.list()
    assert listed[0]["id"] == sweep_id and listed[0]["cells"] == {"pending": len(rows) - 1, SKIPPED: 1}
    # a sweep left running by a process that is gone: its running cell becomes interrupted
    sweeps.start_cell(sweep_id, rows[1].cell, rows[1].repeat)
    sweeps.conn.execute("UPDATE sweeps SET pid=2147483646")
    sweeps.conn.commit()
    sweeps.recover(sweep_id)
    assert sweeps.get(sweep_id)["status"] == INTERRUPTED
    assert sweeps.cells(sweep_id)[1].status == INTERRUPTED
    assert DONE != RUNNING


def test_bad_sweep_flags_are_one_line_each(tmp_path, capsys):
    from tui.cli import main

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "cells.csv").write_text("mine\n")
    cases = [
        (["sweep", "--batch", ""], "empty value"),
        (["sweep", "--max-new-tokens", "16,,32"], "empty value"),
        (["sweep", "--precision", "fp32,fp64"], "unknown 'fp64'"),
        (["sweep", "--configs", "baseline,turbo"], "unknown configuration 'turbo'"),
        (["sweep", "--resume", "deadbeef"], "no sweep 'deadbeef'"),
        (["sweep", "--precision", "fp32", "--configs", "baseline"], "not both"),
        (["sweep", "--concurrency", "1,8"], "needs --server"),
        (["sweep", "--resume", "deadbeef", "--batch", "8"], "can't be combined with --resume"),
        (["sweep", "--out", str(tmp_path / "out")], "already exists"),
        (["sweep", "--config-file", str(tmp_path / "none.toml"), "--configs", "x"], "can't read config file"),
    ]
    for argv, fragment in cases:
        code = main(argv)
        captured = capsys.readouterr()
        result = type("R", (), {"returncode": code, "stderr": captured.err, "stdout": captured.out})
        assert_one_error_line(result, fragment)
    assert (tmp_path / "out" / "cells.csv").read_text() == "mine\n"  # never replaced


def test_identical_texts_without_words_score_full_rouge():
    from model.quality import output_quality

    # random weights decode bytes like these: rouge-score finds no word in them and said 0.0
    texts = ["\x07\u00e9\u00e9 \u2014 ~~", "!!"]
    quality = output_quality([[1, 2], [3]], [[1, 2], [3]], texts, list(texts))
    assert quality.exact_matches == 2 and quality.rouge_l_f1 == 1.0


def test_a_cells_peak_memory_is_its_own_not_the_process_lifetime_peak():
    import numpy as np

    from profiler.sweep.memory import PeakMemory, peak_rss_mb

    big = np.ones(300 * 2**20 // 8)  # touched: 300 MiB resident
    high = peak_rss_mb()
    del big
    peak = PeakMemory()
    peak.reset()
    if not peak.cell_only:
        pytest.skip("this kernel doesn't let a process reset its peak RSS (/proc/self/clear_refs)")
    assert peak.peak_mb() < high - 200  # the freed 300 MiB no longer counts


def test_the_static_compile_preset_is_valid_backend_options_at_any_batch():
    from profiler.backends import BackendOptions

    for batch in (1, 8):
        options = cell_options(BackendOptions(), "auto", PRESETS["static-compile"], batch)
        assert (options.cache, options.compile, options.batch) == ("static", True, batch)


def test_plots_are_written_once_and_never_replace_a_file(tmp_path):
    from model.sweep_plots import plot_files, write_plots

    rows = [{"line": "fp32 · 16 tokens", "batch": b, "p50_ms": 10.0 + b, "p99_ms": 12.0 + b,
             "tokens_per_s": b * 1000 / (10.0 + b)} for b in (1, 8, 32)]
    written = write_plots(rows, tmp_path, title="t")
    assert sorted(written) == sorted(plot_files(tmp_path)) and len(written) == 6
    assert all(p.stat().st_size > 1000 for p in written)
    (tmp_path / "frontier.svg").write_text("mine")
    from profiler.errors import InputError

    with pytest.raises(InputError, match="already exists"):  # the one writer's refusal (export_target)
        write_plots(rows, tmp_path, title="t")
    assert (tmp_path / "frontier.svg").read_text() == "mine"
    write_plots(rows, tmp_path, title="t", force=True)
    assert (tmp_path / "frontier.svg").read_text() != "mine"


def test_sweep_list_names_each_sweep_and_its_cells(private_data_dir, capsys):
    from profiler.store import SessionStore
    from profiler.sweep.runner import create_sweep
    from tui.cli import main

    sweep_id = create_sweep(SessionStore(), spec(repeat=1))
    assert main(["sweep", "--list"]) == 0
    out = capsys.readouterr().out
    assert sweep_id in out and "batch 1,8,32 · tokens 16,64 · fp32,fp16" in out and "(12 pending)" in out
    assert main(["sweep", "--list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["cells"] == {"pending": 12}
