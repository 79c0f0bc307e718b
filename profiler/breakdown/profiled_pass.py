"""One generation under torch.profiler, each decode step's operators charged to their module's class.

Labels: a forward pre-hook enters a `record_function` range named after the module's class (and
layer) and its forward hook leaves it, so every operator the profiler records sits inside the
ranges of the modules that ran it; the step itself and the model's forward are ranges too. An
operator's *self* time (its time minus its children's) goes to the innermost labelled range around
it, so the classes of one step add up to that step's profiled time: nothing counted twice, nothing
left out. On CUDA the kernels' device time is charged the same way, to the operator that launched them.

The timed sessions are never touched: this pass is another generation, after them, with its own
clock reads (`step_ns`, perf_counter around each step, profiler cost included) beside the profiler's
own range (`profiled_ns`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import Counter, defaultdict
from typing import Any, Iterable, Iterator

from profiler.breakdown.classes import (CLASSES, FORWARD_LABEL, LABEL_PREFIX, OTHER, SAMPLING, STEP_LABEL,
                                        class_of_label, labelled_modules)
from profiler.records import DECODE, PREFILL


def run_profiled_pass(backend: Any, input_ids: list[int], sampling: Any, *, max_new_tokens: int,
                      ignore_eos: bool, layers: bool = False, keep_operators: bool = False,
                      cancel: Any = None) -> dict[str, Any]:
    """Profile one generation of `input_ids` on `backend` (a local transformers model); the pass as a dict.

    `cancel` (a threading.Event): set, the pass stops before its next step and says so (`cancelled`).

    `keep_operators` adds `operator_classes`: (step k, operator name, class) of every operator, for tests
    and a curious reader (not stored: a long pass has tens of thousands)."""
    import torch
    from torch.autograd.profiler import record_function
    from torch.profiler import ProfilerActivity, profile

    from profiler.breakdown.after_runs import check_profilable

    check_profilable(backend)
    model = backend.model
    cuda = bool(getattr(backend, "is_cuda", False))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    handles = _label_modules(model, layers, record_function)
    steps: list[dict[str, Any]] = []
    generation = backend.start(input_ids, sampling)
    prof = profile(activities=activities, record_shapes=False)
    try:
        with quiet_stderr():
            prof.start()
        try:
            for k in range(1, max_new_tokens + 1):
                if cancel is not None and cancel.is_set():
                    break
                wall = time.time_ns()
                started = time.perf_counter_ns()
                with record_function(f"{STEP_LABEL} {k}"):
                    out = generation.step()
                step_ns = time.perf_counter_ns() - started
                steps.append({"k": k, "phase": PREFILL if k == 1 else DECODE, "context_size": len(input_ids) + k - 1,
                              "step_ns": step_ns, "wall_start_ns": wall})
                if not ignore_eos and out.token_id in backend.eos_token_ids:
                    break
        finally:
            with quiet_stderr():
                prof.stop()
    finally:
        generation.close()
        for handle in handles:
            handle.remove()
    assigned: list[tuple[int, str, str]] | None = [] if keep_operators else None
    by_step = _charge(prof.events(), cuda, assigned)
    for step in steps:
        step.update(by_step.get(step["k"], {"profiled_ns": 0, "classes": {}, "operators": {}, "ranges": []}))
    result = {"activities": ["cpu"] + (["cuda"] if cuda else []), "device": "cuda" if cuda else "cpu",
              "layers": layers, "classes": list(CLASSES), "input_tokens": len(input_ids), "steps": steps,
              "torch": torch.__version__, "cancelled": bool(cancel is not None and cancel.is_set())}
    if assigned is not None:
        result["operator_classes"] = assigned
    return result


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Kineto writes a log line to file descriptor 2 when the profiler starts and stops (no setting turns it
    off): those few milliseconds' stderr goes to /dev/null, so the CLI's output stays one clean line each."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield  # no usable stderr: nothing to keep clean
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _label_modules(model: Any, layers: bool, record_function: Any) -> list[Any]:
    """Hooks that open a labelled range when a module's forward starts and close it when it returns."""
    open_ranges: list[Any] = []

    def opener(label: str):
        def pre(_module, _args):
            scope = record_function(label)
            scope.__enter__()
            open_ranges.append(scope)
        return pre

    def close(_module, _args, _output):
        if open_ranges:
            open_ranges.pop().__exit__(None, None, None)

    handles = []
    for _name, module, label in [("", model, FORWARD_LABEL), *labelled_modules(model, layers=layers)]:
        handles.append(module.register_forward_pre_hook(opener(label)))
        handles.append(module.register_forward_hook(close))
    return handles


def _charge(events: Iterable[Any], cuda: bool,
            assigned: list[tuple[int, str, str]] | None = None) -> dict[int, dict[str, Any]]:
    """Per step k: profiled time, ms per class (and per layer label), operator counts, labelled ranges."""
    owner_cache: dict[int, tuple[int | None, str, Any]] = {}

    def owner(event: Any) -> tuple[int | None, str, Any]:
        """(step k, innermost label, the step's event) of an event; k None outside every step."""
        key = id(event)
        if key in owner_cache:
            return owner_cache[key]
        name = event.name
        parent = event.cpu_parent
        if name.startswith(STEP_LABEL + " "):
            result = (int(name.rsplit(" ", 1)[1]), OTHER, event)  # its own time: the step's glue
        elif parent is None:
            result = (None, OTHER, None)
        else:
            k, parent_label, step = owner(parent)
            if name == FORWARD_LABEL:
                label = OTHER  # the forward's own glue: in none of the classified modules
            elif name.startswith(LABEL_PREFIX):
                label = name
            elif parent is step:
                label = SAMPLING  # in the step, outside the model's forward
            else:
                label = parent_label
            result = (k, label, step)
        owner_cache[key] = result
        return result

    per_step: dict[int, dict[str, Any]] = defaultdict(lambda: {"classes": Counter(), "labels": Counter(),
                                                               "device": Counter(), "operators": Counter(),
                                                               "ranges": [], "profiled_ns": 0})
    for event in sorted(events, key=lambda e: (e.time_range.start, -e.time_range.end)):
        k, label, step = owner(event)
        if k is None:
            continue
        record = per_step[k]
        kind = label if label in (OTHER, SAMPLING) else class_of_label(label)
        self_us = event.self_cpu_time_total
        record["classes"][kind] += self_us / 1000
        if label not in (OTHER, SAMPLING):
            record["labels"][label[len(LABEL_PREFIX):]] += self_us / 1000
        if cuda:
            record["device"][kind] += (getattr(event, "self_device_time_total", None)
                                       or getattr(event, "self_cuda_time_total", 0) or 0) / 1000
        if event is step:
            record["profiled_ns"] = _ns(event.time_range.end) - _ns(event.time_range.start)
        elif event.name.startswith(LABEL_PREFIX):
            offset = _ns(event.time_range.start) - _ns(step.time_range.start)
            record["ranges"].append([event.name[len(LABEL_PREFIX):], offset,
                                     _ns(event.time_range.end) - _ns(event.time_range.start)])
        else:
            record["operators"][kind] += 1
            if assigned is not None:
                assigned.append((k, event.name, kind))
    out = {}
    for k, record in per_step.items():
        item = {"profiled_ns": record["profiled_ns"], "classes": dict(record["classes"]),
                "operators": dict(record["operators"]), "ranges": record["ranges"],
                "labels": dict(record["labels"])}
        if cuda:
            item["device_classes"] = dict(record["device"])
        out[k] = item
    return out


def _ns(microseconds: float) -> int:
    """The profiler's µs (kineto's ns / 1000) back to integer ns; rounding keeps nesting (it is monotonic)."""
    return round(microseconds * 1000)
