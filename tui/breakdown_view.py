"""A stored profiled pass as a table: one definition for `show ID --breakdown` and the session detail screen.

Per operator class, ms per decode token (median, p95) and share of the decode tokens' class time;
then the pass's own step time beside the timed sessions' median, so the profiler's cost is in view.
Class names and figures are this package's own (never outside text), so nothing here needs escaping.
"""

from __future__ import annotations

from typing import Any, Sequence

NO_PASS = "no profiled pass (collect --breakdown)"
"""What the detail screen says for a session without one."""


def rows_table(title: str, first: str, rows: Sequence[Any]):
    """A rich Table of ClassRow rows: name, median ms, p95 ms, share."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for heading in (first, "median ms", "p95 ms", "share"):
        table.add_column(heading, justify="left" if heading == first else "right")
    for row in rows:
        table.add_row(row.name, f"{row.median_ms:.3f}", f"{row.p95_ms:.3f}", f"{row.share:.1%}")
    return table


def class_table(profiled: dict[str, Any]):
    """The pass's classes (kernel time on a GPU pass, CPU time otherwise)."""
    from profiler.breakdown.summary import class_rows

    device = profiled["result"].get("device") == "cuda"
    what = "kernel time on the GPU" if device else "CPU time"
    return rows_table(f"profiled pass {profiled['id'][:8]} · {what} per decode token, by operator class", "class",
                      class_rows(profiled["result"], device=device))


def cost_line(result: dict[str, Any]) -> str | None:
    """The pass's median decode step under the profiler, and what the profiler adds to the timed median."""
    from profiler.breakdown.summary import step_figures

    figures = step_figures(result)
    if figures["step_ms"] is None:
        return None
    line = (f"median decode step under the profiler {figures['step_ms']:.3f} ms (classes add up to "
            f"{figures['classes_ms']:.3f} ms)")
    timed = result.get("timed_decode_p50_ms")
    if timed:
        line += (f"; timed sessions' median {timed:.3f} ms: the profiler adds "
                 f"{figures['step_ms'] - timed:+.3f} ms ({figures['step_ms'] / timed - 1:+.0%})")
    return line
