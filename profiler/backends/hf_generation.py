"""One Hugging Face generation: prefill, then one forward per token carrying the KV cache."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from profiler.backends.base import Generation, SamplingSettings, StepOutput
from profiler.backends.sampling import make_sampler

if TYPE_CHECKING:
    from profiler.backends.huggingface import HuggingFaceBackend


class HuggingFaceGeneration(Generation):
    def __init__(self, backend: HuggingFaceBackend, input_ids: list[int], sampling: SamplingSettings) -> None:
        torch = backend.torch
        self._torch = torch
        self._model = backend.model
        self._cache = backend.new_cache()
        # the prompt tensor is made here, not in step(), so the first token's time is the model's
        self._next_input = torch.tensor([input_ids], dtype=torch.long, device=backend.input_device)
        self._sampler = make_sampler(torch, sampling, backend.input_device)
        self._decoder = backend.new_decoder()
        self._cuda_events = None
        if backend.is_cuda:
            self._cuda_events = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
        backend.synchronize()  # nothing queued earlier may bleed into the first token's time

    def step(self) -> StepOutput:
        torch = self._torch
        events = self._cuda_events
        with torch.inference_mode():
            if events:
                events[0].record()
            else:
                start = time.perf_counter_ns()
            # after the prefill, input_ids is exactly one new token: the cache holds the rest
            out = self._model(input_ids=self._next_input, past_key_values=self._cache, use_cache=True,
                              logits_to_keep=1)
            if events:
                events[1].record()
            else:
                forward_done = time.perf_counter_ns()
            next_ids = self._sampler(out.logits[:, -1, :])
            if events:
                events[2].record()
            # .item() waits for the device: the token id exists on the host only now
            token_id = int(next_ids.item())
        self._cache = out.past_key_values
        self._next_input = next_ids.view(1, 1)
        if events:
            forward_ns = int(events[0].elapsed_time(events[1]) * 1e6)
            sample_ns = int(events[1].elapsed_time(events[2]) * 1e6)
        else:
            sampled = time.perf_counter_ns()
            forward_ns, sample_ns = forward_done - start, sampled - forward_done
        return StepOutput(token_id=token_id, forward_ns=forward_ns, sample_ns=sample_ns)

    def token_text(self, token_id: int) -> str:
        return self._decoder.token_text(token_id)

    def close(self) -> None:
        self._cache = None
        self._next_input = None
