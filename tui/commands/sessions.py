"""`tokenlat-tui sessions`: stored sessions, newest first (the table: the newest TABLE_LIMIT unless told)."""

from __future__ import annotations

import argparse

from tui.commands.common import add_store_arguments

TABLE_LIMIT = 50
"""Sessions the table shows by default: a screenful or two. A store can hold 300k; a table of all of
them takes seconds to lay out and nobody reads it (a line says how many more there are)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser("sessions", help="list stored sessions, newest first")
    shown = sub.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print a JSON list")
    shown.add_argument("--ids", action="store_true",
                       help="print only the full ids, one a line, newest first (for scripts: ids=($(tokenlat-tui sessions --ids)))")
    sub.add_argument("--limit", type=int, default=None, metavar="N",
                     help=f"only the newest N (the table shows the newest {TABLE_LIMIT} unless told; "
                          "--json and --ids list every session unless told)")
    sub.add_argument("--all", action="store_true", help="the table lists every session, however many")
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
    if args.all and args.limit is not None:
        raise InputError("give --limit N or --all, not both")
    table = not (args.json or args.ids)
    limit = args.limit
    if table and limit is None and not args.all:
        limit = TABLE_LIMIT
    store = open_store(args)
    sessions = store.list_sessions(limit=limit, with_environment=args.json)
    if args.ids:
        for session in sessions:
            print(_shown(session["id"]))
        return 0
    if args.json:
        print_sessions(sessions, True)  # JSON escapes control characters itself
        return 0
    print_sessions([{key: _shown(value) for key, value in session.items()} for session in sessions], False,
                   wide=args.wide)
    if limit is not None and len(sessions) == limit:
        more = store.count_sessions() - len(sessions)
        if more > 0:
            print(f"{more} older session(s) not shown; --limit N shows the newest N, --all shows every one")
    return 0


def _shown(value):
    """Stored text came from outside (a CSV, a server, a model): control characters made visible."""
    from profiler.printable import printable_line

    return printable_line(value) if isinstance(value, str) else value
