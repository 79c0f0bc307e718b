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
    to_stdout = is_stdout(args.output)
    if to_stdout and args.json:
        raise InputError("--json can't be combined with -o - (the CSV goes to stdout)")
    result = export_sessions(open_store(args), None if args.all else args.session_ids, args.output,
                             force=args.force, include_warmup=args.include_warmup)
    if args.json:
        print_json({"path": result.path, "sessions": result.sessions, "rows": result.rows,
                    "empty_sessions": result.empty_sessions})
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
    return 0
