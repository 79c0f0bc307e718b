"""`tokenlat-tui show ID --breakdown`: where inside a decode step the time went, by operator class.

Reads the profiled pass stored beside the session (profiler/store/breakdowns.py) and prints, per
class, ms per decode token (median, p95) and its share; then per layer when the pass was run with
`--breakdown layers`; and the pass's own step time beside the timed sessions' median, so the
profiler's cost is in plain view.
"""

from __future__ import annotations


def show_breakdown(store, session_id: str, *, as_json: bool, token: int | None = None) -> int:
    from profiler.breakdown.summary import class_rows, step_figures
    from profiler.errors import InputError
    from profiler.store.breakdowns import passes_for_sessions

    passes = passes_for_sessions(store, [session_id])
    if not passes:
        raise InputError(f"session {session_id[:8]} has no profiled pass: run collect with --breakdown")
    profiled = passes[-1]
    if token is not None:
        return _show_token(store, session_id, profiled, token, as_json=as_json)
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


def _show_token(store, session_id: str, profiled: dict, k: int, *, as_json: bool) -> int:
    """`--token K`: the pass's step k (same prompt and settings: the same position as the timed token k)."""
    from profiler.breakdown.step import last_k, pass_step, step_classes
    from profiler.errors import InputError
    from profiler.flag_checks import check_range

    result = profiled["result"]
    steps = last_k(result)
    if steps == 0:
        raise InputError(f"the profiled pass {profiled['id'][:8]} has no steps")
    check_range("--token", k, 1, steps)  # the pass's own length: one line, exit 2
    step = pass_step(result, k)
    if step is None:  # a pass stored with a gap in its steps (none is written so): say so, not a traceback
        raise InputError(f"the profiled pass {profiled['id'][:8]} has no step k={k}")
    timed = next((t["latency_ms"] for t in store.session_tokens(session_id) if t["k"] == k), None)
    if as_json:
        from tui.commands.common import json_safe, print_json

        device = result.get("device") == "cuda"
        print_json(json_safe({
            "pass_id": profiled["id"], "label": profiled["label"], "k": k, "phase": step.get("phase"),
            "context_size": step.get("context_size"), "time": "device" if device else "cpu",
            "timed_ms": timed, "step_ms": step["step_ns"] / 1e6, "profiled_ms": step["profiled_ns"] / 1e6,
            "classes": [{"name": name, "ms": ms, "share": share}
                        for name, ms, share in step_classes(step, device=device)]}))
        return 0
    from rich.console import Console

    from tui.breakdown_view import token_breakdown

    Console().print(token_breakdown(profiled, session_id, k, timed))
    return 0
