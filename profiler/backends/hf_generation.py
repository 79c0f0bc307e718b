"""One Hugging Face generation: prefill, then one forward per token carrying the KV cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from profiler.backends.base import Generation, SamplingSettings, StepOutput
from profiler.backends.sampling import make_sampler
from profiler.backends.step_timer import StepTimer

if TYPE_CHECKING:
    from profiler.backends.huggingface import HuggingFaceBackend


class HuggingFaceGeneration(Generation):
    def __init__(self, backend: HuggingFaceBackend, input_ids: list[int], sampling: SamplingSettings) -> None:
        torch = backend.torch
        self._torch = torch
        self._model = backend.model
        self._cache = backend.new_cache()
        self._cache_keyword = backend.cache_keyword  # `cache`, or `past_key_values` on older 5.x
        # the prompt tensor is made here, not in step(), so the first token's time is the model's
        self._next_input = torch.tensor([input_ids], dtype=torch.long, device=backend.input_device)
        self._sampler = make_sampler(torch, sampling, backend.input_device)
        self._decoder = backend.new_decoder()
        self._timer = StepTimer(torch, backend.is_cuda)
        backend.synchronize()  # nothing queued earlier may bleed into the first token's time

    def step(self) -> StepOutput:
        timer = self._timer
        cache_argument = {self._cache_keyword: self._cache}  # built before the clock starts
        with self._torch.inference_mode():
            timer.start()
            # after the prefill, input_ids is exactly one new token: the cache holds the rest
            out = self._model(input_ids=self._next_input, **cache_argument, use_cache=True, logits_to_keep=1)
            timer.forward_done()
            next_ids = self._sampler(out.logits[:, -1, :])
            timer.sampled()
            # .item() waits for the device: the token id exists on the host only now
            token_id = int(next_ids.item())
        self._cache = getattr(out, self._cache_keyword)  # the output's field has the argument's name
        self._next_input = next_ids.view(1, 1)
        forward_ns, sample_ns = timer.split_ns()
        return StepOutput(token_id=token_id, forward_ns=forward_ns, sample_ns=sample_ns)

    def token_text(self, token_id: int) -> str:
        return self._decoder.token_text(token_id)

    def close(self) -> None:
        self._cache = None
        self._next_input = None
