"""The timed batched decode loop: one `step()` per k for the whole batch, timed once, as the one-sequence loop.

The clock is read immediately around `step()` (one forward for all B sequences + sampling + the host
sync that yields every id), and the GC counters right after it, exactly as profiler/decode_loop.py
does. That one latency is every sequence's token latency at this k: each waited for the whole batch.
Building B records, detokenising and handing them on happen after the second clock read.

A sequence that produces EOS stops getting records (its session ends with `eos_k`), but it stays in
the batch — the batch shape, and so the cost measured, is B until every sequence has ended. With
`ignore_eos` every sequence is recorded up to `max_new_tokens`; `eos_k` still says where EOS came.

The decoding thread's CPU wait and preemptions (profiler/sched_watch.py) are read just outside the
window, as in the one-sequence loop; every sequence of a step shares them, as it shares the latency.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

from profiler.backends.base import Generation
from profiler.clock import Clock
from profiler.decode_loop import STOP_CANCELLED, STOP_EOS, STOP_LENGTH
from profiler.gc_watch import GcWatch
from profiler.records import DECODE, PREFILL, TokenRecord
from profiler.sched_watch import SchedWatch

StepRecords = list[tuple[int, TokenRecord]]
"""(batch index, record) for every sequence still recording at this step."""


def run_batch_generation(generation: Generation, *, input_tokens: Sequence[int], max_new_tokens: int,
                         eos_token_ids: frozenset[int], ignore_eos: bool, clock: Clock, cancel: threading.Event,
                         gc_watch: GcWatch, on_step: Callable[[StepRecords], None],
                         eos_k: list[int | None], scheduler_accounting: bool = True) -> str:
    """Decode up to `max_new_tokens` steps, calling `on_step` after each; returns why it stopped.

    `eos_k` (one entry per sequence, filled in as EOS appears) is the caller's list, so what was
    found survives a cancel or an exception. `scheduler_accounting=False` records no CPU wait.
    """
    with SchedWatch(scheduler_accounting) as sched:  # opened here: it reads the thread that decodes
        return _loop(generation, input_tokens, max_new_tokens, eos_token_ids, ignore_eos, clock, cancel, gc_watch,
                     on_step, eos_k, sched)


def _loop(generation, input_tokens, max_new_tokens, eos_token_ids, ignore_eos, clock, cancel, gc_watch, on_step,
          eos_k, sched) -> str:
    now_ns = clock.now_ns
    sched_begin, sched_end = sched.begin, sched.end
    step = generation.step
    token_text = generation.token_text
    recording = [True] * len(input_tokens)
    for k in range(1, max_new_tokens + 1):
        if cancel.is_set():
            return STOP_CANCELLED
        collections_before, gc_ns_before = gc_watch.collections, gc_watch.total_ns
        # this (the calling) thread's run-queue wait, not torch's intra-op threads' (sched_watch.py);
        # read a few µs outside the clock's window on each side, never inside it
        sched_before = sched_begin()
        started = now_ns()
        out = step()
        ended = now_ns()
        # read before anything else runs: a collection triggered by building records is not this step's
        collections, gc_ns = gc_watch.collections, gc_watch.total_ns
        cpu_wait_ms, preemptions = sched_end(sched_before)
        latency_ms = (ended - started) / 1e6
        forward_ms = out.forward_ns / 1e6 if out.forward_ns is not None else None
        sample_ms = out.sample_ns / 1e6 if out.sample_ns is not None else None
        phase = PREFILL if k == 1 else DECODE
        wall_time = time.time()
        records: StepRecords = []
        for index, token_id in enumerate(out.batch_token_ids):
            if not recording[index]:
                continue
            records.append((index, TokenRecord(
                k=k, context_size=input_tokens[index] + k - 1, latency_ms=latency_ms, phase=phase,
                token_id=token_id, token_text=token_text(token_id, index), wall_time=wall_time,
                forward_ms=forward_ms, sample_ms=sample_ms, gc_collections=collections - collections_before,
                gc_ms=(gc_ns - gc_ns_before) / 1e6, cpu_wait_ms=cpu_wait_ms, preemptions=preemptions)))
            if token_id in eos_token_ids and eos_k[index] is None:
                eos_k[index] = k
                recording[index] = ignore_eos
        on_step(records)
        if not any(recording):
            return STOP_EOS
    return STOP_LENGTH


__all__ = ["StepRecords", "run_batch_generation", "STOP_CANCELLED", "STOP_EOS", "STOP_LENGTH"]
