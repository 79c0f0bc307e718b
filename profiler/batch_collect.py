"""Batched collection: B sequences decoded together, stored as B sessions grouped under one run.

Python API (the CLI's `collect --batch B` and the sweep's batched cells both call this):

    from profiler.batch_collect import collect_batch, BatchRun

    run: BatchRun = collect_batch(
        backend,            # a loaded HuggingFaceBackend (load_backend(BackendOptions(..., cache="static",
                            #   compile=True)) for the static-cache + torch.compile path)
        store,              # profiler.store.SessionStore
        settings,           # profiler.collect.RunSettings: max_new_tokens, ignore_eos, warmup, repeat,
                            #   sampling, gc_freeze, system_metrics (same meaning as for one sequence)
        prompts,            # list[str]: cycled over the B sequences (one prompt = replicated B times);
                            #   more prompts than B run as several batches of B, all in this one run
        batch=8,            # B >= 1
        cancel=None,        # threading.Event: set it to stop; every open session ends `interrupted`
        observer=None,      # profiler.collect.RunObserver: session_started / token / session_ended hooks
        clock=None,         # profiler.clock.Clock (default PerfClock)
        sweep_id=None,      # stored on every session of the run (schema v3 sessions.sweep_id)
        cell=None,          # the sweep cell key, stored on every session (sessions.cell)
    )

`BatchRun` (a dataclass) holds:
    run_id     the `runs` row (kind 'batch') grouping every session of this call;
    status     'finished' | 'interrupted' | 'failed' (an exception still propagates after the run
               and its sessions are saved; `status` is then what was stored);
    sessions   list[BatchSession]: session_id, batch_index, repeat_index, warmup, status, tokens,
               eos_k — warm-up batches first, each batch's sessions in batch_index order;
    summary    the dict stored in runs.summary: batch, batches (measured batches), steps (measured
               decode steps), step_p50_ms / step_p95_ms / step_p99_ms / step_mean_ms (decode steps
               k >= 2 of measured batches; a step's time is every sequence's token latency),
               ttft_p50_ms (the prefill step), aggregate_tokens_per_s = batch * 1000 / step_mean_ms
               (throughput: tokens over time, as sessions' tokens_per_s and sweep cells define it),
               aggregate_tokens_per_s_at_p50 = batch * 1000 / step_p50_ms (at the typical step),
               tokens (measured tokens stored, all sequences), compile_ms (None unless --compile),
               peak_memory_mb (this run's CUDA peak allocated, else its peak RSS: profiler/sweep/memory.py).

Warm-up batches (settings.warmup of them) run first, flagged, left out of the summary; then GC is
frozen (settings.gc_freeze) and each prompt batch runs settings.repeat times. Invalid input raises
profiler.errors.InputError before any session is written.
"""

from __future__ import annotations

import gc
import math
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from profiler.backends.base import Backend
from profiler.batch_loop import STOP_CANCELLED, StepRecords, run_batch_generation
from profiler.clock import Clock
from profiler.collect import Collector, RunObserver, RunSettings, SessionOutcome, check_prompts, ended_by
from profiler.errors import BackendError, InputError, StoreError, first_line
from profiler.gc_watch import GcWatch
from profiler.machine_noise import session_noise, try_snapshot
from profiler.records import FAILED, FINISHED, INTERRUPTED, SessionMeta, percentile
from profiler.store import SessionStore
from profiler.store.chunks import begin_run, end_run, write_in_transaction
from profiler.store.connection import open_connection
from profiler.store.writer import flush_if_due_together
from profiler.sweep.memory import PeakMemory
from profiler.system_metrics import MetricsSampler

RUN_KIND = "batch"
COMPILE_STEPS = 3
"""Steps of the untimed compile pass: the eager prefill, then two compiled decode steps (the second
shows a graph that recompiles on its second call, before any session sees it)."""


@dataclass
class BatchSession(SessionOutcome):
    batch_index: int = 0
    repeat_index: int = 0
    eos_k: int | None = None


@dataclass
class BatchRun:
    run_id: str
    status: str = FINISHED
    sessions: list[BatchSession] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def plan_batches(prompt_count: int, batch: int) -> list[list[int]]:
    """Which prompt each sequence of each batch decodes: prompts in order, B at a time; the last
    batch is filled by cycling from the first prompt (one prompt is replicated B times)."""
    batches = math.ceil(prompt_count / batch)
    return [[(number * batch + index) % prompt_count for index in range(batch)] for number in range(batches)]


def check_batch(batch: int) -> None:
    if batch < 1:
        raise InputError(f"--batch must be at least 1 (got {batch})")


def run_summary(batch: int, decode_steps_ms: list[float], prefill_ms: list[float], batches: int, tokens: int,
                compile_ms: float | None, peak_mb: float | None) -> dict[str, Any]:
    """What runs.summary holds for a batched run (figures from measured batches only)."""
    steps = sorted(decode_steps_ms)
    p50, p95, p99 = (percentile(steps, q) for q in (50, 95, 99)) if steps else (None, None, None)
    return {
        "kind": RUN_KIND, "batch": batch, "batches": batches, "steps": len(steps), "tokens": tokens,
        "step_p50_ms": p50, "step_p95_ms": p95, "step_p99_ms": p99,
        "step_mean_ms": sum(steps) / len(steps) if steps else None,
        "ttft_p50_ms": percentile(sorted(prefill_ms), 50) if prefill_ms else None,
        # every sequence gets one token per step. Throughput is tokens over time, so the mean step (as a
        # session's tokens_per_s and a sweep cell's use); the p50 step's figure is the typical step's
        "aggregate_tokens_per_s": batch * 1000.0 * len(steps) / sum(steps) if steps else None,
        "aggregate_tokens_per_s_at_p50": batch * 1000.0 / p50 if p50 else None,
        "compile_ms": compile_ms, "peak_memory_mb": peak_mb,
    }


class BatchCollector:
    """Runs `collect_batch`; the CLI keeps the object to ask `in_session` from its signal handlers."""

    def __init__(self, backend: Backend, store: SessionStore, settings: RunSettings, *, batch: int,
                 clock: Clock | None = None, cancel: threading.Event | None = None,
                 observer: RunObserver | None = None, sweep_id: str | None = None, cell: str | None = None) -> None:
        check_batch(batch)
        # the one-sequence collector checks the settings and prompts and describes sessions, as for one
        self._single = Collector(backend, store, settings, clock=clock, cancel=cancel, observer=observer)
        self.backend = backend
        self.store = store
        self.settings = settings
        self.batch = batch
        self.clock = self._single.clock
        self.cancel = self._single.cancel
        self.observer = self._single.observer
        self.sweep_id = sweep_id
        self.cell = cell
        self.in_session = False
        """True from a batch's first session write to its sessions' final status: signal handlers must not raise."""
        self.sampler: MetricsSampler | None = None
        self.compile_ms: float | None = None
        self._decode_ms: list[float] = []
        self._prefill_ms: list[float] = []
        self._measured_tokens = 0
        self._measured_batches = 0
        self._peak = PeakMemory(getattr(backend, "torch", None), getattr(backend, "is_cuda", False))

    def run(self, prompts: list[str]) -> BatchRun:
        check_prompts(prompts)
        encoded = [self._single.encode_checked(p) for p in prompts]  # every prompt checked before any runs
        if not hasattr(self.backend, "decode_forward"):
            raise InputError(f"--batch needs a local Hugging Face model, not the {self.backend.info.backend} backend")
        plan = plan_batches(len(prompts), self.batch)
        # one static cache size for the whole run: a new size would be a new compiled graph
        self._cache_len = max(len(ids) for ids in encoded) + self.settings.max_new_tokens
        self._peak.reset()  # this run's peak, not the process's (CUDA peak allocated, or peak RSS)
        if self.backend.compiled:  # before the run's row: a compiler that fails leaves nothing stored
            self.compile_ms = self._compile(plan[0], encoded)
        result = BatchRun(run_id=str(uuid.uuid4()))
        self._begin_run(result.run_id, len(prompts))
        try:
            with GcWatch() as gc_watch:
                for index in range(self.settings.warmup):
                    if self.cancel.is_set():
                        break
                    self._batch(result, plan[0], prompts, encoded, gc_watch, warmup=True, repeat_index=index)
                frozen = self.settings.gc_freeze
                if frozen:
                    gc.collect()
                    gc.freeze()
                try:
                    for indices in plan:
                        for repeat_index in range(self.settings.repeat):
                            if self.cancel.is_set():
                                break
                            self._batch(result, indices, prompts, encoded, gc_watch, warmup=False,
                                        repeat_index=repeat_index)
                finally:
                    if frozen:
                        gc.unfreeze()
        except BaseException:
            result.status = INTERRUPTED if self.cancel.is_set() else FAILED
            raise
        finally:
            if result.status == FINISHED and (self.cancel.is_set() or any(s.status != FINISHED
                                                                          for s in result.sessions)):
                result.status = INTERRUPTED if self.cancel.is_set() else FAILED
            result.summary = {**run_summary(self.batch, self._decode_ms, self._prefill_ms, self._measured_batches,
                                            self._measured_tokens, self.compile_ms, self._peak.peak_mb()),
                              "status": result.status}
            self._end_run(result)
        return result

    # -- the run row
    def _begin_run(self, run_id: str, prompt_count: int) -> None:
        backend = self.backend
        settings = {"settings": asdict(self.settings), "batch": self.batch, "prompts": prompt_count,
                    "cache": "static" if backend.static_cache else "dynamic", "compile": backend.compiled,
                    "compile_mode": backend.compile_mode, "model": backend.info.model, "dtype": backend.info.dtype,
                    "quant": backend.info.quant, "device": backend.info.device,
                    "sweep_id": self.sweep_id, "cell": self.cell}
        conn = open_connection(self.store.path)
        try:
            begin_run(conn, run_id, settings)
            write_in_transaction(conn, [("UPDATE runs SET kind=? WHERE id=?", [(RUN_KIND, run_id)])])
        finally:
            conn.close()

    def _end_run(self, result: BatchRun) -> None:
        conn = open_connection(self.store.path)
        try:
            end_run(conn, result.run_id, result.summary)
        finally:
            conn.close()

    # -- compilation, apart from any token
    def _compile(self, indices: list[int], encoded: list[list[int]]) -> float:
        """Run the first steps of a batch, untimed by any session: torch.compile compiles the decode step
        here. Returns the pass's wall time in ms (compilation + static cache set-up + 3 steps)."""
        from profiler.backends.base import SamplingSettings

        started = time.perf_counter_ns()
        try:
            generation = self._start([encoded[i] for i in indices], SamplingSettings())
            try:
                for _ in range(min(COMPILE_STEPS, self.settings.max_new_tokens + 1)):
                    generation.step()
            finally:
                generation.close()
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - inductor/dynamo raise many kinds; the user needs one line
            raise BackendError(f"torch.compile failed on {self.backend.info.device} ({type(exc).__name__}: "
                               f"{first_line(exc, 300)}); "
                               "run without --compile") from None
        return (time.perf_counter_ns() - started) / 1e6

    def _start(self, batch_ids: list[list[int]], sampling):
        from profiler.backends.hf_batch_generation import BatchedHuggingFaceGeneration

        return BatchedHuggingFaceGeneration(self.backend, batch_ids, sampling, max_cache_len=self._cache_len)

    # -- one batch: B sessions
    def _meta(self, prompt: str, ids: list[int], warmup: bool, repeat_index: int, batch_index: int,
              run_id: str) -> SessionMeta:
        backend = self.backend
        meta = self._single._meta(prompt, ids, warmup, repeat_index)
        settings = {**meta.settings, "batch": self.batch, "cache": "static" if backend.static_cache else "dynamic",
                    "compile": backend.compiled, "compile_mode": backend.compile_mode}
        return replace(meta, batch_size=self.batch, batch_index=batch_index, run_id=run_id, sweep_id=self.sweep_id,
                       cell=self.cell, settings=settings)

    def _batch(self, result: BatchRun, indices: list[int], prompts: list[str], encoded: list[list[int]],
               gc_watch: GcWatch, *, warmup: bool, repeat_index: int) -> None:
        settings = self.settings
        observer = self.observer
        writers = []
        outcomes: list[BatchSession] = []
        generation = None
        sampler = MetricsSampler(self.backend.info.device) if settings.system_metrics else None
        self.sampler = sampler
        eos_k: list[int | None] = [None] * len(indices)
        decode_ms: list[float] = []
        prefill_ms: list[float] = []
        gpu_noise = self._single.gpu_noise()
        noise_start = try_snapshot()  # the machine's noise over the batch, stored with each of its sessions
        self.in_session = True
        try:
            for batch_index, prompt_index in enumerate(indices):
                meta = self._meta(prompts[prompt_index], encoded[prompt_index], warmup, repeat_index, batch_index,
                                  result.run_id)
                writer = self.store.begin_session(meta)
                writers.append(writer)
                outcome = BatchSession(writer.session_id, FAILED, None, warmup, 0, batch_index=batch_index,
                                       repeat_index=repeat_index)
                outcomes.append(outcome)
                result.sessions.append(outcome)
                observer.session_started(writer.session_id, meta)
            if sampler:
                sampler.start()
                writers[0].set_metrics_source(sampler.drain)  # one machine: its samples go with sequence 0
            generation = self._start([encoded[i] for i in indices], settings.sampling)

            def on_step(records: StepRecords) -> None:
                record = records[0][1]
                (prefill_ms if record.k == 1 else decode_ms).append(record.latency_ms)
                for index, record in records:
                    writers[index].add_token(record)
                    outcomes[index].tokens = record.k
                    observer.token(outcomes[index].session_id, record)
                flush_if_due_together(writers)  # one commit for the B sessions, outside the timed step

            stop = run_batch_generation(
                generation, input_tokens=[len(encoded[i]) for i in indices], max_new_tokens=settings.max_new_tokens,
                eos_token_ids=self.backend.eos_token_ids, ignore_eos=settings.ignore_eos, clock=self.clock,
                cancel=self.cancel, gc_watch=gc_watch, on_step=on_step, eos_k=eos_k)
            for outcome in outcomes:
                outcome.stop_reason = stop
                outcome.status = INTERRUPTED if stop == STOP_CANCELLED else FINISHED
            if not warmup:  # an interrupted batch's steps were measured as well as any
                self._decode_ms += decode_ms
                self._prefill_ms += prefill_ms
                self._measured_tokens += sum(outcome.tokens for outcome in outcomes)
                self._measured_batches += 1
        except BaseException as exc:
            status, error = ended_by(exc, self.cancel)
            for outcome in outcomes:
                outcome.status, outcome.error = status, error
            raise
        finally:
            if sampler:
                sampler.stop()
            if generation is not None:
                generation.close()
            try:
                self._finish(writers, outcomes, eos_k, session_noise(noise_start, gpu_noise))
            finally:
                self.in_session = False

    def _finish(self, writers: list, outcomes: list[BatchSession], eos_k: list[int | None],
                noise: dict | None = None) -> None:
        """End every session of the batch, even when one of them can't be (the store's first error is raised)."""
        peak = self._peak.peak_mb()
        environment = {"machine_noise": noise} if noise else None
        problem: StoreError | None = None
        for writer, outcome in zip(writers, outcomes):
            outcome.eos_k = eos_k[outcome.batch_index]
            try:
                writer.finish(outcome.status, outcome.error, eos_k=outcome.eos_k, compile_ms=self.compile_ms,
                              peak_memory_mb=peak, environment=environment)
            except StoreError as exc:
                outcome.status = FAILED if outcome.status == FINISHED else outcome.status
                outcome.error = outcome.error or str(exc)
                problem = problem or exc
            finally:
                self.observer.session_ended(outcome)
        if problem is not None:
            raise problem


def collect_batch(backend: Backend, store: SessionStore, settings: RunSettings, prompts: list[str], *, batch: int,
                  cancel: threading.Event | None = None, observer: RunObserver | None = None,
                  clock: Clock | None = None, sweep_id: str | None = None, cell: str | None = None) -> BatchRun:
    """See the module's docstring."""
    collector = BatchCollector(backend, store, settings, batch=batch, clock=clock, cancel=cancel, observer=observer,
                               sweep_id=sweep_id, cell=cell)
    return collector.run(prompts)


__all__ = ["BatchCollector", "BatchRun", "BatchSession", "collect_batch", "plan_batches", "run_summary"]
