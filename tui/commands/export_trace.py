"""`tokenlat-tui export ID... --trace -o FILE`: sessions as one Chrome trace-event timeline.

Spike causes come from model/spikes.py (profiler/ never imports model/): they are found here and
passed to the trace builder as marks. A profiled pass (`collect --breakdown`) of the exported
sessions' run goes into the file as a process of its own.
"""

from __future__ import annotations

import argparse

SPIKES_PER_SESSION = 10
"""The slowest decode tokens of each session looked at for causes; ordinary jitter is not marked."""


def spike_marks(tokens: list[dict], metrics: list[dict]) -> list:
    from model.spikes import find_spikes
    from profiler.trace import SpikeMark

    return [SpikeMark(spike.k, spike.summary, spike.times_median)
            for spike in find_spikes(tokens, metrics, top=SPIKES_PER_SESSION) if not spike.ordinary]


def run_trace(args: argparse.Namespace) -> int:
    from pathlib import Path

    from profiler.export_target import check_writable_target, is_stdout
    from profiler.store.breakdowns import passes_for_sessions
    from profiler.trace import read_trace_sessions, write_trace
    from tui.commands.common import open_store, print_json

    to_stdout = is_stdout(args.output)
    if to_stdout and args.json:
        from profiler.errors import InputError

        raise InputError("--json can't be combined with -o - (the trace goes to stdout)")
    if not to_stdout:
        check_writable_target(Path(args.output).expanduser(), force=args.force)  # before any work
    store = open_store(args)
    if args.all:
        ids = [s["id"] for s in store.list_sessions()]
    else:
        ids = list(dict.fromkeys(store.resolve_ids(args.session_ids)))
    items = read_trace_sessions(store, ids, spikes=spike_marks)
    if not args.include_warmup:
        items = [item for item in items if not item.session.get("warmup")]
    result = write_trace(items, args.output, force=args.force, passes=passes_for_sessions(store, ids))
    if args.json:
        print_json({"path": result.path, "sessions": result.sessions, "tokens": result.tokens,
                    "events": result.events, "format": "chrome-trace-event"})
        return 0
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=to_stdout)
    where = "stdout" if to_stdout else escape(result.path)
    console.print(f"wrote a trace of [bold]{result.sessions}[/] session(s), {result.tokens} tokens, to {where}: "
                  "open it in ui.perfetto.dev or chrome://tracing")
    return 0
