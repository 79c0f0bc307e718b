"""Runs a sweep's cells in their planned order, storing each cell's outcome as it ends.

- Each configuration change (precision, preset) loads the model anew: the previous one is closed
  first, so two models never share the memory a cell's peak is measured in.
- A cell that can't run — options the device doesn't support, a load that fails, out of memory — is
  stored `skipped` with its reason, and the sweep goes on. Any other error in a cell stores it `failed`
  with the error's first line, and the sweep goes on too (a damaged store stops it: nothing could be kept).
- The cancel Event (SIGINT) ends the running cell's sessions as `interrupted`, marks the cell and the
  sweep `interrupted`, and stops. `resume` runs every cell that isn't `done`, in the planned order.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import threading
import uuid
from typing import Any

from profiler.collect import RunObserver
from profiler.errors import BackendError, InputError, StoreError, first_line
from profiler.store import SessionStore
from profiler.store.sweeps import (DONE, FAILED, INTERRUPTED, PENDING, SKIPPED, SWEEP_FINISHED, CellRow,
                                   SweepStore)
from profiler.sweep.cells import CellOutcome, cell_settings, run_local_cell, run_remote_cell
from profiler.sweep.configs import cell_options, unsupported_reason
from profiler.sweep.grid import LOCAL, Cell, SweepSpec, plan
from profiler.sweep.memory import PeakMemory


class SweepObserver(RunObserver):
    """Progress hooks (the CLI's bar, the app): cells as they start and end, and every token."""

    def cell_started(self, row: CellRow, index: int, total: int) -> None: ...

    def cell_ended(self, row: CellRow, outcome: CellOutcome) -> None: ...

    def loading(self, what: str) -> None: ...


def create_sweep(store: SessionStore, spec: SweepSpec) -> str:
    """Store a new sweep with every planned cell `pending`; returns its id."""
    sweep_id = str(uuid.uuid4())
    sweeps = SweepStore(store.path)
    try:
        sweeps.create(sweep_id, spec.to_json(), spec.seed,
                      [(p.cell.key, p.repeat, p.position, p.cell.params()) for p in plan(spec)])
    finally:
        sweeps.close()
    return sweep_id


class SweepRunner:
    def __init__(self, store: SessionStore, sweep_id: str, base_options: Any, *,
                 cancel: threading.Event | None = None, observer: SweepObserver | None = None,
                 loader: Any = None) -> None:
        from profiler.backends import load_backend

        self.store = store
        self.sweeps = SweepStore(store.path)
        self.sweep_id = sweep_id
        self.spec = SweepSpec.from_json(self.sweeps.get(sweep_id)["spec"])
        self.base_options = base_options
        self.cancel = cancel or threading.Event()
        self.observer = observer or SweepObserver()
        self.load = loader or load_backend
        self.in_cell = False
        """True while a cell's sessions are open: a signal must only set `cancel` then."""
        self._backend: Any = None
        self._loaded_options: Any = None

    def remaining(self) -> list[CellRow]:
        return [row for row in self.sweeps.cells(self.sweep_id) if row.status != DONE]

    def run(self) -> str:
        """Run every cell not yet done; returns the sweep's final status."""
        self.sweeps.claim(self.sweep_id)
        rows = self.remaining()
        current: CellRow | None = None
        try:
            for index, row in enumerate(rows):
                if self.cancel.is_set():
                    break
                current = row
                self.observer.cell_started(row, index, len(rows))
                outcome = self._run_cell(row)
                self.sweeps.end_cell(self.sweep_id, row.cell, row.repeat, outcome.status, reason=outcome.reason,
                                     run_id=outcome.run_id)
                current = None
                self.observer.cell_ended(row, outcome)
                if outcome.status == INTERRUPTED:
                    break
        except BaseException as exc:
            if current is not None:
                interrupted = isinstance(exc, KeyboardInterrupt) or self.cancel.is_set()
                self._end_quietly(current, INTERRUPTED if interrupted else FAILED,
                                  "interrupted" if interrupted else first_line(exc, 300))
            self._end_sweep_quietly(INTERRUPTED)
            raise
        finally:
            self._close_backend()
        status = INTERRUPTED if self.cancel.is_set() else SWEEP_FINISHED
        self.sweeps.end_sweep(self.sweep_id, status)
        return status

    def close(self) -> None:
        self.sweeps.close()

    # -- one cell
    def _run_cell(self, row: CellRow) -> CellOutcome:
        cell = Cell.from_params(row.params)
        settings = cell_settings(cell, self.spec.warmup, self.spec.seed)
        if self.spec.mode != LOCAL:
            return self._guarded(row, lambda: run_remote_cell(
                self.base_options, self.store, self.sweeps, self.sweep_id, cell, settings, self.spec.prompts,
                cancel=self.cancel, observer=self.observer), peak=None)
        try:
            config = self.spec.config_definitions.get(cell.config) if cell.config else None
            options = cell_options(self.base_options, cell.precision, config, cell.batch)
        except InputError as exc:
            return CellOutcome(SKIPPED, str(exc))
        reason = unsupported_reason(options, cuda=_runs_on_cuda(options),
                                    bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None)
        if reason:
            return CellOutcome(SKIPPED, reason)
        try:
            backend = self._backend_for(options)
        except (BackendError, MemoryError) as exc:
            return CellOutcome(SKIPPED, f"can't load: {first_line(exc, 300)}")
        peak = PeakMemory(backend.torch, backend.is_cuda)
        return self._guarded(row, lambda: run_local_cell(
            backend, self.store, self.sweeps, self.sweep_id, cell, settings, self.spec.prompts, cancel=self.cancel,
            observer=self.observer), peak=peak)

    def _guarded(self, row: CellRow, run, peak: PeakMemory | None) -> CellOutcome:
        self.sweeps.start_cell(self.sweep_id, row.cell, row.repeat)
        if peak:
            peak.reset()
        self.in_cell = True
        try:
            outcome = run()
        except (StoreError, KeyboardInterrupt):
            raise
        except (BackendError, InputError) as exc:
            return CellOutcome(SKIPPED if isinstance(exc, BackendError) else FAILED, first_line(exc, 300))
        except Exception as exc:  # one cell's bug or a library's refusal: the other cells still run
            return CellOutcome(FAILED, f"{type(exc).__name__}: {first_line(exc, 300)}")
        finally:
            self.in_cell = False
        if peak and peak.cell_only and outcome.run_id:
            measured = peak.peak_mb()
            if measured is not None:
                self.sweeps.set_peak_memory(outcome.run_id, measured)
        return outcome

    def _backend_for(self, options: Any) -> Any:
        # the batch size is the run's, not the model's: a new batch size reuses the loaded model
        key = dataclasses.replace(options, batch=None) if hasattr(options, "batch") else options
        if self._backend is not None and self._loaded_options == key:
            return self._backend
        self._close_backend()
        self.observer.loading(_describe(options))
        self._backend = self.load(options)
        self._loaded_options = key
        return self._backend

    def _close_backend(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
            self._loaded_options = None
            import gc

            gc.collect()  # the old model's tensors go before the next one loads

    # -- ending without hiding the error that ended us
    def _end_quietly(self, row: CellRow, status: str, reason: str) -> None:
        try:
            self.sweeps.end_cell(self.sweep_id, row.cell, row.repeat, status, reason=reason)
        except StoreError:
            pass

    def _end_sweep_quietly(self, status: str) -> None:
        try:
            self.sweeps.end_sweep(self.sweep_id, status)
        except StoreError:
            pass


def _runs_on_cuda(options: Any) -> bool:
    device = getattr(options, "device", "auto")
    if device == "cpu":
        return False
    import torch  # deferred: only a local sweep needs it, and only once it runs

    return bool(torch.cuda.is_available())


def _describe(options: Any) -> str:
    fields = dataclasses.asdict(options)
    shown = {k: v for k, v in fields.items() if k in ("dtype", "quant", "attn", "cache", "compile")}
    return ", ".join(f"{k} {v}" for k, v in shown.items())


__all__ = ["PENDING", "SweepObserver", "SweepRunner", "create_sweep"]
