"""The timed loops pass the KV cache by the name the installed transformers takes, warning-free.

Run against the installed (newest) transformers 5 by the suite, and against the oldest release
`pyproject.toml` allows by `scripts/check_oldest_transformers.sh` (a target dir on PYTHONPATH).
"""

from __future__ import annotations

import inspect
import warnings

import pytest

from profiler.backends.base import SamplingSettings
from profiler.backends.cache_keyword import NEW_NAME, OLD_NAME
from profiler.backends.hf_batch_generation import BatchedHuggingFaceGeneration

STEPS = 12


def _recomputed_greedy(backend, ids: list[int], steps: int) -> list[int]:
    """Greedy tokens with no cache at all: the whole sequence through the model at every step."""
    torch = backend.torch
    sequence = list(ids)
    tokens = []
    with torch.inference_mode():
        for _ in range(steps):
            logits = backend.model(input_ids=torch.tensor([sequence]), use_cache=False).logits
            token = int(logits[0, -1].argmax())
            tokens.append(token)
            sequence.append(token)
    return tokens


def test_the_keyword_is_the_one_the_installed_forward_declares(embedded_backend):
    declared = inspect.signature(embedded_backend.model.forward).parameters
    assert embedded_backend.cache_keyword in declared
    # the newer name wins wherever both exist: the old one is the deprecated alias
    assert embedded_backend.cache_keyword == (NEW_NAME if NEW_NAME in declared else OLD_NAME)


@pytest.mark.slow
def test_decoding_carries_the_cache_without_a_deprecation_warning(embedded_backend):
    backend = embedded_backend
    ids = backend.encode("a prompt long enough to matter")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        generation = backend.start(ids, SamplingSettings())
        cached = [generation.step().token_id for _ in range(STEPS)]
        generation.close()
    # one new token per step gives the full-sequence tokens only if the cache held the rest
    # (a cache argument the forward ignored would decode each token from itself alone)
    assert cached == _recomputed_greedy(backend, ids, STEPS)


@pytest.mark.slow
def test_batched_decoding_carries_the_cache_without_a_deprecation_warning(embedded_backend):
    backend = embedded_backend
    encoded = [backend.encode("first"), backend.encode("the second, longer prompt")]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        batched = BatchedHuggingFaceGeneration(backend, encoded, SamplingSettings())
        outputs = [batched.step() for _ in range(STEPS)]
        batched.close()
    assert [out.batch_token_ids[1] for out in outputs] == _recomputed_greedy(backend, encoded[1], STEPS)
