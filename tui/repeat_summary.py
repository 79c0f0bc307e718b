"""`collect --repeat N`'s closing summary: each figure's mean ± sd and min–max across the repeats.

As llama-bench reports a test: one line per figure, over the measured sessions of one prompt (warm-ups
and sessions that didn't finish left out, and counted). The sd is the sample sd (n − 1): with three
repeats it is a rough figure, which is why min–max stands beside it.

tok/s here, as everywhere in tokenlat, is the decode rate: 1000 / mean decode ms, the first token
(TTFT) excluded. The label says so, since AIPerf and vLLM mean other things by "tok/s".
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

FIGURES = (("ttft_ms", "TTFT ms"), ("decode_p50_ms", "decode p50 ms"), ("decode_p95_ms", "decode p95 ms"),
           ("decode_p99_ms", "decode p99 ms"), ("tokens_per_s", "decode tok/s (1000 / mean decode ms)"))
"""(session field, label): the figures summarised, in the order printed."""


@dataclass(frozen=True)
class Spread:
    mean: float
    sd: float | None
    """None with fewer than two values."""
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class RepeatSummary:
    prompt: str
    sessions: int
    figures: dict[str, Spread]
    warmups: int
    """Warm-up sessions of this prompt, left out."""
    unfinished: int
    """Sessions of this prompt interrupted or failed, left out."""


def spread(values: list[float]) -> Spread:
    return Spread(mean=statistics.fmean(values), sd=statistics.stdev(values) if len(values) > 1 else None,
                  low=min(values), high=max(values), n=len(values))


def summarize_repeats(sessions: list[dict[str, Any]]) -> list[RepeatSummary]:
    """One summary per prompt that has two or more finished, measured sessions (first-run order)."""
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for session in sessions:
        by_prompt.setdefault(session["prompt"], []).append(session)
    summaries = []
    for prompt, group in by_prompt.items():
        measured = [s for s in group if not s["warmup"] and s["status"] == "finished"]
        if len(measured) < 2:
            continue
        figures = {}
        for key, _label in FIGURES:
            values = [float(s[key]) for s in measured if s.get(key) is not None]
            if values:
                figures[key] = spread(values)
        warmups = sum(1 for s in group if s["warmup"])
        summaries.append(RepeatSummary(prompt=prompt, sessions=len(measured), figures=figures, warmups=warmups,
                                       unfinished=len(group) - len(measured) - warmups))
    return summaries


def _number(value: float, key: str) -> str:
    return f"{value:.1f}" if key == "tokens_per_s" else f"{value:.2f}"


def summary_table(summary: RepeatSummary):
    """A rich Table: figure, mean ± sd, min–max (prompt and counts in its title)."""
    from rich.table import Table
    from rich.text import Text

    from profiler.printable import printable_line

    left_out = [f"{n} {what}" for n, what in ((summary.warmups, "warm-up"), (summary.unfinished, "unfinished")) if n]
    left = f" ({', '.join(left_out)} left out)" if left_out else ""
    prompt = printable_line(summary.prompt if len(summary.prompt) <= 40 else summary.prompt[:39] + "…")
    table = Table(title=Text(f"across {summary.sessions} repeats of '{prompt}'{left}"), title_justify="left")
    table.add_column("figure")
    table.add_column("mean ± sd", justify="right")
    table.add_column("min–max", justify="right")
    for key, label in FIGURES:
        figure = summary.figures.get(key)
        if figure is None:
            continue
        sd = "–" if figure.sd is None else _number(figure.sd, key)
        table.add_row(label, f"{_number(figure.mean, key)} ± {sd}",
                      f"{_number(figure.low, key)}–{_number(figure.high, key)}")
    return table


def print_repeat_summaries(sessions: list[dict[str, Any]]) -> None:
    """After `collect`'s sessions table: a summary per prompt that was repeated (nothing otherwise)."""
    summaries = summarize_repeats(sessions)
    if not summaries:
        return
    from rich.console import Console

    console = Console()
    for summary in summaries:
        console.print(summary_table(summary))


__all__ = ["FIGURES", "RepeatSummary", "Spread", "print_repeat_summaries", "summarize_repeats", "summary_table"]
