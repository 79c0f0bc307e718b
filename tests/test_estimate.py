"""The estimator as the app and the CLI call it: fits, limits, costs, hardware names, bad input."""

from __future__ import annotations

import dataclasses

import pytest

from model.estimate import EstimateInputs, estimate, estimate_from_names
from model.estimate_memory import peak_memory
from model.estimate_shape import parse_param_count, resolve_model, shape_from_config
from model.hardware import find_gpu, resolve_hardware
from profiler.architectures import load_architecture
from profiler.errors import InputError


# -- the issue's hand-computed fit cases

def test_mistral_7b_bf16_does_not_fit_an_8_gb_rtx_4060():
    result = estimate_from_names("mistral-7b", gpu="RTX 4060", dtype="bfloat16")
    assert not result.fits
    assert result.max_context == 0 and result.max_batch == 0


def test_mistral_7b_4bit_fits_an_8_gb_rtx_4060():
    result = estimate_from_names("mistral-7b", gpu="RTX 4060", quant="4bit")
    assert result.fits
    assert result.max_batch >= 1 and result.max_context >= result.input_tokens + result.output_tokens


def test_json_fields_the_issue_asks_for():
    fields = estimate_from_names("mistral-7b", gpu="H100").to_dict()
    for name in ("weights_bytes", "kv_cache_bytes_per_token", "prefill_ms_floor", "decode_ms_per_token_floor",
                 "fits", "max_context", "max_batch"):
        assert name in fields
    assert fields["kv_cache_bytes_per_token"] == 131_072
    assert fields["dtype"] == "bfloat16"  # auto on an H100


# -- limits: the largest context and batch fit, one more doesn't

def _fits(result, shape, hardware, batch, prompt, context):
    peak = peak_memory(shape, hardware, result.dtype, result.quant, batch, prompt, context)
    return peak <= hardware.total_memory_bytes


def test_max_context_is_the_edge_of_memory():
    shape, gpu = resolve_model("llama-2-7b"), resolve_hardware("RTX 4090")
    shape = dataclasses.replace(shape, max_context=None)  # let memory, not the model, set the limit
    result = estimate(EstimateInputs(model=shape, hardware=gpu, batch=4, input_tokens=100))
    assert result.max_context_limit == "memory"
    assert _fits(result, shape, gpu, 4, 100, result.max_context)
    assert not _fits(result, shape, gpu, 4, 100, result.max_context + 1)


def test_max_context_stops_at_the_models_limit():
    result = estimate_from_names("llama-2-7b", gpu="H200")
    assert (result.max_context, result.max_context_limit) == (4096, "model")


def test_max_batch_is_the_edge_of_memory():
    shape, gpu = resolve_model("qwen2.5-7b"), resolve_hardware("A100-80GB")
    result = estimate(EstimateInputs(model=shape, hardware=gpu, input_tokens=2000, output_tokens=500))
    assert _fits(result, shape, gpu, result.max_batch, 2000, 2500)
    assert not _fits(result, shape, gpu, result.max_batch + 1, 2000, 2500)


def test_more_gpus_give_more_memory_and_a_lower_bound():
    one = estimate_from_names("llama-2-70b", gpu="H100")
    two = estimate_from_names("llama-2-70b", gpu="H100", gpus=2)
    assert not one.fits and two.fits
    assert two.decode_ms_per_token_floor == pytest.approx(one.decode_ms_per_token_floor / 2)
    assert any("tensor parallelism" in warning for warning in two.warnings)


def test_figures_hang_together():
    result = estimate_from_names("llama-3-8b", gpu="L4", batch=4, input_tokens=1000, output_tokens=100)
    assert result.ttft_ms_floor == result.prefill_ms_floor
    assert result.decode_ms_first_floor <= result.decode_ms_per_token_floor <= result.decode_ms_last_floor
    assert result.total_ms_floor == pytest.approx(result.prefill_ms_floor + 99 * result.decode_ms_per_token_floor)
    assert result.aggregate_tokens_per_s_ceiling == pytest.approx(4 * 1000 / result.decode_ms_per_token_floor)


# -- cost

def test_api_cost_hand_computed():
    # 1,000 tokens in at $1/1M + 1,000 out at $2/1M = $0.003 a request; per 1M output tokens: 1,000 requests
    result = estimate_from_names("mistral-7b", gpu="H100", input_tokens=1000, output_tokens=1000,
                                 api_price_in=1.0, api_price_out=2.0)
    assert result.api_cost_per_request_usd == pytest.approx(0.003)
    assert result.api_cost_per_million_output_tokens_usd == pytest.approx(3.0)
    assert result.gpu_cost_per_request_usd_floor is None  # no GPU price given: no GPU cost


def test_gpu_cost_is_the_batch_runs_share():
    result = estimate_from_names("mistral-7b", gpu="H100", gpus=2, batch=8, price_per_gpu_hour=3.6)
    run_usd = 2 * 3.6 * result.total_ms_floor / 1000 / 3600
    assert result.gpu_cost_per_request_usd_floor == pytest.approx(run_usd / 8)
    assert result.gpu_cost_per_million_output_tokens_usd_floor == pytest.approx(run_usd / (8 * 256) * 1e6)
    assert result.api_cost_per_request_usd is None


@pytest.mark.parametrize("options, message", [
    ({"batch": 0}, "--batch"),
    ({"input_tokens": 0}, "--input-tokens"),
    ({"output_tokens": -1}, "--output-tokens"),
    ({"api_price_in": 1.0}, "both --api-price-in and --api-price-out"),
    ({"price_per_gpu_hour": -2.0}, "--price-per-gpu-hour"),
    ({"dtype": "int3"}, "--dtype"),
    ({"quant": "2bit"}, "--quant"),
])
def test_bad_inputs_raise_one_line(options, message):
    with pytest.raises(InputError, match=message) as caught:
        estimate_from_names("mistral-7b", gpu="H100", **options)
    assert "\n" not in str(caught.value)


# -- hardware

@pytest.mark.parametrize("device_name, row", [
    ("NVIDIA H100 80GB HBM3", "H100"),
    ("NVIDIA H100 PCIe", "H100-PCIe"),
    ("NVIDIA A100-SXM4-40GB", "A100-40GB"),
    ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
    ("NVIDIA A100 80GB PCIe", "A100-80GB-PCIe"),
    ("NVIDIA H200", "H200"),
    ("NVIDIA L4", "L4"),
    ("Tesla T4", "T4"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"),
    ("NVIDIA GeForce RTX 4060", "RTX 4060"),
    ("rtx4060", "RTX 4060"),
    ("h100", "H100"),
    ("NVIDIA GeForce RTX 4060 Ti", None),  # another card: no row is better than a wrong one
    ("NVIDIA L40S", None),
    ("NVIDIA H100 NVL", None),
    ("A100", None),  # ambiguous: 40 or 80 GB
    ("", None),
])
def test_gpu_names_as_nvml_reports_them(device_name, row):
    spec = find_gpu(device_name)
    assert (spec.name if spec else None) == row


def test_cpu_needs_the_users_figures():
    with pytest.raises(InputError, match="--gpu cpu needs"):
        resolve_hardware("cpu", bandwidth_gb_s=50)
    cpu = resolve_hardware("cpu", bandwidth_gb_s=50, tflops=1, memory_gib=32)
    assert not cpu.is_gpu
    assert estimate_from_names("qwen2.5-0.5b", gpu="cpu", bandwidth_gb_s=50, tflops=1, memory_gib=32).dtype == "float32"


def test_given_figures_override_the_table():
    assert resolve_hardware("H100", bandwidth_gb_s=2000).bandwidth_gb_s == 2000
    with pytest.raises(InputError, match="unknown GPU"):
        resolve_hardware("B200")


def test_t4_auto_dtype_is_fp16():
    assert estimate_from_names("mistral-7b", gpu="T4", quant="4bit").dtype == "float16"


# -- models

def test_params_alone_gives_a_generic_dense_model():
    result = estimate_from_names(params="7B", gpu="H100")
    assert result.params == 7_000_000_000
    assert result.weights_bytes == 14_000_000_000


@pytest.mark.parametrize("text, count", [("7B", 7_000_000_000), ("0.5b", 500_000_000), ("500M", 500_000_000),
                                         ("7e9", 7_000_000_000), ("1.5T", 1_500_000_000_000)])
def test_parse_param_count(text, count):
    assert parse_param_count(text) == count


@pytest.mark.parametrize("text", ["7Q", "", "seven", "12"])
def test_parse_param_count_rejects(text):
    with pytest.raises(InputError):
        parse_param_count(text)


def test_config_without_needed_fields_names_them():
    config = load_architecture("llama-3-8b")
    del config["num_hidden_layers"], config["intermediate_size"]
    with pytest.raises(InputError, match="num_hidden_layers, intermediate_size"):
        shape_from_config(config, "broken")


def test_mixture_of_experts_is_refused_clearly():
    config = dict(load_architecture("mistral-7b"), model_type="mixtral", num_local_experts=8)
    with pytest.raises(InputError, match="mixture-of-experts"):
        shape_from_config(config, "mixtral")


def test_hub_ids_resolve_offline_or_fail_with_one_line():
    assert resolve_model("mistralai/Mistral-7B-Instruct-v0.3").name == "mistral-7b-v0.3"
    with pytest.raises(InputError, match="works offline"):
        resolve_model("someone/some-model")


def test_params_with_a_model_replaces_the_count():
    shape = resolve_model("llama-2-7b", "7B")
    assert shape.params_total == 7_000_000_000
    assert shape.kv_values_per_token == resolve_model("llama-2-7b").kv_values_per_token
