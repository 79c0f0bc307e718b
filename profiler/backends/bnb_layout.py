"""Layer sizes bitsandbytes' 4-bit CPU kernel can't take, found before a run instead of mid-run.

On a CPU with AVX512-BF16, bitsandbytes (>= 0.48, `functional._convert_weight_packed_for_cpu`)
repacks every 4-bit weight on its first forward pass into blocks of 32 output rows and pairs of
input columns: `assert N % block_n == 0, "N must be divisible by block_n"` (N = out_features,
block_n = 32) and `assert K % 2 == 0` (K = in_features). Other CPUs and GPUs take any size.

Checked twice: from the config before building (the llama family's layers; saves the load time),
and on the loaded model's own 4-bit layers (exact for any architecture) before any session starts.
"""

from __future__ import annotations

from typing import Any, Iterable

from profiler.errors import BackendError

CPU_4BIT_BLOCK_N = 32
"""Output rows per packed block of the AVX512-BF16 4-bit kernel (bitsandbytes' `block_n` default)."""


def packing_problem(what: str, out_features: int, in_features: int) -> str | None:
    """Why the kernel can't pack a layer of this size (None: it can)."""
    if out_features % CPU_4BIT_BLOCK_N:
        return f"{what} has {out_features} outputs, not a multiple of {CPU_4BIT_BLOCK_N}"
    if in_features % 2:
        return f"{what} has an odd number of inputs ({in_features})"
    return None


def config_layer_sizes(shape: Any) -> list[tuple[str, int, int]]:
    """(what sets the size, out_features, in_features) of the Linear layers bitsandbytes quantises in a
    block of a model.estimate_shape.ModelShape (q/k/v/o projections and a gated MLP; lm_head stays as is)."""
    q_size = shape.attention_heads * shape.head_dim
    kv_size = shape.kv_heads * shape.head_dim
    hidden, inter = shape.hidden_size, shape.intermediate_size
    return [(f"o_proj (hidden_size {hidden})", hidden, q_size),
            (f"gate_proj/up_proj (intermediate_size {inter})", inter, hidden),
            (f"down_proj (hidden_size {hidden}, intermediate_size {inter})", hidden, inter),
            (f"q_proj (num_attention_heads x head_dim = {q_size})", q_size, hidden),
            (f"k_proj/v_proj (num_key_value_heads x head_dim = {kv_size})", kv_size, hidden)]


def loaded_4bit_layers(model: Any) -> list[tuple[str, int, int]]:
    """(module name, out_features, in_features) of every bitsandbytes 4-bit layer of a loaded model."""
    import bitsandbytes

    return [(name, module.out_features, module.in_features) for name, module in model.named_modules()
            if isinstance(module, bitsandbytes.nn.Linear4bit)]


def check_cpu_4bit_layout(layers: Iterable[tuple[str, int, int]], name: str, *, packs_for_avx512_bf16: bool) -> None:
    """BackendError naming the first layer the 4-bit CPU kernel can't pack.

    `layers`: config_layer_sizes(shape) before building, or loaded_4bit_layers(model) after.
    `packs_for_avx512_bf16`: bitsandbytes.functional.has_avx512bf16() on this machine (passed in: only
    such CPUs repack, and tests need both answers).
    """
    if not packs_for_avx512_bf16:
        return
    for what, out_features, in_features in layers:
        problem = packing_problem(what, out_features, in_features)
        if problem:
            raise BackendError(f"--quant 4bit can't run {name} on this CPU: bitsandbytes' AVX512-BF16 kernel packs "
                               f"layers in blocks of {CPU_4BIT_BLOCK_N} outputs and pairs of inputs, and {problem}; "
                               "use --quant 8bit, --quant none or a GPU")


__all__ = ["CPU_4BIT_BLOCK_N", "check_cpu_4bit_layout", "config_layer_sizes", "loaded_4bit_layers", "packing_problem"]
