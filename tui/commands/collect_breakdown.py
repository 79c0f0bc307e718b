"""`collect --breakdown`: the profiled pass after the timed runs, stored apart, summarised in one line.

The pass is another generation on the same prompt and settings (max new tokens, EOS, sampling): the
timed sessions before it are exactly those of a run without --breakdown. One pass per prompt, linked
to that prompt's measured sessions (not the warm-ups).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict


def profile_after(backend, store, settings, prompts: list[str], outcomes: list, *, layers: bool, console) -> list[str]:
    """Profile each prompt once after its timed sessions; the stored passes' ids."""
    from rich.text import Text

    from profiler.breakdown import run_profiled_pass
    from profiler.breakdown.summary import step_figures
    from profiler.store.breakdowns import save_pass

    measured = [o.session_id for o in outcomes if not o.warmup]
    by_prompt: dict[str, list[str]] = {}
    for session_id in measured:
        by_prompt.setdefault(store.get_session(session_id)["prompt"], []).append(session_id)
    pass_ids = []
    for prompt in dict.fromkeys(prompts):
        linked = by_prompt.get(prompt)
        if not linked:
            continue
        with console.status("profiled pass (torch.profiler)…"):
            result = run_profiled_pass(backend, backend.encode(prompt), settings.sampling,
                                       max_new_tokens=settings.max_new_tokens, ignore_eos=settings.ignore_eos,
                                       layers=layers)
        timed = [p50 for p50 in (store.get_session(s)["decode_p50_ms"] for s in linked) if p50 is not None]
        result["timed_decode_p50_ms"] = statistics.median(timed) if timed else None  # the timed sessions' median
        pass_id = save_pass(store, linked, {**asdict(settings), "breakdown": "layers" if layers else "classes"},
                            result)
        pass_ids.append(pass_id)
        figures = step_figures(result)
        profiled = f"{figures['step_ms']:.2f} ms" if figures["step_ms"] is not None else "–"
        timed_ms = f"{result['timed_decode_p50_ms']:.2f} ms" if result["timed_decode_p50_ms"] is not None else "–"
        console.print(Text(f"profiled pass {pass_id[:8]}: median decode step {profiled} under the profiler vs "
                           f"{timed_ms} timed; per class: tokenlat-tui show {linked[0][:8]} --breakdown"))
    return pass_ids
