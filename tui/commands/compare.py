"""`tokenlat-tui compare A B [C ...]`: each side against the first, with confidence intervals.

A side is one session id (or prefix), or several joined by commas: repeats of one configuration,
which lets the interval cover run-to-run variation (see model/compare.py).
"""

from __future__ import annotations

import argparse

from tui.commands.common import add_store_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser(
        "compare", help="compare sessions: differences in TTFT, p50/p95/p99 and tokens/s with confidence intervals",
        description="Compare sessions against the first one given. A side is ID or ID,ID,... (repeats of one "
                    "configuration: the interval then resamples whole sessions).")
    sub.add_argument("sides", nargs="+", metavar="ID[,ID...]", help="the baseline first, then the sessions to compare")
    sub.add_argument("--json", action="store_true", help="figures, differences and intervals as JSON")
    sub.add_argument("--any", action="store_true", help="allow sessions of different models")
    sub.add_argument("--include-warmup", action="store_true",
                     help="count warm-up sessions named in a side (left out by default, and said so)")
    sub.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    sub.add_argument("--resamples", type=int, default=2000, metavar="N", help="bootstrap resamples (default 2000)")
    add_store_arguments(sub)
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from profiler.errors import InputError
    from tui.commands.common import open_store
    from tui.compare_view import different_models_line, load_comparison, models_of

    if len(args.sides) < 2:
        raise InputError("compare needs at least two sessions (or groups ID,ID,...)")
    if not 0 < args.confidence < 1:
        raise InputError(f"--confidence must be between 0 and 1 (got {args.confidence})")
    if not 100 <= args.resamples <= 100_000:
        raise InputError(f"--resamples must be between 100 and 100000 (got {args.resamples})")
    store = open_store(args)
    groups = [_resolve_group(store, text) for text in args.sides]
    if not args.include_warmup:
        groups = _without_warmups(store, groups, args.sides)
    models = models_of([store.get_session(sid) for group in groups for sid in group])
    if len(models) > 1 and not args.any:
        raise InputError(f"{different_models_line(models)}; pass --any to compare anyway")
    loaded = load_comparison(store, groups, allow_models=True, confidence=args.confidence, resamples=args.resamples)
    if args.json:
        _print_json(loaded)
    else:
        _print_table(loaded)
    return 0


def _without_warmups(store, groups: list[list[str]], texts: list[str]) -> list[list[str]]:
    """Each side's measured sessions; one note on stderr names the warm-ups left out."""
    from model.warmups import left_out_line, without_warmups
    from profiler.errors import InputError
    from profiler.store.session_store import print_notice

    kept_groups, left_out = [], []
    for group, text in zip(groups, texts):
        kept, warmups = without_warmups(store.get_session(sid) for sid in group)
        if not kept:
            raise InputError(f"{text!r} names only warm-up sessions; --include-warmup compares them")
        kept_groups.append([s["id"] for s in kept])
        left_out += warmups
    if left_out:
        print_notice(left_out_line(left_out))
    return kept_groups


def _resolve_group(store, text: str) -> list[str]:
    from profiler.errors import InputError

    parts = [p for p in text.split(",")]
    if any(not p.strip() for p in parts):
        raise InputError(f"empty session id in {text!r}")
    ids = store.resolve_ids(parts)
    if len(set(ids)) != len(ids):
        raise InputError(f"a session is named twice in {text!r}")
    return ids


def _side_json(side, loaded) -> dict:
    from model.compare import side_figures

    first = loaded.sessions[side.session_ids[0]]
    return {"label": side.label, "session_ids": list(side.session_ids), "sessions": len(side.session_ids),
            "tokens": side.tokens, "model": first["model"], "dtype": first["dtype"], "quant": first["quant"],
            "device": first["device"], "timing": first.get("timing") or "device", **side_figures(side)}


def _print_json(loaded) -> None:
    from tui.commands.common import json_safe, print_json
    from tui.compare_view import notes

    print_json(json_safe({
        "baseline": _side_json(loaded.sides[0], loaded),
        "comparisons": [{
            **_side_json(c.other, loaded),
            "method": c.method, "confidence": c.confidence, "resamples": c.resamples,
            "differences": {m: {"baseline": d.baseline, "value": d.value, "relative": d.relative,
                                "ci_low": d.ci_low, "ci_high": d.ci_high} for m, d in c.differences.items()},
            "verdict": c.verdict(),
        } for c in loaded.comparisons],
        "notes": notes(loaded),
    }))


def _print_table(loaded) -> None:
    from rich.console import Console
    from rich.text import Text

    from tui.compare_view import comparison_tables, notes

    console = Console()
    for table in comparison_tables(loaded, console.width):
        console.print(table)
    # Text, not markup: a note names models, which came from outside ('[bold]' in one must stay literal)
    for line in notes(loaded):
        console.print(Text(line))
    for verdict in loaded.verdicts:
        console.print(Text(verdict))
