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


def token_breakdown(profiled: dict[str, Any], session_id: str, k: int, timed_ms: float | None):
    """The pass's step at token position k beside the timed token k: a table of ms and share per class,
    or one line saying why there is none (the pass stopped sooner, or was not run beside this session).

    One definition for the detail screen's selected token and `show ID --breakdown --token K`."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from profiler.breakdown.step import last_k, pass_step, step_classes

    result = profiled["result"]
    if session_id not in profiled.get("sessions", [session_id]):
        return Text(f"token k={k}: the profiled pass {profiled['id'][:8]} was not run beside this session "
                    "(another prompt or settings), so it has no step to match", style="dim")
    step = pass_step(result, k)
    if step is None:
        return Text(f"token k={k}: the profiled pass {profiled['id'][:8]} has no step k={k} "
                    f"(it ran {last_k(result)} steps)", style="dim")
    device = result.get("device") == "cuda"
    took = f"{timed_ms:.3f} ms" if timed_ms is not None else "– (not recorded)"
    title = (f"profiled pass, step k={k} (the timed token took {took}; profiled step "
             f"{step.get('profiled_ns', 0) / 1e6:.3f} ms) · {'kernel time on the GPU' if device else 'CPU time'}")
    table = Table()  # the label goes above as a line: a title would wrap to the narrow table's width
    for heading in ("class", "ms", "share"):
        table.add_column(heading, justify="left" if heading == "class" else "right")
    rows = step_classes(step, device=device)
    for name, ms, share in rows:
        table.add_row(name, f"{ms:.3f}", f"{share:.1%}")
    table.add_row("all classes", f"{sum(ms for _, ms, _ in rows):.3f}", "", style="bold")
    return Group(Text(title, style="italic"), table)
