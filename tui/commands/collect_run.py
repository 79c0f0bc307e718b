"""Running a collection from the CLI: load, progress bar, signals, summary table."""

from __future__ import annotations

import threading

from tui.commands.common import json_safe, print_json
from tui.interrupts import InterruptHandlers
from tui.session_view import session_summary_row


def collect_and_report(store, options, settings, prompts: list[str], *, as_json: bool,
                       breakdown: str | None = None) -> int:
    """`breakdown` ('classes' or 'layers'): a profiled pass after the timed runs (collect_breakdown.py)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from profiler.backends import load_backend
    from profiler.collect import Collector, RunObserver
    from profiler.machine_noise import try_snapshot

    err = Console(stderr=True)
    cancel = threading.Event()
    collector: Collector | None = None
    with InterruptHandlers(cancel, lambda: collector is not None and collector.in_session) as interrupts:
        noise_start = try_snapshot()  # the machine's noise is checked over the model's load: no added wait
        with err.status("loading model…") as status:
            backend = load_backend(options, progress=lambda what, _f: status.update(f"loading model: {what}…"))
        err.print(model_line(backend.info))
        print_noise_warning(err, noise_start, backend.info.device)
        total = (settings.warmup + settings.repeat * len(prompts)) * settings.max_new_tokens
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=err, transient=True, disable=not err.is_terminal)

        class ProgressObserver(RunObserver):
            def session_started(self, session_id, meta):
                kind = "warm-up" if meta.warmup else f"repeat {meta.repeat_index + 1}"
                progress.update(task, description=f"{session_id[:8]} {kind}")

            def token(self, session_id, record):
                progress.advance(task)

        with progress:
            task = progress.add_task("collecting", total=total)
            collector = Collector(backend, store, settings, cancel=cancel, observer=ProgressObserver())
            try:
                outcomes = collector.run(prompts)
            except OSError:
                if not cancel.is_set():  # the terminal went away (SIGHUP): the session is already saved
                    raise
                outcomes = []
        if breakdown and not cancel.is_set() and outcomes:
            from tui.commands.collect_breakdown import profile_after

            profile_after(backend, store, settings, prompts, outcomes, layers=breakdown == "layers", console=err,
                          cancel=cancel)
    sessions = [store.get_session(o.session_id) for o in outcomes]
    try:
        print_sessions(sessions, as_json)
        if not as_json:
            from tui.repeat_summary import print_repeat_summaries

            print_repeat_summaries(sessions)  # llama-bench style: mean ± sd, min–max across the repeats
        if interrupts.received:
            err.print("[yellow]interrupted[/]: the current session was saved as 'interrupted'")
    except OSError:
        pass  # stdout is gone (dropped SSH link); the data is safe in the store
    return interrupts.exit_code


def print_noise_warning(console, start, device: str) -> None:
    """One yellow line when the machine is noisy (profiler/machine_noise.py); nothing when it is quiet."""
    from rich.text import Text

    from profiler.machine_noise import run_start_warning
    from profiler.printable import printable_line

    warning = run_start_warning(start, device)
    if warning:
        console.print(Text(printable_line(warning), style="yellow"), soft_wrap=True)  # names: outside text


def model_line(info, extra: str = ""):
    """'model NAME (label) · dtype · quant · device' as Text: the name is a folder or a config's, so its
    control characters are made visible and '[...]' in it stays literal (it is never markup)."""
    from rich.text import Text

    from profiler.printable import printable_line

    label = f" ({info.label})" if info.label else ""
    return Text.assemble("model ", (printable_line(str(info.model)), "bold"),
                         printable_line(f"{label} · {info.dtype} · quant {info.quant} · {info.device}{extra}"))


def print_sessions(sessions: list[dict], as_json: bool, *, wide: bool = False) -> None:
    if as_json:
        print_json(json_safe([session_summary_row(s) for s in sessions]))
        return
    from tui.session_table import print_session_table

    print_session_table(sessions, wide=wide)
