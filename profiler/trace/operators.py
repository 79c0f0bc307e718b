"""A profiled pass (`collect --breakdown`, profiler/breakdown) on the timeline: a process of its own.

Each profiled step is a slice on the `steps` track, with the module ranges the profiler recorded
(embeddings, attention[3], MLP[3], norms, lm_head, sampling...) nested inside it, as stored with
the pass: offsets from the step's start in integer ns, on the same wall clock as the sessions.
"""

from __future__ import annotations

from typing import Any

STEPS_TID = 1


def pass_events(events, pid: int, profiled: dict[str, Any]) -> list[dict[str, Any]]:
    """Add the pass's slices to `events` (build._Events); return its process's name events."""
    for step in profiled.get("result", {}).get("steps", []):
        start, dur = step["wall_start_ns"], step["profiled_ns"]
        events.items.append((start, {"ph": "X", "pid": pid, "tid": STEPS_TID, "cat": "profiled",
                                     "name": f"profiled k={step['k']} (context {step['context_size']})",
                                     "args": {"k": step["k"], "profiled_ms": dur / 1e6,
                                              "classes_ms": step.get("classes", {})}}, dur))
        for label, offset, length in step.get("ranges", []):
            length = max(0, min(length, dur - offset))
            events.items.append((start + offset, {"ph": "X", "pid": pid, "tid": STEPS_TID, "cat": "operator_class",
                                                  "name": label, "args": {"k": step["k"]}}, length))
    label = f"profiled pass {profiled['id'][:8]} (torch.profiler; not the timed sessions)"
    return [{"ph": "M", "pid": pid, "name": "process_name", "args": {"name": label}},
            {"ph": "M", "pid": pid, "name": "process_sort_index", "args": {"sort_index": pid}},
            {"ph": "M", "pid": pid, "tid": STEPS_TID, "name": "thread_name", "args": {"name": "profiled steps"}}]
