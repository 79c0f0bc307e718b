"""Running a collection from the CLI: load, progress bar, signals, summary table."""

from __future__ import annotations

import threading

from tui.commands.common import json_safe, print_json
from tui.interrupts import InterruptHandlers
from tui.session_view import session_summary_row


def collect_and_report(store, options, settings, prompts: list[str], *, as_json: bool) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from profiler.backends import load_backend
    from profiler.collect import Collector, RunObserver

    err = Console(stderr=True)
    cancel = threading.Event()
    collector: Collector | None = None
    with InterruptHandlers(cancel, lambda: collector is not None and collector.in_session) as interrupts:
        with err.status("loading model…") as status:
            backend = load_backend(options, progress=lambda what, _f: status.update(f"loading model: {what}…"))
        label = f" ({backend.info.label})" if backend.info.label else ""
        err.print(f"model [bold]{backend.info.model}[/]{label} · {backend.info.dtype} · quant {backend.info.quant}"
                  f" · {backend.info.device}")
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
    sessions = [store.get_session(o.session_id) for o in outcomes]
    try:
        print_sessions(sessions, as_json)
        if interrupts.received:
            err.print(f"[yellow]interrupted[/]: the current session was saved as 'interrupted'")
    except OSError:
        pass  # stdout is gone (dropped SSH link); the data is safe in the store
    return interrupts.exit_code


def print_sessions(sessions: list[dict], as_json: bool, *, wide: bool = False) -> None:
    if as_json:
        print_json(json_safe([session_summary_row(s) for s in sessions]))
        return
    from tui.session_table import print_session_table

    print_session_table(sessions, wide=wide)
