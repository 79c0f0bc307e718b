"""`collect --server URL`: stream from a remote server, every request its own session, and report.

No live progress bar while streams run: its refresh thread would compete with the event loop
that stamps arrivals. One line before, the sessions and the run's figures after.
"""

from __future__ import annotations

import sys
import threading

from tui.commands.collect_run import print_sessions
from tui.commands.common import json_safe, print_json
from tui.interrupts import InterruptHandlers
from tui.session_view import session_summary_row


def collect_remote(store, options, settings, prompts: list[str], *, as_json: bool) -> int:
    from rich.console import Console
    from rich.markup import escape

    from profiler.backends import load_backend
    from profiler.printable import printable_line
    from profiler.remote.options import CREDENTIALS_WARNING
    from profiler.remote.runner import RemoteRun

    err = Console(stderr=True)
    if options.dropped_credentials:
        err.print(f"[yellow]warning[/]: {CREDENTIALS_WARNING}", highlight=False, soft_wrap=True)
    cancel = threading.Event()
    run: RemoteRun | None = None
    with InterruptHandlers(cancel, lambda: run is not None and run.in_session) as interrupts:
        backend = load_backend(options)
        run = RemoteRun(backend, store, settings, cancel=cancel)
        concurrency = options.concurrency or 1
        pacing = (f"Poisson {options.request_rate:g} req/s" if options.request_rate
                  else f"{concurrency} stream(s) in flight")
        err.print(f"server [bold]{escape(printable_line(options.server))}[/] · {options.api} {options.endpoint} · {pacing} · "
                  f"timing: client arrival", highlight=False, soft_wrap=True)
        report = run.run(prompts)
    sessions = [store.get_session(o.session_id) for o in report.outcomes]
    try:
        if as_json:
            print_json(json_safe({"run": report.summary, "sessions": [session_summary_row(s) for s in sessions]}))
        else:
            print_sessions(sessions, as_json=False)
            print_run(report.summary)
        for line in report.problems:  # they may quote the server: shown, never interpreted
            err.print(f"[yellow]warning[/]: {escape(printable_line(line))}", highlight=False, soft_wrap=True)
        for line in report.notices:
            err.print(f"note: {escape(printable_line(line))}", highlight=False, soft_wrap=True)
        if interrupts.received:
            err.print("[yellow]interrupted[/]: streams in flight were saved as 'interrupted'")
    except OSError:
        pass  # stdout is gone; the data is safe in the store
    if interrupts.exit_code:
        return interrupts.exit_code
    return 1 if report.problems else 0


def print_run(summary: dict) -> None:
    def tails(value) -> str:
        return " / ".join(f"{value[k]:.2f}" for k in ("p50", "p95", "p99")) if value else "–"

    rate = summary.get("aggregate_tokens_per_s")
    lines = [
        f"run {summary['run_id'][:8]}: {summary['finished']}/{summary['streams']} streams finished, "
        f"{summary['tokens']} tokens, aggregate {rate:.1f} tokens/s" if rate else
        f"run {summary['run_id'][:8]}: {summary['finished']}/{summary['streams']} streams finished",
        f"TTFT ms p50/p95/p99: {tails(summary['ttft_ms'])}",
        f"per-token ms p50/p95/p99, all streams pooled: {tails(summary['decode_ms_pooled'])}",
        f"per-stream p50 ms across streams p50/p95/p99: {tails(summary['decode_p50_ms_across_streams'])}",
        f"timing: client arrival; per-token latencies derived (chunk gap / tokens in chunk); "
        f"token counts from: {', '.join(summary['token_sources']) or '–'}",
    ]
    for line in lines:
        print(line)
    sys.stdout.flush()
