"""`tokenlat-tui show ID --breakdown`: where inside a decode step the time went, by operator class.

Reads the profiled pass stored beside the session (profiler/store/breakdowns.py) and prints, per
class, ms per decode token (median, p95) and its share; then per layer when the pass was run with
`--breakdown layers`; and the pass's own step time beside the timed sessions' median, so the
profiler's cost is in plain view.
"""

from __future__ import annotations


def show_breakdown(store, session_id: str, *, as_json: bool) -> int:
    from profiler.breakdown.summary import class_rows, step_figures
    from profiler.errors import InputError
    from profiler.store.breakdowns import passes_for_sessions

    passes = passes_for_sessions(store, [session_id])
    if not passes:
        raise InputError(f"session {session_id[:8]} has no profiled pass: run collect with --breakdown")
    profiled = passes[-1]
    result = profiled["result"]
    device = result.get("device") == "cuda"
    figures = step_figures(result)
    rows = class_rows(result, device=device)
    layer_rows = class_rows(result, key="labels") if result.get("layers") else []
    if as_json:
        from tui.commands.common import json_safe, print_json

        print_json(json_safe({
            "pass_id": profiled["id"], "label": profiled["label"], "sessions": profiled["sessions"],
            "device": result.get("device"), "activities": result.get("activities"),
            "time": "device" if device else "cpu",
            "step_ms": figures["step_ms"], "profiled_ms": figures["profiled_ms"], "classes_ms": figures["classes_ms"],
            "timed_decode_p50_ms": result.get("timed_decode_p50_ms"),
            "classes": [row.__dict__ for row in rows], "layers": [row.__dict__ for row in layer_rows]}))
        return 0
    from rich.console import Console

    from tui.breakdown_view import class_table, cost_line, rows_table

    console = Console()
    console.print(class_table(profiled))
    if layer_rows:
        console.print(rows_table("per layer", "module", layer_rows))
    line = cost_line(result)
    if line is not None:
        console.print(line, markup=False, highlight=False)
    return 0
