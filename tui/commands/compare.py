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
    sub.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    sub.add_argument("--resamples", type=int, default=2000, metavar="N", help="bootstrap resamples (default 2000)")
    add_store_arguments(sub)
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from profiler.errors import InputError
    from tui.commands.common import open_store

    if len(args.sides) < 2:
        raise InputError("compare needs at least two sessions (or groups ID,ID,...)")
    if not 0 < args.confidence < 1:
        raise InputError(f"--confidence must be between 0 and 1 (got {args.confidence})")
    if not 100 <= args.resamples <= 100_000:
        raise InputError(f"--resamples must be between 100 and 100000 (got {args.resamples})")
    store = open_store(args)
    groups = [_resolve_group(store, text) for text in args.sides]
    sessions = {sid: store.get_session(sid) for group in groups for sid in group}
    models = {s["model"] for s in sessions.values()}
    if len(models) > 1 and not args.any:
        raise InputError(f"sessions are of different models ({', '.join(sorted(models))}); pass --any to compare anyway")
    sides = [_side(store, group) for group in groups]
    for side in sides:
        if not any(len(d) for d in side.decode_ms):
            raise InputError(f"session {side.label} has no decode tokens to compare")

    from model.compare import compare, side_figures

    comparisons = [compare(sides[0], other, confidence=args.confidence, resamples=args.resamples) for other in sides[1:]]
    if args.json:
        _print_json(sides, comparisons, side_figures, sessions)
    else:
        _print_table(sides, comparisons, side_figures, sessions)
    return 0


def _resolve_group(store, text: str) -> list[str]:
    from profiler.errors import InputError

    parts = [p for p in text.split(",")]
    if any(not p.strip() for p in parts):
        raise InputError(f"empty session id in {text!r}")
    ids = store.resolve_ids(parts)
    if len(set(ids)) != len(ids):
        raise InputError(f"a session is named twice in {text!r}")
    return ids


def _side(store, group: list[str]):
    from model.compare import make_side

    label = "+".join(sid[:8] for sid in group) if len(group) <= 2 else f"{group[0][:8]}+{len(group) - 1}"
    return make_side(label, [(sid, store.session_tokens(sid)) for sid in group])


def _side_json(side, figures, sessions) -> dict:
    first = sessions[side.session_ids[0]]
    return {"label": side.label, "session_ids": list(side.session_ids), "sessions": len(side.session_ids),
            "tokens": side.tokens, "model": first["model"], "dtype": first["dtype"], "quant": first["quant"],
            "device": first["device"], **figures}


def _print_json(sides, comparisons, side_figures, sessions) -> None:
    from tui.commands.common import json_safe, print_json

    print_json(json_safe({
        "baseline": _side_json(sides[0], side_figures(sides[0]), sessions),
        "comparisons": [{
            **_side_json(c.other, side_figures(c.other), sessions),
            "method": c.method, "confidence": c.confidence, "resamples": c.resamples,
            "differences": {m: {"baseline": d.baseline, "value": d.value, "relative": d.relative,
                                "ci_low": d.ci_low, "ci_high": d.ci_high} for m, d in c.differences.items()},
            "verdict": c.verdict(),
        } for c in comparisons],
    }))


def _print_table(sides, comparisons, side_figures, sessions) -> None:
    """Metrics down, sides across: fits 80 columns for the usual two or three sides."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from model.compare import METRIC_NAMES, METRICS

    console = Console()
    base = sides[0]
    confidence = comparisons[0].confidence
    table = Table(title=f"compared with {base.label} (decode percentiles pooled over each side's runs; "
                        f"TTFT: median; change with its {confidence:.0%} interval)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column(base.label, justify="right", no_wrap=True)
    for c in comparisons:
        table.add_column(c.other.label, justify="right", no_wrap=True)
        table.add_column("change", justify="right", no_wrap=True)
    configs = [_config(sessions[side.session_ids[0]]) for side in sides]
    if len(set(configs)) > 1:
        table.add_row("config", configs[0], *[cell for config in configs[1:] for cell in (config, "")])
    table.add_row("runs", str(len(base.session_ids)),
                  *[cell for c in comparisons for cell in (str(len(c.other.session_ids)), "")])
    table.add_row("tokens", str(base.tokens), *[cell for c in comparisons for cell in (str(c.other.tokens), "")])
    base_figures = side_figures(base)
    other_figures = [side_figures(c.other) for c in comparisons]
    for metric in METRICS:
        unit = "" if metric == "tokens_per_s" else " ms"
        table.add_row(METRIC_NAMES[metric] + unit, _num(base_figures[metric]),
                      *[cell for c, figures in zip(comparisons, other_figures)
                        for cell in (_num(figures[metric]), _change(c.differences[metric]))])
    console.print(table)
    if len(set(configs)) == 1:
        console.print(f"all sessions: {configs[0]}")
    for c in comparisons:
        console.print(f"{c.verdict()}; {c.resamples} resamples")


def _change(diff) -> str:
    if diff.relative is None:
        return "–"
    if diff.ci_low is None:
        return f"{diff.relative:+.1%}"
    return f"{diff.relative:+.1%} [{diff.ci_low * 100:+.1f}, {diff.ci_high * 100:+.1f}]"


def _config(session: dict) -> str:
    return " · ".join(v for v in (session["model"], session["dtype"], session["quant"]) if v)


def _num(value) -> str:
    return "–" if value is None else f"{value:.2f}"
