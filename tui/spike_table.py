"""The spike list as a rich Table: one definition for `show ID --spikes` and the app's detail screen."""

from __future__ import annotations

from typing import Sequence

from rich.table import Table
from rich.text import Text

from profiler.printable import printable_line

COLUMNS = ("k", "context", "ms", "× median", "what was happening")


def spike_title(spikes: Sequence, median_ms: float | None, session_id: str) -> str:
    if median_ms is None or not spikes:
        return "no decode tokens"
    return f"{len(spikes)} slowest decode tokens of {session_id[:8]} (median decode {median_ms:.2f} ms)"


def spike_table(spikes: Sequence, title: str, selected: int | None = None) -> Table:
    """k, context, latency, × median, then the causes, which wrap rather than push the table sideways.

    × median has two decimals: the 1.25× spike threshold (model/spikes.py) must be readable from it.

    `selected`: the index of the row the detail screen has highlighted (drawn reversed)."""
    table = Table(title=title, title_justify="left", expand=False)
    for name in COLUMNS:
        cause = name == "what was happening"
        table.add_column(name, justify="left" if cause else "right", no_wrap=not cause, overflow="fold")
    for index, spike in enumerate(spikes):
        table.add_row(str(spike.k), str(spike.context_size), f"{spike.latency_ms:.2f}", f"{spike.times_median:.2f}",
                      Text(printable_line(spike.summary)), style="reverse" if index == selected else None)
    return table
