"""`tokenlat-tui export (ID... | --all) -o FILE`: sessions' tokens as CSV, one row per token."""

from __future__ import annotations

import argparse

from tui.commands.common import add_store_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser(
        "export", help="write sessions' per-token latencies to a CSV file",
        description="Write one CSV row per token: the seed study's five columns first "
                    "(Prompt_ID, Input_Token_Length, Context_Size, Token_Index_k, Per_Token_Latency_ms), "
                    "then phase, warmup, model, settings, timestamps and the rest. Sessions oldest first.")
    sub.add_argument("session_ids", nargs="*", metavar="ID", help="session ids or unique prefixes")
    sub.add_argument("--all", action="store_true", help="export every session in the store")
    sub.add_argument("-o", "--output", required=True, metavar="FILE",
                     help="the CSV to write ('-' or /dev/stdout for standard output)")
    sub.add_argument("--force", action="store_true",
                     help="overwrite FILE if it is an existing regular file (never a link, device or FIFO)")
    sub.add_argument("--no-warmup", dest="include_warmup", action="store_false",
                     help="leave out warm-up sessions (by default they are exported, flagged warmup=true)")
    sub.add_argument("--json", action="store_true", help="print what was written as JSON")
    sub.add_argument("--trace", action="store_true",
                     help="write a Chrome trace-event JSON timeline instead of CSV (open it in ui.perfetto.dev "
                          "or chrome://tracing): tokens, GC, CPU wait, spikes, samples, remote chunks")
    add_store_arguments(sub)
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from profiler.csv_io import export_sessions
    from profiler.errors import InputError
    from profiler.export_target import is_stdout
    from tui.commands.common import open_store, print_json

    if args.all and args.session_ids:
        raise InputError("give session ids or --all, not both")
    if not args.all and not args.session_ids:
        raise InputError("give the session ids to export, or --all")
    if args.trace:  # the timeline (issue 20): tui/commands/export_trace.py
        from tui.commands.export_trace import run_trace

        return run_trace(args)
    to_stdout = is_stdout(args.output)
    if to_stdout and args.json:
        raise InputError("--json can't be combined with -o - (the CSV goes to stdout)")
    store = open_store(args)
    problem = store.damage()
    if problem is not None:
        # a damaged store is read, never written: export is the way to save what it still holds
        from profiler.printable import printable_line
        from profiler.store.session_store import print_notice

        store.reopen_read_only()
        print_notice(f"the session store {store.path} is damaged ({printable_line(problem)}); opened read-only, "
                     "exporting the sessions that can still be read")
    result = export_sessions(store, None if args.all else args.session_ids, args.output,
                             force=args.force, include_warmup=args.include_warmup, damaged=problem is not None)
    if args.json:
        print_json({"path": result.path, "sessions": result.sessions, "rows": result.rows,
                    "empty_sessions": result.empty_sessions, "unreadable_sessions": result.unreadable_sessions})
        return 0
    from rich.console import Console
    from rich.markup import escape

    # with the CSV on stdout, the summary must not end up inside it
    console = Console(stderr=to_stdout)
    where = "stdout" if to_stdout else escape(result.path)
    console.print(f"exported [bold]{result.rows}[/] token rows from [bold]{result.sessions}[/] "
                  f"session(s) to {where}")
    if result.empty_sessions:
        console.print(f"[yellow]{result.empty_sessions} session(s) have no tokens and are not in the file[/]")
    if result.unreadable_sessions:
        console.print(f"[yellow]{result.unreadable_sessions} session(s) can't be read from the damaged store "
                      "and are not in the file[/]")
    return 0
