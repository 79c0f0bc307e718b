"""`tokenlat-tui watch [ID]`: follow a running session live in the terminal, without the app.

It reads the store as the collecting process (an engine, an app, `collect`) flushes it, so it works
for any run on this machine's store, and exits when the session ends.
"""

from __future__ import annotations

import argparse

from tui.commands.common import add_store_arguments

BLOCKS = " ▁▂▃▄▅▆▇█"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser("watch", help="follow a running session live (TTFT, percentiles, sparkline)",
                                description="Follow a running session live until it ends. "
                                            "ID defaults to the newest running session.")
    sub.add_argument("session", nargs="?", metavar="ID", help="session id or unambiguous prefix")
    sub.add_argument("--interval", type=float, default=0.1, metavar="S",
                     help="seconds between reads of the store (default 0.1: 10 Hz)")
    add_store_arguments(sub)
    sub.set_defaults(handler=run)


def sparkline(values: list[float], width: int) -> str:
    """One character per column, each the slowest token it covers, so a single spike stays visible."""
    if not values or width < 1:
        return ""
    per_column = max(1, -(-len(values) // width))
    columns = [max(values[i:i + per_column]) for i in range(0, len(values), per_column)]
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
    parts = [head, figures, Text(sparkline(decode, max(10, width - 2)), style="yellow")]
    if total:
        parts.append(ProgressBar(total=total, completed=min(len(records), total), width=max(10, width - 2)))
    return Group(*parts)


def run(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console
    from rich.live import Live

    from profiler.engine.follow import SessionFollower, newest_running_session
    from profiler.errors import InputError
    from tui.commands.common import open_store

    if args.interval <= 0:
        raise InputError(f"--interval must be positive (got {args.interval})")
    store = open_store(args)
    if args.session:
        (session_id,) = store.resolve_ids([args.session])
    else:
        session_id = newest_running_session(store)
        if session_id is None:
            raise InputError(f"no running session in {store.path} (give an ID to see a finished one)")
    follower = SessionFollower(store.path, session_id)
    console = Console()
    follower.poll()
    with Live(render(follower, console.width), console=console, auto_refresh=False) as live:
        while not follower.ended:
            time.sleep(args.interval)
            if follower.poll() or follower.ended:
                live.update(render(follower, console.width), refresh=True)
    follower.close()
    if follower.status == "deleted":
        raise InputError(f"session {session_id[:8]} was deleted while being watched")
    return 0
