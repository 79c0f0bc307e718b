"""Batched decoding on the real embedded model: each sequence's greedy tokens equal decoding it alone."""

from __future__ import annotations

import pytest

from profiler.backends.base import SamplingSettings
from profiler.backends.hf_batch_generation import BatchedHuggingFaceGeneration, left_pad


def test_left_pad_masks_the_padding():
    ids, mask = left_pad([[5, 6, 7], [9]], pad_id=0)
    assert ids == [[5, 6, 7], [0, 0, 9]]
    assert mask == [[1, 1, 1], [0, 0, 1]]
    with pytest.raises(ValueError):
        left_pad([[1], []], pad_id=0)


@pytest.mark.slow
def test_batched_greedy_tokens_equal_each_sequence_decoded_alone(embedded_backend):
    backend = embedded_backend
    prompts = ["hi", "a somewhat longer prompt", "the third prompt, longer than both of the others"]
    encoded = [backend.encode(p) for p in prompts]
    assert len({len(ids) for ids in encoded}) == 3  # different lengths: padding is exercised
    steps = 32
    alone = []
    for ids in encoded:
        generation = backend.start(ids, SamplingSettings())
        alone.append([generation.step().token_id for _ in range(steps)])
        generation.close()
    batched = BatchedHuggingFaceGeneration(backend, encoded, SamplingSettings())
    outputs = [batched.step() for _ in range(steps)]
    batched.close()
    assert all(len(out.batch_token_ids) == 3 for out in outputs)
    assert all(out.token_id == out.batch_token_ids[0] for out in outputs)
    assert [[out.batch_token_ids[i] for out in outputs] for i in range(3)] == alone
    assert all(out.forward_ns > 0 and out.sample_ns >= 0 for out in outputs)
