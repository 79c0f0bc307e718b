"""Memory: does the model fit, and how long a context / how large a batch does.

Peak memory = weights + runtime overhead + the larger of two moments:
  - prefill: the prompt's KV cache plus the prompt's activations (the whole prompt goes through at once);
  - the last decode step: the full KV cache plus one token's activations.
Activations are an estimate, not a bound: they assume SDPA/flash attention (no n² score matrix,
transformers' default) and count the widest point of a block, the gated MLP.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.estimate_shape import ModelShape
from model.hardware import Hardware
from model.roofline import DTYPE_BYTES, cached_tokens, kv_bytes_per_token, weight_bytes

LOGIT_BYTES = 4
"""Logits of the sampled position are upcast to fp32 for sampling."""

_SEARCH_CEILING = 1 << 31
"""Where the context/batch search stops when nothing else bounds it (a model with no known max context)."""


@dataclass(frozen=True)
class MemoryBudget:
    """Where the bytes go, at the run's peak."""

    weights_bytes: int
    kv_cache_bytes: int
    """The whole cache at the end of the run: every sequence's input and output tokens."""
    activation_bytes: int
    """Prefill activations of the whole batch (estimate)."""
    overhead_bytes: int
    peak_bytes: int
    capacity_bytes: int

    @property
    def fits(self) -> bool:
        return self.peak_bytes <= self.capacity_bytes


def activation_bytes(shape: ModelShape, dtype: str, batch: int, tokens: int) -> int:
    """Transient memory of a forward pass over `tokens` tokens per sequence.

    Per token at the MLP: the residual stream and its normed copy (2·hidden) and gate, up and
    act(gate)·up (3·intermediate); plus the fp32 logits of the one position that is sampled.
    """
    per_token = (2 * shape.hidden_size + 3 * shape.intermediate_size) * DTYPE_BYTES[dtype]
    return batch * (tokens * per_token + shape.vocab_size * LOGIT_BYTES)


def peak_memory(shape: ModelShape, hardware: Hardware, dtype: str, quant: str, batch: int, prompt_tokens: int,
                context: int) -> int:
    """Peak bytes for B sequences with prompts of `prompt_tokens` growing to `context` tokens."""
    kv_token = kv_bytes_per_token(shape, dtype) * batch
    during_prefill = (kv_token * cached_tokens(shape, prompt_tokens)
                      + activation_bytes(shape, dtype, batch, prompt_tokens))
    at_the_end = kv_token * cached_tokens(shape, context) + activation_bytes(shape, dtype, batch, 1)
    return weight_bytes(shape, dtype, quant) + hardware.total_overhead_bytes + max(during_prefill, at_the_end)


def memory_budget(shape: ModelShape, hardware: Hardware, dtype: str, quant: str, batch: int, input_tokens: int,
                  output_tokens: int) -> MemoryBudget:
    context = input_tokens + output_tokens
    return MemoryBudget(
        weights_bytes=weight_bytes(shape, dtype, quant),
        kv_cache_bytes=kv_bytes_per_token(shape, dtype) * batch * cached_tokens(shape, context),
        activation_bytes=activation_bytes(shape, dtype, batch, input_tokens),
        overhead_bytes=hardware.total_overhead_bytes,
        peak_bytes=peak_memory(shape, hardware, dtype, quant, batch, input_tokens, context),
        capacity_bytes=hardware.total_memory_bytes,
    )


def max_context(shape: ModelShape, hardware: Hardware, dtype: str, quant: str, batch: int,
                input_tokens: int) -> tuple[int, str]:
    """The longest context per sequence (prompt + generated) that fits at this batch, and what limits it:
    "memory", or "model" when the model's own max_position_embeddings is reached first.
    Prompts longer than the context found are taken as the whole context (prefilled in one pass)."""
    ceiling = shape.max_context or _SEARCH_CEILING

    def fits(context: int) -> bool:
        prompt = min(input_tokens, context)
        return peak_memory(shape, hardware, dtype, quant, batch, prompt, context) <= hardware.total_memory_bytes

    largest = _largest_fitting(fits, ceiling)
    return largest, ("model" if largest == ceiling and shape.max_context else "memory")


def max_batch(shape: ModelShape, hardware: Hardware, dtype: str, quant: str, input_tokens: int,
              output_tokens: int) -> int:
    """The most sequences of this length that fit at once (0: not even one)."""
    context = input_tokens + output_tokens

    def fits(batch: int) -> bool:
        return peak_memory(shape, hardware, dtype, quant, batch, input_tokens, context) <= hardware.total_memory_bytes

    return _largest_fitting(fits, _SEARCH_CEILING)


def _largest_fitting(fits, ceiling: int) -> int:
    """Largest n in 0..ceiling with fits(n), for a fits that is true up to some n and false after."""
    if not fits(1):
        return 0
    low, high = 1, ceiling  # fits(low) holds; answer in [low, high]
    if fits(high):
        return high
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


__all__ = ["MemoryBudget", "activation_bytes", "max_batch", "max_context", "memory_budget", "peak_memory"]
