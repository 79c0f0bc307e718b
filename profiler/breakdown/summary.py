"""A profiled pass summarised per class: ms per decode token (median, p95) and share of the total."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiler.breakdown.classes import CLASSES
from profiler.records import DECODE, percentile


@dataclass(frozen=True)
class ClassRow:
    name: str
    """A class (attention) or, per layer, a label (attention[3])."""
    median_ms: float
    p95_ms: float
    share: float
    """Of the decode tokens' summed class time."""


def decode_steps(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in result.get("steps", []) if step.get("phase") == DECODE]


def class_rows(result: dict[str, Any], *, key: str = "classes", device: bool = False) -> list[ClassRow]:
    """One row per class (key="classes") or layer label (key="labels"), over the decode tokens.

    `device`: kernel time on the GPU (device_classes) instead of CPU time."""
    steps = decode_steps(result)
    source = "device_classes" if device else key
    names = list(CLASSES) if key == "classes" else sorted({n for s in steps for n in s.get(source, {})}, key=_order)
    total = sum(sum(step.get(source, {}).values()) for step in steps)
    rows = []
    for name in names:
        values = sorted(step.get(source, {}).get(name, 0.0) for step in steps)
        if not values:
            continue
        rows.append(ClassRow(name, percentile(values, 50), percentile(values, 95),
                             sum(values) / total if total else 0.0))
    return rows


def step_figures(result: dict[str, Any]) -> dict[str, float | None]:
    """Median decode step of the pass: by the clock around it, by the profiler's range, by its classes."""
    steps = decode_steps(result)
    if not steps:
        return {"step_ms": None, "profiled_ms": None, "classes_ms": None}

    def median(values):
        return percentile(sorted(values), 50)

    return {"step_ms": median(s["step_ns"] / 1e6 for s in steps),
            "profiled_ms": median(s["profiled_ns"] / 1e6 for s in steps),
            "classes_ms": median(sum(s["classes"].values()) for s in steps)}


def _order(label: str) -> tuple:
    kind, _, layer = label.partition("[")
    return (int(layer.rstrip("]")) if layer else -1, CLASSES.index(kind) if kind in CLASSES else len(CLASSES))
