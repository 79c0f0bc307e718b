"""Choosing the next token on the device: greedy, or temperature/top-p with a seeded generator."""

from __future__ import annotations

from typing import Any, Callable

from profiler.backends.base import SamplingSettings


def make_sampler(torch: Any, sampling: SamplingSettings, device: Any) -> Callable[[Any], Any]:
    """A function from last-position logits [batch, vocab] to next ids [batch], on the logits' device."""
    if sampling.greedy:
        return lambda logits: logits.argmax(-1)
    generator = torch.Generator(device=device).manual_seed(sampling.seed)
    temperature, top_p = sampling.temperature, sampling.top_p

    def sample(logits: Any) -> Any:
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        if top_p >= 1.0:
            return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        sorted_probs, order = probs.sort(descending=True, dim=-1)
        # keep the smallest prefix whose mass reaches top_p (the most likely token always stays)
        keep = (sorted_probs.cumsum(-1) - sorted_probs) < top_p
        choice = torch.multinomial(sorted_probs * keep, 1, generator=generator)
        return order.gather(-1, choice).squeeze(-1)

    return sample
