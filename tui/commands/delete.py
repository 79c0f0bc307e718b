"""`tokenlat-tui delete ID...`: remove sessions and their tokens (asks unless --yes)."""

from __future__ import annotations

import argparse
import sys

from tui.commands.common import add_store_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser("delete", help="delete sessions")
    sub.add_argument("session_ids", nargs="+", metavar="ID")
    sub.add_argument("--yes", "-y", action="store_true", help="don't ask for confirmation")
    add_store_arguments(sub)
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from profiler.errors import InputError
    from tui.commands.common import open_store

    store = open_store(args)
    ids = store.resolve_ids(args.session_ids)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError("refusing to delete without confirmation: no terminal to ask on; pass --yes")
        answer = input(f"delete {len(ids)} session(s) and their tokens? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    deleted = store.delete_sessions(ids)
    print(f"deleted {deleted} session(s)")
    return 0
