"""An Estimate as plain text: what `tokenlat-tui estimate` prints without --json.

Plain strings, no rich/textual: the app lays out its own widgets and may reuse the formatters.
"""

from __future__ import annotations

from model.estimate import Estimate
from model.estimate_shape import format_param_count

GIB, MIB = 1024**3, 1024**2


def format_bytes(count: float) -> str:
    if count >= GIB:
        return f"{count / GIB:.2f} GiB"
    if count >= MIB:
        return f"{count / MIB:.1f} MiB"
    return f"{count / 1024:.1f} KiB"


def format_ms(ms: float) -> str:
    if ms >= 10_000:
        return f"{ms / 1000:.1f} s"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"


def format_bandwidth(gb_s: float) -> str:
    return f"{gb_s / 1000:.3g} TB/s" if gb_s >= 1000 else f"{gb_s:.3g} GB/s"


def format_usd(usd: float | None) -> str:
    if usd is None:
        return "—"
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.3g}"


def format_estimate(result: Estimate) -> str:
    gpus = f"{result.gpus}× " if result.gpus > 1 else ""
    quant = "" if result.quant == "none" else f", {result.quant} quantised"
    lines = [
        f"{result.model} ({format_param_count(result.params)} parameters, {result.dtype}{quant}) "
        f"on {gpus}{result.hardware} "
        f"({format_bandwidth(result.bandwidth_gb_s)}, {result.tflops:.3g} TFLOPS per device)",
        f"batch {result.batch} · {result.input_tokens:,} input + {result.output_tokens:,} output tokens per sequence",
        "",
        "Memory",
        f"  weights                {format_bytes(result.weights_bytes)}",
        f"  KV cache               {format_bytes(result.kv_cache_bytes)}"
        f"  ({result.kv_cache_bytes_per_token:,} bytes/token)",
        f"  activations (est.)     {format_bytes(result.activation_bytes)}",
        f"  runtime overhead       {format_bytes(result.runtime_overhead_bytes)}",
        f"  peak                   {format_bytes(result.peak_memory_bytes)}"
        f" of {format_bytes(result.memory_capacity_bytes)}"
        f"  → {'fits' if result.fits else 'DOES NOT FIT'}",
        f"  largest context that fits at batch {result.batch}: {result.max_context:,} tokens"
        + (" (the model's limit)" if result.max_context_limit == "model" else ""),
        f"  largest batch that fits at {result.input_tokens + result.output_tokens:,} tokens: {result.max_batch:,}",
        "",
        _time_heading(result),
        f"  prefill / first token  ≥ {format_ms(result.prefill_ms_floor)}  ({result.prefill_bound}-bound)",
        f"  decode                 ≥ {format_ms(result.decode_ms_per_token_floor)}/token mean"
        f"  ({format_ms(result.decode_ms_first_floor)} → {format_ms(result.decode_ms_last_floor)}, "
        f"{result.decode_bound}-bound)",
        f"  whole generation       ≥ {format_ms(result.total_ms_floor)}",
        f"  tokens/s               ≤ {result.tokens_per_s_ceiling:,.1f} per sequence, "
        f"≤ {result.aggregate_tokens_per_s_ceiling:,.1f} for the batch",
    ]
    lines += _cost_lines(result)
    if result.warnings:
        lines += ["", "Notes"] + [f"  - {warning}" for warning in result.warnings]
    return "\n".join(lines)


def _time_heading(result: Estimate) -> str:
    """The floors are what the hardware's peaks allow; for a model that doesn't fit they describe a run
    that can't happen here, so the heading says they are hypothetical rather than printing them as if real."""
    if result.fits:
        return "Time — lower bounds (roofline at spec-sheet peaks: real code is slower)"
    return ("Time — IF IT FIT (it does not: hypothetical lower bounds, roofline at spec-sheet peaks; "
            "the costs below likewise)")


def _cost_lines(result: Estimate) -> list[str]:
    has_gpu = result.gpu_cost_per_request_usd_floor is not None
    has_api = result.api_cost_per_request_usd is not None
    if not (has_gpu or has_api):
        return []
    rows = [("Cost", "GPU (lower bound)" if result.fits else "GPU (if it fit)", "API"),
            ("  per request", format_usd(result.gpu_cost_per_request_usd_floor),
             format_usd(result.api_cost_per_request_usd)),
            ("  per 1M output tokens", format_usd(result.gpu_cost_per_million_output_tokens_usd_floor),
             format_usd(result.api_cost_per_million_output_tokens_usd))]
    return [""] + [f"{label:<22}{gpu:>19}{api:>12}" for label, gpu, api in rows]


__all__ = ["format_bandwidth", "format_bytes", "format_estimate", "format_ms", "format_usd"]
