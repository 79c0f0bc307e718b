"""Arguments that crashed (issue 8 §6): each is refused with one line and exit 2 before anything is stored.

Fast: the CLI's own `main()` runs in this process for refusals that come before any model loads, and
the checks that need a GPU or a particular CPU take those figures as arguments. The end-to-end runs
of the same refusals in real subprocesses are in test_bad_args_cli.py (slow).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from conftest import table_rows
from model.estimate import EstimateInputs, estimate
from model.estimate_shape import resolve_model, shape_from_config
from model.hardware import resolve_hardware
from profiler.architectures import load_architecture
from profiler.backends import ScriptedBackend
from profiler.backends.base import SamplingSettings
from profiler.backends.bnb_layout import check_cpu_4bit_layout, config_layer_sizes
from profiler.backends.embedded import EMBEDDED_CONFIG
from profiler.backends.memory_check import (available_gpu_bytes, cgroup_headroom, check_weights_fit,
                                            weights_plan)
from profiler.clock import ManualClock
from profiler.collect import Collector, RunSettings
from profiler.errors import BackendError, InputError
from profiler.store import SessionStore, store_path
from tui.cli import main

GIB = 1024**3


def refusal(capsys, *argv: str) -> str:
    """Run the CLI in-process; the one `tokenlat-tui: error:` line it printed (exit 2, nothing else)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("tokenlat-tui: error: "), captured.err
    assert captured.out == ""
    return lines[0]


@pytest.mark.parametrize("flag, value", [
    ("--temperature", "nan"), ("--temperature", "inf"), ("--temperature", "-inf"),
    ("--top-p", "nan"), ("--top-p", "inf"), ("--top-p", "-0.5"),
    ("--seed", str(2**64)), ("--seed", str(-(2**63) - 1)), ("--seed", "99999999999999999999"),
])
def test_non_finite_sampling_and_out_of_range_seeds_are_refused_before_anything_is_stored(
        capsys, private_data_dir, flag, value):
    line = refusal(capsys, "collect", "x", "--max-new-tokens", "2", "--warmup", "0", f"{flag}={value}")
    assert flag in line and value.lstrip("-") in line
    assert not store_path(private_data_dir).exists()  # refused before the store was opened


def test_the_seed_range_is_torchs():
    import torch

    for edge in (2**64 - 1, -(2**63)):
        RunSettings(sampling=SamplingSettings(temperature=1.0, seed=edge)).validate()
        torch.Generator().manual_seed(edge)  # the same edges torch accepts
    for beyond in (2**64, -(2**63) - 1):
        with pytest.raises(InputError, match="--seed"):
            RunSettings(sampling=SamplingSettings(temperature=1.0, seed=beyond)).validate()
        with pytest.raises((RuntimeError, ValueError)):
            torch.Generator().manual_seed(beyond)


def test_an_empty_model_name_is_refused_not_read_as_the_embedded_model(capsys, private_data_dir):
    assert "--model is empty" in refusal(capsys, "collect", "x", "--model", " ", "--max-new-tokens", "2")
    assert not store_path(private_data_dir).exists()


def test_a_collector_refuses_nan_temperature_before_writing_a_session(tmp_path):
    """The app builds a Collector directly: the same check, and no 'failed' session left behind."""
    store = SessionStore(tmp_path / "store")
    clock = ManualClock()
    settings = RunSettings(max_new_tokens=2, warmup=0, system_metrics=False,
                           sampling=SamplingSettings(temperature=float("nan")))
    with pytest.raises(InputError, match="--temperature"):
        Collector(ScriptedBackend(clock=clock), store, settings, clock=clock).run(["x"])
    assert store.list_sessions() == []


@pytest.mark.skipif(__import__("importlib.util").util.find_spec("flash_attn") is not None,
                    reason="flash-attn is installed here")
@pytest.mark.parametrize("device, words", [("auto", ["flash-attn", "not installed"]),
                                           ("cuda", ["flash-attn", "not installed"]),
                                           ("cpu", ["CUDA GPU"])])
def test_flash_attention_without_flash_attn_is_refused_before_loading(capsys, private_data_dir, device, words):
    line = refusal(capsys, "collect", "x", "--max-new-tokens", "2", "--attn", "flash_attention_2",
                   "--device", device)
    assert "--attn flash_attention_2" in line and all(word in line for word in words)
    assert not store_path(private_data_dir).exists()


def test_flash_attention_in_float32_is_refused_before_loading(capsys, private_data_dir):
    line = refusal(capsys, "collect", "x", "--attn", "flash_attention_2", "--device", "cuda", "--dtype", "float32")
    assert "float16 or bfloat16" in line and "--dtype float32" in line
    assert not store_path(private_data_dir).exists()


def test_an_endless_prompts_file_is_refused_at_its_limit_not_read_into_memory(capsys, private_data_dir):
    line = refusal(capsys, "collect", "--prompts", "/dev/zero", "--max-new-tokens", "2")
    assert "/dev/zero" in line and "MiB" in line  # was a MemoryError traceback
    assert not store_path(private_data_dir).exists()


# -- memory: the estimator's byte count against what is available


def llama_70b(device: str, *, random_weights: bool = True):
    return weights_plan(load_architecture("llama-3-70b"), "llama-3-70b", device, random_weights=random_weights)


def test_the_memory_check_counts_the_estimators_weight_bytes():
    plan = llama_70b("cpu")
    for dtype, quant in (("float32", "none"), ("bfloat16", "none"), ("bfloat16", "4bit")):
        figures = estimate(EstimateInputs(resolve_model("llama-3-70b"), resolve_hardware("H100"), dtype=dtype,
                                          quant=quant))
        assert plan.device_bytes(dtype, quant) == 0  # on the CPU, everything is host memory
        assert llama_70b("cuda").device_bytes(dtype, quant) == figures.weights_bytes
        if quant == "none":
            assert plan.host_bytes(dtype, quant) == figures.weights_bytes


def test_llama_70b_is_refused_on_a_24_gb_cpu_with_both_figures_and_what_to_try():
    with pytest.raises(BackendError) as refused:
        check_weights_fit(llama_70b("cpu"), "float32", "none", host_available=22 * GIB)
    line = str(refused.value)
    needed = llama_70b("cpu").host_bytes("float32", "none") / GIB
    assert f"{needed:.1f} GiB of CPU RAM" in line and "22.0 GiB is available" in line
    assert "a GPU" in line and "--skip-memory-check" in line
    assert "--dtype bfloat16" not in line  # 141 GB would not fit either: only settings that fit are offered


def test_the_suggestions_are_the_settings_that_would_fit():
    plan = weights_plan(load_architecture("llama-3-8b"), "llama-3-8b", "cpu", random_weights=True)
    bf16 = plan.host_bytes("bfloat16", "none")
    with pytest.raises(BackendError) as refused:
        check_weights_fit(plan, "float32", "none", host_available=bf16 + GIB)
    # quantising random weights builds them whole on the host first: float32 + 4bit doesn't fit either
    assert "try --dtype bfloat16 or --dtype bfloat16 --quant 4bit or a GPU (--device cuda)," in str(refused.value)
    check_weights_fit(plan, "bfloat16", "none", host_available=bf16 + GIB)  # fits: no error


def test_a_gpu_load_checks_gpu_memory_and_adds_up_several_gpus():
    plan = llama_70b("cuda")
    need = plan.device_bytes("bfloat16", "none")
    one_gpu = FakeCuda([80 * GIB])
    free, where = available_gpu_bytes(one_gpu, "cuda")
    with pytest.raises(BackendError) as refused:
        check_weights_fit(plan, "bfloat16", "none", host_available=8 * GIB, gpu_available=(free, where))
    # random weights are quantised after being built whole in host RAM: 8 GiB can't, so no --quant advice
    assert f"{need / GIB:.1f} GiB of GPU memory (cuda:0)" in str(refused.value) and "--quant" not in str(refused.value)
    saved_weights = llama_70b("cuda", random_weights=False)  # loaded shard by shard: 4bit fits in 80 GiB
    with pytest.raises(BackendError, match="try --quant 4bit,"):
        check_weights_fit(saved_weights, "bfloat16", "none", host_available=8 * GIB, gpu_available=(free, where))
    two_gpus = FakeCuda([80 * GIB, 80 * GIB])
    free, where = available_gpu_bytes(two_gpus, "cuda")
    assert free == 160 * GIB > need and where == "2 GPUs together"
    check_weights_fit(plan, "bfloat16", "none", host_available=8 * GIB, gpu_available=(free, where))
    free, where = available_gpu_bytes(two_gpus, "cuda:1")  # one named GPU: only its memory counts
    assert (free, where) == (80 * GIB, "cuda:1")


class FakeCuda:
    """torch's two calls the check makes, for GPUs this machine doesn't have (passed in, never patched)."""

    def __init__(self, free: list[int]) -> None:
        self.cuda = SimpleNamespace(device_count=lambda: len(free), mem_get_info=lambda i: (free[i], free[i]))


def test_the_cgroup_limit_caps_available_memory(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text(f"{4 * GIB}\n")
    (v2 / "memory.current").write_text(f"{GIB}\n")
    assert cgroup_headroom(v2) == 3 * GIB
    (v2 / "memory.max").write_text("max\n")
    assert cgroup_headroom(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text(f"{2 * GIB}\n")
    (v1 / "memory" / "memory.usage_in_bytes").write_text(f"{GIB // 2}\n")
    assert cgroup_headroom(v1) == 2 * GIB - GIB // 2
    assert cgroup_headroom(tmp_path / "none") is None


def test_configs_the_estimator_cant_read_are_not_checked():
    moe = dict(load_architecture("llama-3-8b"), num_local_experts=8)
    assert weights_plan(moe, "moe", "cpu", random_weights=True) is None
    prequantised = dict(load_architecture("llama-3-70b"), quantization_config={"quant_method": "awq", "bits": 4})
    assert weights_plan(prequantised, "awq", "cpu", random_weights=False) is None  # not counted at --dtype
    check_weights_fit(None, "float32", "none", host_available=0)  # nothing to compare: no refusal


# -- 4-bit layouts bitsandbytes' AVX512-BF16 CPU kernel can't pack


def odd_hidden_config() -> dict:
    return dict(EMBEDDED_CONFIG, hidden_size=200, num_attention_heads=4, num_key_value_heads=4, head_dim=64,
                intermediate_size=512, num_hidden_layers=2)


def test_a_hidden_size_the_4bit_cpu_kernel_cant_block_is_named():
    layers = config_layer_sizes(shape_from_config(odd_hidden_config(), "odd"))
    with pytest.raises(BackendError) as refused:
        check_cpu_4bit_layout(layers, "odd", packs_for_avx512_bf16=True)
    line = str(refused.value)
    assert "hidden_size 200" in line and "200 outputs, not a multiple of 32" in line and "--quant 8bit" in line
    check_cpu_4bit_layout(layers, "odd", packs_for_avx512_bf16=False)  # other CPUs take any size
    odd_input = dict(odd_hidden_config(), hidden_size=256, intermediate_size=544, head_dim=63)
    with pytest.raises(BackendError, match=r"odd number of inputs \(315\)"):  # o_proj reads 5 heads x 63
        check_cpu_4bit_layout(config_layer_sizes(shape_from_config(dict(odd_input, num_attention_heads=5,
                                                                        num_key_value_heads=5), "odd")),
                              "odd", packs_for_avx512_bf16=True)


@pytest.mark.parametrize("preset", ["llama-3-8b", "mistral-7b-v0.3", "qwen2.5-0.5b", "llama-2-70b"])
def test_shipped_presets_pass_the_4bit_cpu_layout_check(preset):
    layers = config_layer_sizes(shape_from_config(load_architecture(preset), preset))
    check_cpu_4bit_layout(layers, preset, packs_for_avx512_bf16=True)


def test_the_embedded_model_passes_the_4bit_cpu_layout_check():
    layers = config_layer_sizes(shape_from_config(EMBEDDED_CONFIG, "embedded"))
    check_cpu_4bit_layout(layers, "embedded", packs_for_avx512_bf16=True)


# -- fit --load on hostile files


def saved_model_text(tmp_path) -> dict:
    """A phase model fitted on a real store's sessions and saved by `save_model`, as its JSON dict."""
    from model.fitted import fit_predictor
    from model.saved import save_model

    store = SessionStore(tmp_path / "fitted-store")
    clock = ManualClock()
    Collector(ScriptedBackend(clock=clock, decode_ms=lambda context: 5.0 + 0.01 * context), store,
              RunSettings(max_new_tokens=20, ignore_eos=True, warmup=0, repeat=2, system_metrics=False),
              clock=clock).run(["a", "a longer prompt"])
    path = save_model(fit_predictor(store.tokens_frame(), "phase"), tmp_path / "good.json")
    store.close()
    return json.loads(path.read_text())


@pytest.mark.parametrize("case, words", [
    ("deeply-nested", ["nested too deeply"]),
    ("parameters-list", ["'parameters' is not a JSON object"]),
    ("parameter-dict-of-lists", ["parameters.decode_slope"]),
    ("mismatched-buckets", ["can't predict"]),
    ("nan-constant", ["NaN"]),
    ("huge-integer", ["parameters.decode_fixed_ms"]),
    ("fingerprint-nested", ["fingerprint.model"]),
])
def test_fit_load_refuses_damaged_model_files_with_one_line(capsys, tmp_path, case, words):
    path = tmp_path / f"{case}.json"
    if case == "deeply-nested":
        path.write_text("[" * 100_000 + "]" * 100_000)
    elif case == "nan-constant":
        path.write_text('{"format": "tokenlat-tui/latency-model", "version": 1, "parameters": {"a": NaN}}')
    else:
        data = saved_model_text(tmp_path)
        if case == "parameters-list":
            data["parameters"] = [1, 2]
        elif case == "parameter-dict-of-lists":
            data["parameters"]["decode_slope"] = {"a": [1, 2]}
        elif case == "mismatched-buckets":
            data["predictor"] = "buckets"
            data["parameters"] = {"decode_contexts": [1, 2, 3], "decode_medians": [1, 2], "first_inputs": [],
                                  "first_medians": []}
        elif case == "huge-integer":
            data["parameters"]["decode_fixed_ms"] = 10**400
        elif case == "fingerprint-nested":
            data["fingerprint"]["model"] = {"deep": [1]}
        path.write_text(json.dumps(data))
    line = refusal(capsys, "fit", "--load", str(path))
    assert str(path) in line and all(word in line for word in words), line


@pytest.mark.parametrize("argv, words", [
    (["sessions", "--limit", "99999999999999999999"], ["--limit", "99999999999999999999"]),
    (["fit", "--weight-bytes", "nan", "--kv-bytes-per-token", "1", "--bandwidth-gbs", "1"], ["--weight-bytes", "nan"]),
    (["fit", "--weight-bytes", "1", "--kv-bytes-per-token", "1", "--bandwidth-gbs", "inf"], ["--bandwidth-gbs", "inf"]),
    (["fit", "--weight-bytes", "1e308", "--kv-bytes-per-token", "1e308", "--bandwidth-gbs", "1e-308"],
     ["decode floor", "units"]),
    (["fit", "--predictor", ",,"], ["--predictor", "phase"]),
], ids=["sessions-limit-past-sqlite", "roofline-nan", "roofline-inf", "roofline-overflow", "no-predictor-named"])
def test_more_flags_that_crashed_or_misled_are_one_line(capsys, private_data_dir, argv, words):
    line = refusal(capsys, *argv)
    assert all(word in line for word in words) and "session store" not in line, line
    assert not store_path(private_data_dir).exists()


@pytest.mark.parametrize("flag, value", [("--memory", "1e308"), ("--bandwidth", "inf"), ("--tflops", "nan")])
def test_estimate_figures_must_be_finite(capsys, flag, value):
    line = refusal(capsys, "estimate", "--model", "llama-3-8b", "--bandwidth", "100", "--tflops", "10",
                   "--memory", "24", f"{flag}={value}")
    assert flag in line and "finite" in line  # 1e308 GiB was an OverflowError traceback, inf a report of 0 ms


def test_fit_load_still_reads_a_model_it_saved(tmp_path):
    from model.saved import load_model

    data = saved_model_text(tmp_path)
    loaded = load_model(tmp_path / "good.json")
    assert loaded.name == data["predictor"] == "phase"


# -- warm-up sessions: the JSON and the table give the same figures


def test_sessions_json_and_table_agree_for_warmup_sessions(capsys, private_data_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # every column: the point is the figures, not the width's choice
    store = SessionStore(private_data_dir)
    clock = ManualClock()
    Collector(ScriptedBackend(clock=clock), store,
              RunSettings(max_new_tokens=7, ignore_eos=True, warmup=1, repeat=2, system_metrics=False),
              clock=clock).run(["agree"])
    store.close()
    assert main(["sessions", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert main(["sessions"]) == 0
    table = table_rows(capsys.readouterr().out)
    assert sorted(s["warmup"] for s in listed) == [False, False, True]
    for session in listed:
        row = table[session["id"][:8]]
        assert int(row["tokens"]) == session["tokens"] == 7  # the table's figure, warm-up or not
        assert (row["warm-up"] == "yes") == session["warmup"]
        assert session["measured_tokens"] == (0 if session["warmup"] else 7)

