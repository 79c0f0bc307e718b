"""The `tokenlat-tui` command: bare, it opens the app; with a subcommand, it works headless.

Each subcommand lives in `tui/commands/<name>.py` with `add_parser(subparsers)` and `run(args) -> int`.
Nothing heavy is imported here: `--help` must answer in well under 0.5 s, so torch, transformers,
pandas and textual load only inside the command that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys

# command name -> module under tui.commands (order = order in --help)
COMMANDS = {
    "collect": "collect",
    "sessions": "sessions",
    "show": "show",
    "delete": "delete",
    "export": "export",
    "import": "import_csv",
    "fit": "fit",
    "compare": "compare",
    "estimate": "estimate",
    "watch": "watch",
    "sweep": "sweep",
    "doctor": "doctor",
}


def build_parser() -> argparse.ArgumentParser:
    from tui.commands.common import add_backend_arguments, add_store_arguments

    parser = argparse.ArgumentParser(
        prog="tokenlat-tui",
        description="Per-token LLM inference latency profiler. With no subcommand, opens the terminal app.",
    )
    add_store_arguments(parser)
    add_backend_arguments(parser)
    parser.add_argument("--on-hangup", choices=["finish", "stop"], default=argparse.SUPPRESS,
                        help="the app: when the terminal goes away mid-run, let the run finish (default) or stop "
                             "it (saved as interrupted); also $TOKENLAT_ON_HANGUP")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(f"tui.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tui.commands.{module_name}":
                raise
            continue  # a command still being built; the rest work
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; as the process's entry point (no `argv`), a subcommand ended by a signal
    exits at once with 128 + N, skipping the interpreter's teardown (profiler.signal_guard.exit_now).
    Callers that pass `argv` (tests, scripts) get the status back as usual; so does the app, whose run
    may go on in the background after it leaves (--on-hangup finish)."""
    ran: list[str | None] = []
    code = _main(argv, ran)
    if argv is None and ran and ran[0] is not None:
        from profiler.signal_guard import SIGNAL_EXIT_CODES, exit_now

        if code in SIGNAL_EXIT_CODES:
            from tui.commands.common import close_stores

            close_stores()  # the command has returned: its sessions are stored and its files in place
            exit_now(code)
    return code


def _main(argv: list[str] | None, ran: list[str | None]) -> int:
    """The command's exit status; `ran` gets the subcommand's name (None: the app)."""
    from profiler.errors import ProfilerError
    from profiler.printable import printable_line

    parser = build_parser()
    args = parser.parse_args(argv)
    ran.append(args.command)
    try:
        if args.command is None:
            from tui.launch import run_app  # deferred: textual is only for the app

            return run_app(args)
        return int(args.handler(args) or 0)
    except ProfilerError as exc:
        # an error names what was wrong, often outside text (a CSV's value, a server's reply): one line,
        # every control character made visible
        print(f"tokenlat-tui: error: {printable_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print("tokenlat-tui: interrupted", file=sys.stderr)
        # SIGTERM/SIGHUP outside a session (e.g. while the model loads) still exit 128 + their number
        return 128 + getattr(exc, "signum", 2)
    except BrokenPipeError:
        return 1  # output piped into `head` and closed: not an error worth a traceback
    except sqlite3.DatabaseError as exc:
        # a store whose first pages are sound passes the open-time checks; damage further in
        # surfaces only when a query reaches it: still one line naming the file, never a traceback
        from profiler.store import store_path
        from profiler.store.failures import store_error

        line = store_error(exc, store_path(getattr(args, 'data_dir', None)))
        print(f"tokenlat-tui: error: {printable_line(str(line))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
