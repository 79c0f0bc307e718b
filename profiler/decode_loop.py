"""The timed decode loop: one `Generation.step()` per token, each timed on its own.

The clock is read immediately around `step()` (forward + sampling + the host sync that yields
the token id). Everything else a token costs — detokenising, recording, flushing to disk, telling
the UI — happens after the second clock read, so it never inflates a measured latency.

The scheduler's accounting of this thread (profiler/sched_watch.py: run-queue wait, preemptions) is
read just outside the window on both sides, so a token records how long of it was spent waiting
for a CPU and nothing of the work between tokens.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from profiler.backends.base import Generation
from profiler.clock import Clock
from profiler.gc_watch import GcWatch
from profiler.records import DECODE, PREFILL, TokenRecord
from profiler.sched_watch import SchedWatch

STOP_EOS = "eos"
STOP_LENGTH = "length"
STOP_CANCELLED = "cancelled"


def run_generation(generation: Generation, *, input_tokens: int, max_new_tokens: int,
                   eos_token_ids: frozenset[int], ignore_eos: bool, clock: Clock, cancel: threading.Event,
                   gc_watch: GcWatch, on_token: Callable[[TokenRecord], None],
                   scheduler_accounting: bool = True) -> str:
    """Generate up to `max_new_tokens`, calling `on_token` after each; returns why it stopped.

    `scheduler_accounting=False` records no CPU wait (benchmarks/overhead.py measures its cost A/B).
    """
    with SchedWatch(scheduler_accounting) as sched:  # opened here: it reads the thread that decodes
        return _loop(generation, input_tokens, max_new_tokens, eos_token_ids, ignore_eos, clock, cancel, gc_watch,
                     on_token, sched)


def _loop(generation, input_tokens, max_new_tokens, eos_token_ids, ignore_eos, clock, cancel, gc_watch, on_token,
          sched) -> str:
    now_ns = clock.now_ns
    sched_begin, sched_end = sched.begin, sched.end
    step = generation.step
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
        # the GC counters are read right after the clock, before anything else runs: a collection
        # triggered by detokenising or building the record would otherwise be charged to this token
        collections, gc_ns = gc_watch.collections, gc_watch.total_ns
        cpu_wait_ms, preemptions = sched_end(sched_before)
        record = TokenRecord(
            k=k,
            context_size=input_tokens + k - 1,
            latency_ms=(ended - started) / 1e6,
            phase=PREFILL if k == 1 else DECODE,
            token_id=out.token_id,
            token_text=generation.token_text(out.token_id),
            wall_time=time.time(),
            forward_ms=out.forward_ns / 1e6 if out.forward_ns is not None else None,
            sample_ms=out.sample_ns / 1e6 if out.sample_ns is not None else None,
            gc_collections=collections - collections_before,
            gc_ms=(gc_ns - gc_ns_before) / 1e6,
            cpu_wait_ms=cpu_wait_ms,
            preemptions=preemptions,
        )
        on_token(record)
        if not ignore_eos and out.token_id in eos_token_ids:
            return STOP_EOS
    return STOP_LENGTH
