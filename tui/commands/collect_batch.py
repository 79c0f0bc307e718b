"""`collect --batch B`: B sequences decoded together, one session each, and the run's aggregate figures."""

from __future__ import annotations

import threading

from tui.commands.collect_run import model_line, print_noise_warning, print_sessions
from tui.commands.common import json_safe, print_json
from tui.interrupts import InterruptHandlers
from tui.session_view import session_summary_row


def collect_batch_and_report(store, options, settings, prompts: list[str], *, as_json: bool) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from profiler.backends import load_backend
    from profiler.batch_collect import BatchCollector, plan_batches
    from profiler.collect import RunObserver

    err = Console(stderr=True)
    cancel = threading.Event()
    collector: BatchCollector | None = None
    run = None
    with InterruptHandlers(cancel, lambda: collector is not None and collector.in_session) as interrupts:
        from profiler.machine_noise import try_snapshot

        noise_start = try_snapshot()  # the machine's noise is checked over the model's load
        with err.status("loading model…") as status:
            backend = load_backend(options, progress=lambda what, _f: status.update(f"loading model: {what}…"))
        info = backend.info
        compiled = " · torch.compile (compiling first: minutes on a CPU)" if options.compile else ""
        err.print(model_line(info, f" · batch {options.batch} · {options.cache} cache{compiled}"), soft_wrap=True)
        print_noise_warning(err, noise_start, info.device)
        batches = len(plan_batches(len(prompts), options.batch))
        total = (settings.warmup + settings.repeat * batches) * options.batch * settings.max_new_tokens
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=err, transient=True, disable=not err.is_terminal)

        class ProgressObserver(RunObserver):
            def session_started(self, session_id, meta):
                if meta.batch_index == 0:
                    kind = "warm-up" if meta.warmup else f"repeat {meta.repeat_index + 1}"
                    progress.update(task, description=f"batch of {options.batch} · {kind}")

            def token(self, session_id, record):
                progress.advance(task)

        with progress:
            task = progress.add_task("collecting", total=total)
            collector = BatchCollector(backend, store, settings, batch=options.batch, cancel=cancel,
                                       observer=ProgressObserver())
            try:
                run = collector.run(prompts)
            except OSError:
                if not cancel.is_set():  # the terminal went away (SIGHUP): the sessions are already saved
                    raise
    sessions = [store.get_session(s.session_id) for s in run.sessions] if run else []
    try:
        if as_json:
            rows = [session_summary_row(s) for s in sessions]
            print_json(json_safe({"run": {"id": run.run_id, **run.summary} if run else None, "sessions": rows}))
        else:
            print_sessions(sessions, as_json=False)
            if run:
                print_run(run.run_id, run.summary)
        if interrupts.received:
            err.print("[yellow]interrupted[/]: the batch's sessions were saved as 'interrupted'")
    except OSError:
        pass  # stdout is gone (dropped SSH link); the data is safe in the store
    return interrupts.exit_code


def print_run(run_id: str, summary: dict) -> None:
    def ms(value) -> str:
        return "–" if value is None else f"{value:.2f} ms"

    throughput = summary.get("aggregate_tokens_per_s")
    line = (f"run {run_id[:8]} · batch {summary['batch']} · {summary['steps']} decode steps · step p50 "
            f"{ms(summary['step_p50_ms'])}, p95 {ms(summary['step_p95_ms'])}, p99 {ms(summary['step_p99_ms'])} · "
            f"aggregate {'–' if throughput is None else f'{throughput:.1f}'} tokens/s (B x 1000 / mean step ms)")
    if summary.get("compile_ms") is not None:
        line += f" · compiled in {summary['compile_ms'] / 1000:.1f} s (apart from any token)"
    print(line, flush=True)
