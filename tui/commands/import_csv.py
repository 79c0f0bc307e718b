"""`tokenlat-tui import FILE`: sessions from a CSV (our export, or the seed study's five columns)."""

from __future__ import annotations

import argparse

from tui.commands.common import add_store_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser(
        "import", help="add sessions from a per-token CSV",
        description="Import a CSV written by `tokenlat-tui export`, or a bare five-column file like the seed "
                    "study's (Prompt_ID, Input_Token_Length, Context_Size, Token_Index_k, Per_Token_Latency_ms). "
                    "Each Prompt_ID becomes a session. The whole file is checked first: a bad row is "
                    "reported with its line number and nothing is imported.")
    sub.add_argument("file", metavar="FILE", help="the CSV to read")
    sub.add_argument("--json", action="store_true", help="print what was imported as JSON")
    sub.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                     help="give up when a FIFO or device gives no data for S seconds (default 60)")
    add_store_arguments(sub)
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import math

    from profiler.csv_io import import_csv
    from profiler.csv_limits import IDLE_TIMEOUT_S, MAX_IDLE_TIMEOUT_S
    from profiler.errors import InputError
    from tui.commands.common import open_store, print_json

    idle = IDLE_TIMEOUT_S if args.idle_timeout is None else args.idle_timeout
    if not (math.isfinite(idle) and 0 < idle <= MAX_IDLE_TIMEOUT_S):
        raise InputError(f"--idle-timeout must be a number of seconds above 0 and at most {MAX_IDLE_TIMEOUT_S:g}, "
                         f"not {args.idle_timeout}")
    result = import_csv(open_store(args), args.file, idle_timeout_s=idle)
    if args.json:
        print_json({"path": result.path, "format": result.format, "session_ids": result.session_ids,
                    "rows": result.rows, "ignored_columns": result.ignored_columns,
                    "context_mismatches": result.context_mismatches,
                    "first_mismatch_line": result.first_mismatch_line})
        return 0
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    kind = {"seed": "seed-study five-column", "partial": "partial", "tokenlat-tui": "tokenlat-tui"}[result.format]
    console.print(f"imported [bold]{len(result.session_ids)}[/] session(s), [bold]{result.rows}[/] token rows "
                  f"from {escape(result.path)} ({kind} format)")
    if result.format == "seed":
        console.print("model, quantisation and device are unknown for these sessions (the file doesn't say)")
    if result.ignored_columns:
        console.print(f"[yellow]ignored unknown column(s): {escape(', '.join(result.ignored_columns))}[/]")
    if result.context_mismatches:
        console.print(f"[yellow]{result.context_mismatches} row(s) have Context_Size != Input_Token_Length + "
                      f"Token_Index_k - 1 (first on line {result.first_mismatch_line}); imported as they are[/]")
    return 0
