"""`collect --breakdown`: the profiled pass after the timed runs, stored apart, summarised in one line.

The passes themselves are profiler/breakdown/after_runs.py (the app's engine runs the same function);
this prints one line per stored pass.
"""

from __future__ import annotations


def profile_after(backend, store, settings, prompts: list[str], outcomes: list, *, layers: bool, console,
                  cancel=None) -> list[str]:
    """Profile each prompt once after its timed sessions; the stored passes' ids (`cancel`: ctrl+c ends it)."""
    from rich.text import Text

    from profiler.breakdown.after_runs import profile_after_runs
    from profiler.breakdown.summary import step_figures

    pass_ids = []
    with console.status("profiled pass (torch.profiler)…"):
        for pass_id, linked, result in profile_after_runs(backend, store, settings, prompts, outcomes, layers=layers,
                                                                 cancel=cancel):
            pass_ids.append(pass_id)
            figures = step_figures(result)
            profiled = f"{figures['step_ms']:.2f} ms" if figures["step_ms"] is not None else "–"
            timed_ms = f"{result['timed_decode_p50_ms']:.2f} ms" if result["timed_decode_p50_ms"] is not None else "–"
            console.print(Text(f"profiled pass {pass_id[:8]}: median decode step {profiled} under the profiler vs "
                               f"{timed_ms} timed; per class: tokenlat-tui show {linked[0][:8]} --breakdown"))
    return pass_ids
