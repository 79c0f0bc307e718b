"""How one cell repeat runs: a batched local run (profiler/batch_collect.py) or a remote run.

Either way the cell's sessions are one run (`run_id`), tagged with the sweep and the cell, and the
outcome says how the cell ended: done, interrupted (the cancel Event), or skipped (out of memory).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

from profiler.collect import RunObserver, RunSettings
from profiler.errors import first_line
from profiler.store import SessionStore
from profiler.store.sweeps import DONE, FAILED, INTERRUPTED, SKIPPED, SweepStore
from profiler.sweep.grid import Cell


@dataclass
class CellOutcome:
    status: str
    reason: str | None = None
    run_id: str | None = None


def cell_settings(cell: Cell, warmup: int, seed: int) -> RunSettings:
    from profiler.backends.base import SamplingSettings

    # every cell decodes exactly its length (EOS ignored), greedy: cells compare like for like, and a
    # configuration's outputs compare token by token with the baseline's
    return RunSettings(max_new_tokens=cell.max_new_tokens, ignore_eos=True, warmup=warmup, repeat=1,
                       sampling=SamplingSettings(temperature=0.0, seed=seed))


def run_local_cell(backend, store: SessionStore, sweeps: SweepStore, sweep_id: str, cell: Cell,
                   settings: RunSettings, prompts: list[str], *, cancel: threading.Event,
                   observer: RunObserver) -> CellOutcome:
    """B sequences at a time over the sweep's prompts, as one batched run of the cell."""
    try:
        from profiler.batch_collect import collect_batch
    except ImportError:
        return _run_unbatched(backend, store, sweeps, sweep_id, cell, settings, prompts, cancel=cancel,
                              observer=observer)
    try:
        run = collect_batch(backend, store, settings, prompts, batch=cell.batch, cancel=cancel, observer=observer,
                            sweep_id=sweep_id, cell=cell.key)
    except MemoryError:
        return CellOutcome(SKIPPED, f"out of memory at batch {cell.batch}")
    except Exception as exc:
        if _is_out_of_memory(exc):
            return CellOutcome(SKIPPED, f"out of memory at batch {cell.batch}: {first_line(exc, 300)}")
        raise
    status = {"finished": DONE, "interrupted": INTERRUPTED}.get(run.status, FAILED)
    return CellOutcome(status, None if status == DONE else run.status, run.run_id)


def _run_unbatched(backend, store, sweeps, sweep_id, cell, settings, prompts, *, cancel, observer) -> CellOutcome:
    """Before batched collection exists: batch 1 through the one-sequence collector, larger batches skipped."""
    import uuid

    from profiler.collect import Collector

    if cell.batch != 1:
        return CellOutcome(SKIPPED, "batched decoding is not available in this build (profiler/batch_collect.py)")
    run_id = str(uuid.uuid4())
    tagging = _Tagging(observer, sweeps, sweep_id, cell.key, run_id)
    outcomes = Collector(backend, store, settings, cancel=cancel, observer=tagging).run(prompts)
    interrupted = cancel.is_set() or any(o.status == INTERRUPTED for o in outcomes)
    return CellOutcome(INTERRUPTED if interrupted else DONE, "interrupted" if interrupted else None, run_id)


class _Tagging(RunObserver):
    """Tags each session with the sweep, cell and run as it starts, then passes the hooks on."""

    def __init__(self, inner: RunObserver, sweeps: SweepStore, sweep_id: str, cell: str, run_id: str) -> None:
        self.inner, self.sweeps, self.sweep_id, self.cell, self.run_id = inner, sweeps, sweep_id, cell, run_id

    def session_started(self, session_id, meta):
        self.sweeps.tag_sessions([session_id], self.sweep_id, self.cell, self.run_id)
        self.inner.session_started(session_id, meta)

    def token(self, session_id, record):
        self.inner.token(session_id, record)

    def session_ended(self, outcome):
        self.inner.session_ended(outcome)


def run_remote_cell(options, store: SessionStore, sweeps: SweepStore, sweep_id: str, cell: Cell,
                    settings: RunSettings, prompts: list[str], *, cancel: threading.Event,
                    observer: RunObserver) -> CellOutcome:
    """`cell.batch` streams in flight against the server, as one remote run."""
    from profiler.backends import load_backend
    from profiler.remote.runner import RemoteRun

    backend = load_backend(dataclasses.replace(options, concurrency=cell.batch, request_rate=None))
    run = RemoteRun(backend, store, settings, cancel=cancel, observer=observer)
    try:
        report = run.run(prompts)
    finally:
        sweeps.tag_run(run.run_id, sweep_id, cell.key)
    if cancel.is_set():
        return CellOutcome(INTERRUPTED, "interrupted", run.run_id)
    finished = sum(o.status == "finished" for o in report.outcomes if not o.warmup)
    if not finished:
        return CellOutcome(FAILED, "; ".join(report.problems) or "no stream finished", run.run_id)
    return CellOutcome(DONE, "; ".join(report.problems) or None, run.run_id)


def _is_out_of_memory(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


__all__ = ["CellOutcome", "cell_settings", "run_local_cell", "run_remote_cell"]
