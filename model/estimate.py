"""The estimator: memory, latency lower bounds and cost of a generation, before running it.

One pure function, `estimate(inputs) -> Estimate`, used by `tokenlat-tui estimate` and the app's
estimate screen (which re-runs it on every keypress: it takes microseconds). Build the inputs with
`resolve_model` and `resolve_hardware`, or directly from a ModelShape and a Hardware.
Times are roofline lower bounds (model/roofline.py): real code is slower, never faster.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from model.estimate_memory import max_batch, max_context, memory_budget
from model.estimate_shape import ModelShape, resolve_model
from model.hardware import Hardware, resolve_hardware
from model.roofline import (check_quant, decode_floor_sum, decode_step_floor, kv_bytes_per_token, prefill_floor,
                            resolve_dtype)
from profiler.errors import InputError


@dataclass(frozen=True)
class EstimateInputs:
    """What to estimate. Prices are inputs, never baked in: None leaves that cost out."""

    model: ModelShape
    hardware: Hardware
    dtype: str = "auto"
    """auto | float32 | float16 | bfloat16; auto resolves as the profiler does (bf16 on a GPU that has it)."""
    quant: str = "none"
    """none | 8bit | 4bit (bitsandbytes)."""
    batch: int = 1
    input_tokens: int = 512
    output_tokens: int = 256
    price_per_gpu_hour: float | None = None
    """USD per GPU per hour (rented or amortised); multiplied by the GPU count."""
    api_price_in: float | None = None
    """USD per 1M input tokens of an API serving the same model."""
    api_price_out: float | None = None
    """USD per 1M output tokens."""


@dataclass(frozen=True)
class Estimate:
    """The result. `*_floor` figures are lower bounds; `*_ceiling` figures upper bounds."""

    model: str
    hardware: str
    gpus: int
    bandwidth_gb_s: float
    """Per device, as the bound used it."""
    tflops: float
    """Per device, for the resolved dtype."""
    dtype: str
    """Resolved: never "auto"."""
    quant: str
    batch: int
    input_tokens: int
    output_tokens: int
    params: int
    # memory
    weights_bytes: int
    kv_cache_bytes_per_token: int
    """Per sequence: 2 · layers · KV heads · head dim · bytes."""
    kv_cache_bytes: int
    """The whole batch's cache at the end of the run."""
    activation_bytes: int
    """Estimate, not a bound."""
    runtime_overhead_bytes: int
    peak_memory_bytes: int
    memory_capacity_bytes: int
    fits: bool
    max_context: int
    """Longest context (prompt + output) per sequence that fits at this batch; 0 when nothing fits."""
    max_context_limit: str
    """"memory", or "model" when max_position_embeddings comes first."""
    max_batch: int
    """Most sequences of input + output tokens that fit at once."""
    # time (lower bounds)
    prefill_ms_floor: float
    prefill_bound: str
    """"compute" or "memory": which limit sets the prefill floor."""
    ttft_ms_floor: float
    """Time to first token: the prefill, which ends with the first sampled token."""
    decode_ms_per_token_floor: float
    """Mean over the generation's decode steps (TPOT), tokens 2..N."""
    decode_ms_first_floor: float
    decode_ms_last_floor: float
    decode_bound: str
    total_ms_floor: float
    tokens_per_s_ceiling: float
    """Per sequence: 1000 / decode_ms_per_token_floor."""
    aggregate_tokens_per_s_ceiling: float
    """batch × tokens_per_s_ceiling."""
    # cost (present when prices are given)
    gpu_cost_per_request_usd_floor: float | None = None
    gpu_cost_per_million_output_tokens_usd_floor: float | None = None
    api_cost_per_request_usd: float | None = None
    api_cost_per_million_output_tokens_usd: float | None = None
    warnings: list[str] = field(default_factory=list)
    """Things that make a figure less meaningful than it looks (slow quantised kernels, no bf16, …)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def estimate(inputs: EstimateInputs) -> Estimate:
    """Memory, time floors and costs for `inputs`; InputError for values that make no sense."""
    shape, hardware = inputs.model, inputs.hardware
    _check_counts(inputs)
    dtype, quant = resolve_dtype(inputs.dtype, hardware), check_quant(inputs.quant)
    batch, n_in, n_out = inputs.batch, inputs.input_tokens, inputs.output_tokens

    budget = memory_budget(shape, hardware, dtype, quant, batch, n_in, n_out)
    context_limit, context_reason = max_context(shape, hardware, dtype, quant, batch, n_in)
    prefill = prefill_floor(shape, hardware, dtype, quant, batch, n_in)
    # token k >= 2 is a decode step at context n_in + k - 1 (FIELD-NOTES "Metric definitions")
    first_context, last_context = n_in + 1, n_in + n_out - 1
    decode_steps = n_out - 1
    first = decode_step_floor(shape, hardware, dtype, quant, batch, first_context)
    last = decode_step_floor(shape, hardware, dtype, quant, batch, max(first_context, last_context))
    if decode_steps:
        decode_total_s = decode_floor_sum(shape, hardware, dtype, quant, batch, first_context, last_context)
        decode_mean_ms = decode_total_s / decode_steps * 1000
    else:  # one output token: no decode step; report the step the next token would take
        decode_total_s, decode_mean_ms = 0.0, first.ms
    total_s = prefill.seconds + decode_total_s
    tokens_per_s = 1000 / decode_mean_ms

    result = Estimate(
        model=shape.name, hardware=hardware.name, gpus=hardware.count, bandwidth_gb_s=hardware.bandwidth_gb_s,
        tflops=hardware.total_flops(dtype) / 1e12 / hardware.count, dtype=dtype, quant=quant, batch=batch,
        input_tokens=n_in, output_tokens=n_out, params=shape.params_total,
        weights_bytes=budget.weights_bytes, kv_cache_bytes_per_token=kv_bytes_per_token(shape, dtype),
        kv_cache_bytes=budget.kv_cache_bytes, activation_bytes=budget.activation_bytes,
        runtime_overhead_bytes=budget.overhead_bytes, peak_memory_bytes=budget.peak_bytes,
        memory_capacity_bytes=budget.capacity_bytes, fits=budget.fits,
        max_context=context_limit, max_context_limit=context_reason,
        max_batch=max_batch(shape, hardware, dtype, quant, n_in, n_out),
        prefill_ms_floor=prefill.ms, prefill_bound=prefill.bound, ttft_ms_floor=prefill.ms,
        decode_ms_per_token_floor=decode_mean_ms, decode_ms_first_floor=first.ms, decode_ms_last_floor=last.ms,
        decode_bound=last.bound if decode_steps else first.bound, total_ms_floor=total_s * 1000,
        tokens_per_s_ceiling=tokens_per_s, aggregate_tokens_per_s_ceiling=tokens_per_s * batch,
        warnings=_warnings(inputs, shape, hardware, dtype, quant, n_in + n_out),
    )
    return dataclasses.replace(result, **_costs(inputs, total_s))


def estimate_from_names(model: str | None = None, *, params: str | int | float | None = None,
                        gpu: str | None = None, gpus: int = 1, bandwidth_gb_s: float | None = None,
                        tflops: float | None = None, memory_gib: float | None = None, **options: Any) -> Estimate:
    """`estimate` from what a user types: a model name/path and a GPU name (the CLI's and the app's path).

    `options` are the remaining EstimateInputs fields (dtype, quant, batch, input_tokens, …).
    """
    shape = resolve_model(model, params)
    hardware = resolve_hardware(gpu, gpus=gpus, bandwidth_gb_s=bandwidth_gb_s, tflops=tflops, memory_gib=memory_gib)
    return estimate(EstimateInputs(model=shape, hardware=hardware, **options))


def _check_counts(inputs: EstimateInputs) -> None:
    if inputs.batch < 1:
        raise InputError(f"--batch must be at least 1, not {inputs.batch}")
    if inputs.input_tokens < 1:
        raise InputError(f"--input-tokens must be at least 1, not {inputs.input_tokens}")
    if inputs.output_tokens < 1:
        raise InputError(f"--output-tokens must be at least 1, not {inputs.output_tokens}")
    for flag, price in (("--price-per-gpu-hour", inputs.price_per_gpu_hour), ("--api-price-in", inputs.api_price_in),
                        ("--api-price-out", inputs.api_price_out)):
        if price is not None and not price >= 0:
            raise InputError(f"{flag} must be a price of 0 or more, not {price}")
    if (inputs.api_price_in is None) != (inputs.api_price_out is None):
        raise InputError("give both --api-price-in and --api-price-out (USD per 1M tokens; 0 for a free side)")


def _costs(inputs: EstimateInputs, total_s: float) -> dict[str, float]:
    costs: dict[str, float] = {}
    requests, output_tokens = inputs.batch, inputs.batch * inputs.output_tokens
    if inputs.price_per_gpu_hour is not None:
        # the whole batch shares the GPUs for total_s: each request pays its share
        run_usd = inputs.price_per_gpu_hour * inputs.hardware.count * total_s / 3600
        costs["gpu_cost_per_request_usd_floor"] = run_usd / requests
        costs["gpu_cost_per_million_output_tokens_usd_floor"] = run_usd / output_tokens * 1e6
    if inputs.api_price_in is not None and inputs.api_price_out is not None:
        request_usd = (inputs.input_tokens * inputs.api_price_in + inputs.output_tokens * inputs.api_price_out) / 1e6
        costs["api_cost_per_request_usd"] = request_usd
        # the prompt that comes with every output token is part of what 1M output tokens cost
        costs["api_cost_per_million_output_tokens_usd"] = request_usd / inputs.output_tokens * 1e6
    return costs


def _warnings(inputs: EstimateInputs, shape: ModelShape, hardware: Hardware, dtype: str, quant: str,
              context: int) -> list[str]:
    warnings = []
    if shape.is_generic:
        warnings.append(f"generic dense model: layer shapes assumed ({shape.layers} layers, "
                        f"hidden {shape.hidden_size}, "
                        "no grouped-query attention); give --model for exact KV-cache figures")
    if shape.model_type not in ("llama", "mistral", "qwen2", "qwen3", "generic"):
        warnings.append(f"model_type {shape.model_type!r}: parameters counted as a llama-style model "
                        "(gated MLP, RMSNorm); check against the model card")
    if shape.max_context and context > shape.max_context:
        warnings.append(f"{context} tokens exceed the model's max_position_embeddings ({shape.max_context})")
    if hardware.is_gpu and dtype == "bfloat16" and not hardware.bf16:
        warnings.append(f"{hardware.name} has no bf16 tensor cores: bf16 runs emulated, far slower than this bound")
    if quant == "8bit":
        warnings.append("bitsandbytes LLM.int8 decodes several times slower than bf16 (~5% of bandwidth): "
                        "8-bit saves memory, not time")
    if hardware.count > 1:
        warnings.append(f"{hardware.count} GPUs: bound assumes tensor parallelism with free communication; "
                        "a layer split (device_map='auto', what the profiler uses) is no faster per token than one GPU")
    return warnings


__all__ = ["Estimate", "EstimateInputs", "estimate", "estimate_from_names"]
