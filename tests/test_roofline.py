"""The roofline formulas: the issue's hand-computed figures, and exact sums checked against loops."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from model.estimate_shape import resolve_model
from model.hardware import resolve_hardware
from model.roofline import (DTYPE_BYTES, cached_tokens, decode_floor_sum, decode_step_floor, kv_bytes_per_token,
                            prefill_floor, sum_max_linear, weight_bytes, weight_bytes_read)

MISTRAL = resolve_model("mistral-7b")
H100 = resolve_hardware("H100")


# -- the hand-computed cases (issue 5, §4)

def test_kv_cache_per_token_mistral_7b_bf16():
    # 2 · 32 layers · 8 KV heads · 128 head dim · 2 bytes: grouped-query attention, 128 KiB
    assert kv_bytes_per_token(MISTRAL, "bfloat16") == 131_072


def test_kv_cache_per_token_llama_2_7b():
    # 32 KV heads (no GQA): four times Mistral's, 512 KiB
    assert kv_bytes_per_token(resolve_model("llama-2-7b"), "bfloat16") == 524_288


def test_mistral_7b_bf16_weights_are_about_14_5_gb():
    assert weight_bytes(MISTRAL, "bfloat16", "none") / 1e9 == pytest.approx(14.5, abs=0.05)


def test_decode_floor_on_h100_is_about_4_3_ms():
    # the figure is 14.5 GB / 3.35 TB/s; the bound leaves out the 0.27 GB input embedding table
    # (a step gathers one row of it) and adds the KV cache read, landing within 2%
    step = decode_step_floor(MISTRAL, H100, "bfloat16", "none", batch=1, context=512)
    assert step.ms == pytest.approx(4.3, rel=0.02)
    assert step.bound == "memory"


# -- structure of the bound

def test_quantisation_shrinks_block_weights_but_keeps_embeddings_and_lm_head_16_bit():
    kept = (MISTRAL.params_total - MISTRAL.params_linear) * DTYPE_BYTES["bfloat16"]
    full, int8, nf4 = (weight_bytes(MISTRAL, "bfloat16", q) for q in ("none", "8bit", "4bit"))
    assert nf4 < int8 < full
    # 8-bit: one byte per weight plus an fp32 scale per output row; 4-bit: half a byte plus fp32 per 64
    assert (int8 - kept) / MISTRAL.params_linear == pytest.approx(1.0, abs=0.002)
    assert (nf4 - kept) / MISTRAL.params_linear == pytest.approx(0.5 + 4 / 64, rel=1e-6)


def test_untied_embedding_table_is_not_read_per_step_but_a_tied_one_is():
    assert weight_bytes_read(MISTRAL, "bfloat16", "none", 1) < weight_bytes(MISTRAL, "bfloat16", "none")
    qwen_small = resolve_model("qwen2.5-0.5b")  # tied: the table is also the output projection
    assert weight_bytes_read(qwen_small, "bfloat16", "none", 1) == weight_bytes(qwen_small, "bfloat16", "none")


def test_decode_turns_compute_bound_at_large_batch():
    assert decode_step_floor(MISTRAL, H100, "bfloat16", "none", batch=1, context=100).bound == "memory"
    assert decode_step_floor(MISTRAL, H100, "bfloat16", "none", batch=4096, context=100).bound == "compute"


def test_prefill_is_memory_bound_for_one_token_and_compute_bound_for_long_prompts():
    assert prefill_floor(MISTRAL, H100, "bfloat16", "none", 1, 1).bound == "memory"
    long = prefill_floor(MISTRAL, H100, "bfloat16", "none", 1, 8192)
    assert long.bound == "compute"
    # attention makes the prompt cost grow faster than linearly
    assert long.compute_s > 2 * prefill_floor(MISTRAL, H100, "bfloat16", "none", 1, 4096).compute_s


def test_sliding_window_caps_what_a_step_reads():
    windowed = resolve_model("mistral-7b-v0.1")
    window = windowed.sliding_window
    assert window
    assert cached_tokens(windowed, window * 3) == window
    at_window = decode_step_floor(windowed, H100, "bfloat16", "none", 1, window)
    assert decode_step_floor(windowed, H100, "bfloat16", "none", 1, window * 3) == at_window


@settings(max_examples=200, deadline=None)
@given(a1=st.floats(-10, 10), b1=st.floats(-1, 1), a2=st.floats(-10, 10), b2=st.floats(-1, 1),
       t0=st.integers(-50, 50), length=st.integers(-2, 60))
@example(a1=0.0, b1=0.0, a2=1.0, b2=2.2250738585e-313, t0=0, length=0)  # nearly parallel: crossing at infinity
def test_sum_max_linear_equals_the_loop(a1, b1, a2, b2, t0, length):
    t1 = t0 + length
    expected = sum(max(a1 + b1 * t, a2 + b2 * t) for t in range(t0, t1 + 1))
    assert sum_max_linear(a1, b1, a2, b2, t0, t1) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(batch=st.sampled_from([1, 7, 300, 3000]), first=st.integers(1, 5000), steps=st.integers(0, 400),
       window=st.sampled_from([None, 64, 4096]))
def test_decode_floor_sum_equals_the_sum_of_steps(batch, first, steps, window):
    # batches around the memory/compute crossing, contexts on both sides of the window
    shape = dataclasses.replace(MISTRAL, sliding_window=window)
    last = first + steps - 1
    expected = sum(decode_step_floor(shape, H100, "bfloat16", "none", batch, c).seconds
                   for c in range(first, last + 1))
    assert decode_floor_sum(shape, H100, "bfloat16", "none", batch, first, last) == pytest.approx(expected, rel=1e-9)
