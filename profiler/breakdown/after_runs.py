"""The profiled pass after a collection's timed runs, stored apart: one definition for the CLI and the app.

`collect --breakdown` (tui/commands/collect_breakdown.py) and the app's "breakdown" setting (the
engine, profiler/engine/core.py) both call `profile_after_runs` once the timed sessions are stored.
The pass is another generation on the same prompt and settings (max new tokens, EOS, sampling): the
timed sessions before it are exactly those of a run without it. One pass per prompt, linked to that
prompt's measured sessions (not the warm-ups).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict
from typing import Any, Iterator, Sequence

BREAKDOWNS = ("classes", "layers")
"""What a pass groups by: operator class, or class per decoder layer too (`--breakdown layers`)."""


def check_profilable(backend: Any) -> None:
    """InputError unless `backend` runs a local model whose modules the profiled pass can label."""
    from profiler.errors import InputError

    model = getattr(backend, "model", None)
    if model is None or not hasattr(model, "named_modules"):
        raise InputError("--breakdown profiles a local transformers model; this backend has none")


def profile_after_runs(backend: Any, store, settings, prompts: Sequence[str], outcomes: Sequence[Any], *,
                       layers: bool, cancel: Any = None) -> Iterator[tuple[str, list[str], dict[str, Any]]]:
    """Profile each prompt once after its measured sessions; yields (pass id, linked session ids, result)
    as each pass is stored, so a caller can report it at once.

    `cancel` (a threading.Event, the run's stop switch): set, the pass under way ends before its next
    step and nothing more is stored (a cut-short pass would pass for a whole one)."""
    from profiler.breakdown.profiled_pass import run_profiled_pass
    from profiler.store.breakdowns import save_pass

    by_prompt: dict[str, list[str]] = {}
    for outcome in outcomes:
        if not outcome.warmup:
            by_prompt.setdefault(store.get_session(outcome.session_id)["prompt"], []).append(outcome.session_id)
    for prompt in dict.fromkeys(prompts):
        linked = by_prompt.get(prompt)
        if not linked:
            continue
        result = run_profiled_pass(backend, backend.encode(prompt), settings.sampling,
                                   max_new_tokens=settings.max_new_tokens, ignore_eos=settings.ignore_eos,
                                   layers=layers, cancel=cancel)
        if result.pop("cancelled", False):
            return
        timed = [p50 for p50 in (store.get_session(s)["decode_p50_ms"] for s in linked) if p50 is not None]
        result["timed_decode_p50_ms"] = statistics.median(timed) if timed else None  # the timed sessions' median
        pass_id = save_pass(store, linked, {**asdict(settings), "breakdown": "layers" if layers else "classes"},
                            result)
        yield pass_id, linked, result
