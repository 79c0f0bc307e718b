"""Layer sizes bitsandbytes' 4-bit CPU kernel can't take, found before quantising instead of mid-run.

On a CPU with AVX512-BF16, bitsandbytes (>= 0.48, `functional._convert_weight_packed_for_cpu`)
repacks every 4-bit weight on its first forward pass into blocks of 32 output rows and pairs of
input columns: `assert N % block_n == 0, "N must be divisible by block_n"` (N = out_features,
block_n = 32) and `assert K % 2 == 0` (K = in_features). Other CPUs and GPUs take any size.
"""

from __future__ import annotations

from typing import Any

from profiler.errors import BackendError

CPU_4BIT_BLOCK_N = 32
"""Output rows per packed block of the AVX512-BF16 4-bit kernel (bitsandbytes' `block_n` default)."""


def quantised_layer_sizes(shape: Any) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(output sizes, input sizes) of the Linear layers bitsandbytes quantises in a block, each named by
    the config fields that set it.

    `shape` is a model.estimate_shape.ModelShape (the llama family: q/k/v/o projections and a gated
    MLP; lm_head stays unquantised).
    """
    q_size = shape.attention_heads * shape.head_dim
    kv_size = shape.kv_heads * shape.head_dim
    hidden, inter = shape.hidden_size, shape.intermediate_size
    outputs = [(f"hidden_size {hidden} (o_proj, down_proj outputs)", hidden),
               (f"intermediate_size {inter} (gate_proj, up_proj outputs)", inter),
               (f"num_attention_heads x head_dim = {q_size} (q_proj output)", q_size),
               (f"num_key_value_heads x head_dim = {kv_size} (k_proj, v_proj outputs)", kv_size)]
    inputs = [(f"hidden_size {hidden}", hidden), (f"intermediate_size {inter}", inter),
              (f"num_attention_heads x head_dim = {q_size}", q_size)]
    return outputs, inputs


def check_cpu_4bit_layout(shape: Any, name: str, *, packs_for_avx512_bf16: bool) -> None:
    """BackendError naming the first size the 4-bit CPU kernel can't block.

    `packs_for_avx512_bf16`: bitsandbytes.functional.has_avx512bf16() on this machine (passed in: only
    such CPUs repack, and tests need both answers).
    """
    if not packs_for_avx512_bf16:
        return
    outputs, inputs = quantised_layer_sizes(shape)
    problems = [f"{what} is not a multiple of {CPU_4BIT_BLOCK_N}" for what, size in outputs if size % CPU_4BIT_BLOCK_N]
    problems += [f"{what} is odd" for what, size in inputs if size % 2]
    if problems:
        raise BackendError(f"--quant 4bit can't run {name} on this CPU: bitsandbytes' AVX512-BF16 kernel packs "
                           f"layer outputs in blocks of {CPU_4BIT_BLOCK_N} rows and inputs in pairs, and "
                           f"{problems[0]}; use --quant 8bit, --quant none or a GPU")


__all__ = ["CPU_4BIT_BLOCK_N", "check_cpu_4bit_layout", "quantised_layer_sizes"]
