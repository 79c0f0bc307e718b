"""One step of a profiled pass, found by its token position k: what the detail screen and `show --token` show.

The pass runs on the same prompt and settings as the timed sessions, so its step k is the same position
(same context size) as the timed token k: the two are put side by side, never mixed (the pass is
another generation, with the profiler's cost in it).
"""

from __future__ import annotations

from typing import Any

from profiler.breakdown.classes import CLASSES


def pass_step(result: dict[str, Any], k: int) -> dict[str, Any] | None:
    """The pass's step at token position k, or None when the pass has no such step (it stopped sooner).

    Steps are stored with their k; a result stored without it is read by position (step k is the k-th)."""
    steps = result.get("steps", [])
    for index, step in enumerate(steps, start=1):
        if step.get("k", index) == k:
            return step
    return None


def last_k(result: dict[str, Any]) -> int:
    """The pass's last token position (0 for a pass without steps)."""
    steps = result.get("steps", [])
    return max((step.get("k", index) for index, step in enumerate(steps, start=1)), default=0)


def step_classes(step: dict[str, Any], *, device: bool = False) -> list[tuple[str, float, float]]:
    """(class, ms, share of the step's class time) per class, in the classes' own order.

    `device`: kernel time on the GPU (device_classes) instead of CPU time."""
    values = step.get("device_classes" if device else "classes", {})
    total = sum(values.values())
    names = list(CLASSES) + sorted(name for name in values if name not in CLASSES)
    return [(name, values.get(name, 0.0), values.get(name, 0.0) / total if total else 0.0) for name in names]
