"""B sequences decoded together: one forward per step for the whole batch, timed once.

Prompts of different lengths are left-padded, so every sequence's next token sits at the last
position. Padding is masked out with `attention_mask`, and `position_ids` count only real tokens:
a padded sequence sees exactly the positions it would see alone, which is what makes its greedy
tokens equal to decoding it alone (in float32; half precision reorders sums and may not).

With the backend's static cache (`--cache static`), the cache is allocated once for `max_cache_len`
positions and every shape stays fixed from step to step: the mask spans the whole cache (the causal
mask built from `cache_position` hides positions not yet written), and `cache_position` is passed
rather than recomputed. Only then can the decode step be compiled once (`backend.decode_forward`);
the prefill runs eagerly, since its length varies by prompt.

A sequence that has produced EOS keeps being decoded (its tokens are recorded as padding by the
caller) so the batch shape — and so the cost being measured — stays B until every sequence ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from profiler.backends.base import Generation, SamplingSettings, StepOutput
from profiler.backends.sampling import make_sampler
from profiler.backends.step_timer import StepTimer

if TYPE_CHECKING:
    from profiler.backends.huggingface import HuggingFaceBackend


def left_pad(batch: Sequence[Sequence[int]], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """(ids, attention mask), each row as long as the longest prompt, padding on the left."""
    if not batch or any(len(ids) == 0 for ids in batch):
        raise ValueError("every sequence in a batch needs at least one prompt token")
    width = max(len(ids) for ids in batch)
    ids = [[pad_id] * (width - len(row)) + list(row) for row in batch]
    mask = [[0] * (width - len(row)) + [1] * len(row) for row in batch]
    return ids, mask


class BatchedHuggingFaceGeneration(Generation):
    """`step()` advances every sequence by one token; `batch_token_ids` holds them in batch order."""

    def __init__(self, backend: HuggingFaceBackend, batch: Sequence[Sequence[int]], sampling: SamplingSettings,
                 pad_id: int = 0, *, max_cache_len: int | None = None) -> None:
        torch = backend.torch
        self._torch = torch
        self._forward = backend.model  # the prefill; decode steps switch to backend.decode_forward
        self._decode_forward = backend.decode_forward
        device = backend.input_device
        ids, mask = left_pad(batch, pad_id)
        width = len(ids[0])
        # tensors are made here, not in step(), so the first token's time is the model's
        self._next_input = torch.tensor(ids, dtype=torch.long, device=device)
        prompt_mask = torch.tensor(mask, dtype=torch.long, device=device)
        # each sequence counts positions from its first real token: padding takes no position
        self._positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
        self._static = backend.static_cache
        if self._static:
            # one size for every batch of a run (the longest prompt + the tokens to generate): a new size
            # would mean a new compiled graph
            if max_cache_len is None or max_cache_len <= width:
                raise ValueError(f"a static cache needs max_cache_len > the padded prompt width {width}")
            self._cache = backend.new_static_cache(max_cache_len)
            self._mask = torch.ones((len(batch), max_cache_len), dtype=torch.long, device=device)
            self._mask[:, :width] = prompt_mask
            self._cache_position = torch.arange(width, device=device)
        else:
            self._cache = backend.new_cache()
            self._mask = prompt_mask
            self._cache_position = None  # the growing cache knows its own length
        self._cache_keyword = backend.cache_keyword  # `cache`, or `past_key_values` on older 5.x
        self._sampler = make_sampler(torch, sampling, device)
        self._decoders = [backend.new_decoder() for _ in batch]
        self._ones = torch.ones((len(batch), 1), dtype=torch.long, device=device)
        self._timer = StepTimer(torch, backend.is_cuda)
        self.batch_size = len(batch)
        backend.synchronize()  # nothing queued earlier may bleed into the first step's time

    def step(self) -> StepOutput:
        torch = self._torch
        timer = self._timer
        cache_argument = {self._cache_keyword: self._cache}  # built before the clock starts
        with torch.inference_mode():
            timer.start()
            out = self._forward(input_ids=self._next_input, attention_mask=self._mask, position_ids=self._positions,
                                cache_position=self._cache_position, **cache_argument, use_cache=True,
                                logits_to_keep=1)
            timer.forward_done()
            next_ids = self._sampler(out.logits[:, -1, :])
            timer.sampled()
            # .tolist() waits for the device: every sequence's id is on the host only now
            token_ids = tuple(int(i) for i in next_ids.tolist())
            # the next step feeds one token per sequence, one position further, attending to all so far
            self._positions = self._positions[:, -1:] + 1
            if self._static:
                self._cache_position = self._cache_position[-1:] + 1  # the mask already spans the cache
            else:
                self._mask = torch.cat([self._mask, self._ones], dim=-1)
        self._forward = self._decode_forward
        if not self._static:
            self._cache = getattr(out, self._cache_keyword)  # the output's field has the argument's name
        self._next_input = next_ids.view(-1, 1)
        forward_ns, sample_ns = timer.split_ns()
        return StepOutput(token_id=token_ids[0], forward_ns=forward_ns, sample_ns=sample_ns,
                          batch_token_ids=token_ids)

    def token_text(self, token_id: int, index: int = 0) -> str:
        """Text of sequence `index`'s newest token (each sequence has its own incremental decoder)."""
        return self._decoders[index].token_text(token_id)

    def close(self) -> None:
        self._cache = None
        self._next_input = self._mask = self._positions = None


__all__ = ["BatchedHuggingFaceGeneration", "left_pad"]
