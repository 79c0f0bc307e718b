"""`tokenlat-tui watch [ID]`: follow a running session live in the terminal, without the app.

It reads the store as the collecting process (an engine, an app, `collect`) flushes it, so it works
for any run on this machine's store. With no ID it waits (`--wait`, bounded) for a session to
start — over SSH it is often started while the model still loads — then follows that session and
every later one of the same run (warm-ups, repeats, prompts) until the run ends.
"""

from __future__ import annotations

import argparse

from tui.commands.common import add_store_arguments

BLOCKS = " ▁▂▃▄▅▆▇█"
DEFAULT_WAIT_S = 60.0
"""Long enough for a model to load on a slow machine; bounded, so a script never hangs on it."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser("watch", help="follow a running session live (TTFT, percentiles, sparkline)",
                                description="Follow a running session live until it ends. "
                                            "ID defaults to the newest running session.")
    sub.add_argument("session", nargs="?", metavar="ID", help="session id or unambiguous prefix")
    sub.add_argument("--interval", type=float, default=0.1, metavar="S",
                     help="seconds between reads of the store (default 0.1: 10 Hz)")
    sub.add_argument("--wait", type=float, default=DEFAULT_WAIT_S, metavar="S",
                     help=f"with no ID, how long to wait for a session to start, e.g. while a model loads "
                          f"(default {DEFAULT_WAIT_S:g}; 0: don't wait)")
    add_store_arguments(sub)
    sub.set_defaults(handler=run)


def ms_chart(values: list[float], width: int) -> str:
    """The sparkline between its scale: `decode ms 4.12 ▁▂█▃ 9.80 (max per column)`."""
    if not values:
        return "decode ms: no decode tokens yet"
    columns, per_column = slowest_per_column(values, max(width - 40, 10))
    note = "each column the slowest of " + (f"{per_column} tokens" if per_column > 1 else "1 token")
    return f"decode ms {min(columns):.2f} {_blocks(columns)} {max(columns):.2f}  ({note})"


def slowest_per_column(values: list[float], width: int) -> tuple[list[float], int]:
    """(each of at most `width` columns' slowest value, how many values a column covers): the slowest,
    not the mean, so a single spike stays visible."""
    per_column = max(1, -(-len(values) // width))
    return [max(values[i:i + per_column]) for i in range(0, len(values), per_column)], per_column


def _blocks(columns: list[float]) -> str:
    """One block character per column, scaled between the lowest and highest column."""
    low, high = min(columns), max(columns)
    span = (high - low) or 1.0
    return "".join(BLOCKS[1 + int((v - low) / span * (len(BLOCKS) - 2))] for v in columns)


def render(follower, width: int):
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.text import Text

    from profiler.records import DECODE, PREFILL, summarize

    records = follower.records
    first = next((r.latency_ms for r in records if r.phase == PREFILL), None)
    decode = [r.latency_ms for r in records if r.phase == DECODE]
    summary = summarize(first, decode, len(records))

    def ms(value):
        return "—" if value is None else f"{value:.2f}"

    total = follower.max_new_tokens
    head = Text.assemble((f"{follower.status} ", "bold"), follower.session_id[:8],
                         (f"  pid {follower.pid} on {follower.host}", "dim"))
    figures = Text.assemble(
        ("TTFT ", "bold"), f"{ms(summary.ttft_ms)} ms   ", ("now ", "bold"),
        f"{ms(records[-1].latency_ms if records else None)} ms   ", ("tok/s ", "bold"),
        "—" if summary.tokens_per_s is None else f"{summary.tokens_per_s:.1f}", "\n",
        ("decode p50 ", "bold"), ms(summary.decode_p50_ms), ("  p95 ", "bold"), ms(summary.decode_p95_ms),
        ("  p99 ", "bold"), f"{ms(summary.decode_p99_ms)} ms   ", ("context ", "bold"),
        str(records[-1].context_size if records else follower.input_tokens), "   ", ("tokens ", "bold"),
        f"{len(records)}" + (f"/{total}" if total else ""))
    parts = [head, figures, Text(ms_chart(decode, max(10, width - 2)), style="yellow")]
    if total:
        parts.append(ProgressBar(total=total, completed=min(len(records), total), width=max(10, width - 2)))
    return Group(*parts)


def follow(follower, console, interval: float) -> None:
    """Draw one session live until it ends; its last picture stays on the terminal."""
    import time

    from rich.live import Live

    follower.poll()
    with Live(render(follower, console.width), console=console, auto_refresh=False) as live:
        while not follower.ended:
            time.sleep(interval)
            if follower.poll() or follower.ended:
                live.update(render(follower, console.width), refresh=True)


def run(args: argparse.Namespace) -> int:
    import sys

    from rich.console import Console

    from profiler.engine.follow import SessionFollower
    from profiler.engine.run_follow import newest_running, next_in_run, wait_for_running
    from profiler.errors import InputError
    from tui.commands.common import open_store

    if not args.interval > 0:
        raise InputError(f"--interval must be positive (got {args.interval})")
    if not 0 <= args.wait < float("inf"):
        raise InputError(f"--wait must be 0 or more seconds, and finite (got {args.wait})")
    store = open_store(args)
    if args.session:
        (session_id,) = store.resolve_ids([args.session])
    else:
        if args.wait > 0 and sys.stderr.isatty() and newest_running(store.path) is None:
            # to a person only: piped, the outcome is the exit code and at most one error line
            print(f"tokenlat-tui: waiting up to {args.wait:g} s for a session to start (--wait S)", file=sys.stderr,
                  flush=True)
        session_id = wait_for_running(store.path, args.wait, args.interval)
        if session_id is None:
            waited = f" after waiting {args.wait:g} s" if args.wait > 0 else ""
            raise InputError(f"no running session in {store.path}{waited} (give an ID to see a finished one)")
    console = Console()
    # a session running when we started belongs to a run that may have more to come: follow them all
    follow_run = store.get_session(session_id)["status"] == "running"
    while session_id is not None:
        follower = SessionFollower(store.path, session_id)
        follow(follower, console, args.interval)
        follower.close()
        if follower.status == "deleted":
            raise InputError(f"session {session_id[:8]} was deleted while being watched")
        session_id = next_in_run(store.path, session_id, args.interval) if follow_run else None
    return 0
