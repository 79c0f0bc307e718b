"""The roofline: the least time a forward pass can take, from the bytes it must move and the FLOPs it must do.

Notation as in shared/FIELD-NOTES.md ("Roofline"): a decode step of batch B at context c takes at least
    max((W + KV·B·c) / BW, (2·P·B + 4·L·d·B·c) / F)
and a prefill of n tokens at least (2·P·n + 2·L·d·n²) / F (and the weights must be read once).
Two refinements over the notes, each making the bound tighter without breaking it:
  - the input embedding table is not read by a step, only one row per sequence is gathered, so W
    leaves it out unless it doubles as the output projection (tied embeddings);
  - a sliding-window model attends to (and caches) at most `sliding_window` tokens.
Pure functions of (shape, hardware, dtype, quant, batch, tokens); times in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from model.estimate_shape import ModelShape
from model.hardware import Hardware
from profiler.errors import InputError

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
DTYPES = ("auto", *DTYPE_BYTES)
QUANTS = ("none", "8bit", "4bit")

BNB_4BIT_BLOCK = 64
"""bitsandbytes NF4 stores one fp32 absmax per block of 64 weights (no double quantisation: the
profiler's BitsAndBytesConfig leaves it off), i.e. 4/64 = 0.0625 bytes of scales per weight."""
BNB_SCALE_BYTES = 4
"""fp32: the NF4 block absmax, and LLM.int8's per-output-row scale (SCB)."""


@dataclass(frozen=True)
class StepFloor:
    """The least time of one forward pass, and which limit sets it."""

    memory_s: float
    """Bytes that must cross the memory bus ÷ bandwidth."""
    compute_s: float
    """FLOPs ÷ peak FLOPS."""

    @property
    def seconds(self) -> float:
        return max(self.memory_s, self.compute_s)

    @property
    def ms(self) -> float:
        return self.seconds * 1000

    @property
    def bound(self) -> str:
        return "memory" if self.memory_s >= self.compute_s else "compute"


def resolve_dtype(dtype: str, hardware: Hardware) -> str:
    """`auto` the way the profiler's backend resolves it: bf16 on GPUs that have it, else fp16; fp32 on CPUs."""
    if dtype not in DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if dtype != "auto":
        return dtype
    if not hardware.is_gpu:
        return "float32"
    return "bfloat16" if hardware.bf16 else "float16"


def check_quant(quant: str) -> str:
    if quant not in QUANTS:
        raise InputError(f"--quant must be one of {', '.join(QUANTS)}, not {quant!r}")
    return quant


def weight_bytes(shape: ModelShape, dtype: str, quant: str) -> int:
    """Bytes the weights occupy. bitsandbytes quantises only the Linear layers inside the blocks:
    embeddings, lm_head, norms and biases stay in the compute dtype."""
    element = DTYPE_BYTES[dtype]
    kept = shape.params_total - shape.params_linear
    if quant == "none":
        return shape.params_total * element
    if quant == "8bit":
        linear = shape.params_linear + shape.linear_output_rows * BNB_SCALE_BYTES
    else:
        linear = math.ceil(shape.params_linear / 2) + math.ceil(shape.params_linear / BNB_4BIT_BLOCK) * BNB_SCALE_BYTES
    return linear + kept * element


def weight_bytes_read(shape: ModelShape, dtype: str, quant: str, rows_gathered: int) -> int:
    """Bytes of weights one forward pass reads: all but the input embedding table, of which it gathers
    `rows_gathered` rows (one per token processed). A tied table is read whole as the output projection."""
    stored = weight_bytes(shape, dtype, quant)
    if shape.tied_embeddings or shape.params_embedding == 0:
        return stored
    row_bytes = shape.hidden_size * DTYPE_BYTES[dtype]
    return stored - shape.params_embedding * DTYPE_BYTES[dtype] + min(rows_gathered, shape.vocab_size) * row_bytes


def kv_bytes_per_token(shape: ModelShape, dtype: str) -> int:
    """2 · layers · KV heads · head dim · bytes: the cache is kept in the compute dtype, quantised or not."""
    return shape.kv_values_per_token * DTYPE_BYTES[dtype]


def cached_tokens(shape: ModelShape, context: int) -> int:
    """Tokens a layer attends to (and the cache keeps) at this context."""
    return min(context, shape.sliding_window) if shape.sliding_window else context


def decode_step_floor(shape: ModelShape, hardware: Hardware, dtype: str, quant: str, batch: int,
                      context: int) -> StepFloor:
    """One decode step: B new tokens, each seeing `context` tokens."""
    (mem_a, mem_b), (flop_a, flop_b) = _decode_lines(shape, hardware, dtype, quant, batch)
    tokens = cached_tokens(shape, context)
    return StepFloor(memory_s=mem_a + mem_b * tokens, compute_s=flop_a + flop_b * tokens)


def decode_floor_sum(shape: ModelShape, hardware: Hardware, dtype: str, quant: str, batch: int,
                     first_context: int, last_context: int) -> float:
    """Σ of decode step floors over contexts first..last (inclusive), exactly, in O(1)."""
    if last_context < first_context:
        return 0.0
    (mem_a, mem_b), (flop_a, flop_b) = _decode_lines(shape, hardware, dtype, quant, batch)
    window = shape.sliding_window
    growing_last = min(last_context, window) if window else last_context
    total = sum_max_linear(mem_a, mem_b, flop_a, flop_b, first_context, growing_last)
    if window and last_context > window:  # past the window every step attends to `window` tokens
        steps = last_context - max(first_context, window + 1) + 1
        total += steps * max(mem_a + mem_b * window, flop_a + flop_b * window)
    return total


def prefill_floor(shape: ModelShape, hardware: Hardware, dtype: str, quant: str, batch: int,
                  tokens: int) -> StepFloor:
    """Processing a prompt of `tokens` tokens for each of B sequences, up to the first sampled token."""
    bandwidth, flops = hardware.total_bandwidth_bytes_s, hardware.total_flops(dtype)
    read = weight_bytes_read(shape, dtype, quant, batch * tokens)
    written = batch * tokens * kv_bytes_per_token(shape, dtype)
    # the blocks see every prompt token; the output projection only the last (one logit row to sample)
    output_params = shape.params_per_token_matmul - shape.params_linear
    matmul = 2 * (shape.params_linear * tokens + output_params) * batch
    attention = 4 * shape.layers * shape.attention_heads * shape.head_dim * batch * _causal_pairs(shape, tokens)
    return StepFloor(memory_s=(read + written) / bandwidth, compute_s=(matmul + attention) / flops)


def sum_max_linear(a1: float, b1: float, a2: float, b2: float, t0: int, t1: int) -> float:
    """Σ_{t=t0..t1} max(a1 + b1·t, a2 + b2·t) for integers t, exactly."""
    if t1 < t0:
        return 0.0
    if b1 == b2:
        return _sum_linear(max(a1, a2), b1, t0, t1)
    crossing = (a2 - a1) / (b1 - b2)  # may be ±inf for nearly parallel lines
    # split = the first t past the crossing, kept within t0..t1+1
    if crossing < t0:
        split = t0
    elif crossing >= t1:
        split = t1 + 1
    else:
        split = math.floor(crossing) + 1
    # up to the crossing the flatter line is on top, after it the steeper one
    (flat_a, flat_b), (steep_a, steep_b) = ((a2, b2), (a1, b1)) if b1 > b2 else ((a1, b1), (a2, b2))
    return _sum_linear(flat_a, flat_b, t0, split - 1) + _sum_linear(steep_a, steep_b, split, t1)


def _sum_linear(a: float, b: float, t0: int, t1: int) -> float:
    count = t1 - t0 + 1
    return 0.0 if count <= 0 else a * count + b * (t0 + t1) * count / 2


def _decode_lines(shape: ModelShape, hardware: Hardware, dtype: str, quant: str,
                  batch: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(a, b) of memory seconds = a + b·t and compute seconds = a + b·t, t = cached tokens per sequence."""
    bandwidth, flops = hardware.total_bandwidth_bytes_s, hardware.total_flops(dtype)
    weights = weight_bytes_read(shape, dtype, quant, batch)
    kv = kv_bytes_per_token(shape, dtype) * batch
    matmul = 2 * shape.params_per_token_matmul * batch
    attention = 4 * shape.layers * shape.attention_heads * shape.head_dim * batch  # q·K and p·V per cached token
    return (weights / bandwidth, kv / bandwidth), (matmul / flops, attention / flops)


def _causal_pairs(shape: ModelShape, tokens: int) -> int:
    """(query, key) pairs causal attention scores over a prompt: n(n+1)/2, fewer under a sliding window."""
    window = shape.sliding_window
    if not window or tokens <= window:
        return tokens * (tokens + 1) // 2
    return window * (window + 1) // 2 + (tokens - window) * window


__all__ = ["DTYPES", "DTYPE_BYTES", "QUANTS", "StepFloor", "cached_tokens", "check_quant", "decode_floor_sum",
           "decode_step_floor", "kv_bytes_per_token", "prefill_floor", "resolve_dtype", "sum_max_linear",
           "weight_bytes", "weight_bytes_read"]
