"""`tokenlat-tui sessions`: every stored session, newest first."""

from __future__ import annotations

import argparse

from tui.commands.common import add_store_arguments
"""A larger LIMIT reaches SQLite as a 'datatype mismatch' that reads like a damaged store."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser("sessions", help="list stored sessions, newest first")
    shown = sub.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print a JSON list")
    shown.add_argument("--ids", action="store_true",
                       help="print only the full ids, one a line, newest first (for scripts: ids=($(tokenlat-tui sessions --ids)))")
    sub.add_argument("--limit", type=int, default=None, metavar="N", help="only the newest N")
    sub.add_argument("--wide", action="store_true",
                     help="every column (started, quant, dtype, ...), however wide; by default the table "
                          "fits the terminal and the least important columns are left out")
    add_store_arguments(sub)
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from profiler.errors import InputError
    from profiler.store.schema import SQLITE_MAX_INTEGER
    from tui.commands.collect_run import print_sessions
    from tui.commands.common import open_store

    if args.limit is not None and not 1 <= args.limit <= SQLITE_MAX_INTEGER:
        raise InputError(f"--limit must be between 1 and {SQLITE_MAX_INTEGER}, not {args.limit}")
    sessions = open_store(args).list_sessions(limit=args.limit, with_environment=args.json)
    if args.ids:
        for session in sessions:
            print(session["id"])
        return 0
    print_sessions(sessions, args.json, wide=args.wide)
    return 0
