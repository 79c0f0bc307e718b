"""Histogram of a session's decode latencies with p50, p95 and p99 marked and labelled in ms.

As text-generation-inference's benchmark shows it: bars of counts per latency bin, the percentiles
as marker columns, each named with its value under the axis. A far tail (a GC pause 20× the
median) would squash every bar into one column, so the bins stop at p99 + TAIL_ROOM × (p99 - min)
(p99 then sits at two thirds of the axis), the last bin collects everything slower, and its
label says "≥".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rich.text import Text
from textual.widget import Widget

from profiler.records import percentile
from tui.widgets.run_chart import AXIS_STYLE, BLOCKS, format_ms

TAIL_ROOM = 0.5
"""Room right of p99, as a fraction of p99's distance from the fastest token."""
BAR_STYLE = "green"
MARK_STYLE = "bold yellow"
PERCENTILES = (50, 95, 99)


@dataclass
class Bins:
    low: float
    high: float
    counts: list[int]
    overflow: bool
    """The last bin also holds every value above `high`."""

    def column_of(self, value: float) -> int:
        width = (self.high - self.low) / len(self.counts)
        if width <= 0:
            return 0
        return max(0, min(len(self.counts) - 1, int((value - self.low) / width)))


def bin_latencies(values: Sequence[float], bins: int) -> Bins:
    ordered = sorted(values)
    low, high = ordered[0], ordered[-1]
    p99 = percentile(ordered, 99)
    cap = p99 + TAIL_ROOM * (p99 - low)
    overflow = high > cap and cap > low
    if overflow:
        high = cap
    result = Bins(low, high if high > low else low + 1.0, [0] * bins, overflow)
    for value in ordered:
        result.counts[result.column_of(value)] += 1
    return result


class LatencyHistogram(Widget):
    DEFAULT_CSS = """
    LatencyHistogram { height: 14; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.values: list[float] = []
        self.percentiles: dict[int, float] = {}
        """p50/p95/p99 of `values` (ms): the same interpolation as the stored session summary."""

    def set_values(self, values: Sequence[float]) -> None:
        self.values = list(values)
        ordered = sorted(self.values)
        self.percentiles = {q: percentile(ordered, q) for q in PERCENTILES} if ordered else {}
        self.refresh()

    def render(self) -> Text:
        return histogram_text(self.values, self.percentiles, self.content_size.width, self.content_size.height)


def histogram_text(values: Sequence[float], percentiles: dict[int, float], width: int, height: int) -> Text:
    """Bar rows, an axis, the ms range, then one row per percentile: `↑ p95 16.35 ms` under its column."""
    rows = height - 2 - len(PERCENTILES)
    if not values or rows < 2 or width < 30:
        return Text("no decode tokens", style=AXIS_STYLE)
    count_label = "tokens"
    gutter = len(count_label) + 1
    plot_width = width - gutter - 1
    bins = bin_latencies(values, plot_width)  # one column per bin: discrete latencies show as separate bars
    top = max(bins.counts)
    marks = {bins.column_of(v): q for q, v in percentiles.items()}
    out = Text(no_wrap=True, overflow="crop")
    for row in range(rows):
        label = str(top) if row == 0 else (count_label if row == 1 else "")
        out.append(label.rjust(gutter - 1) + " ", style=AXIS_STYLE)
        out.append("┤" if row == 0 else "│", style=AXIS_STYLE)
        level = rows - 1 - row
        for column, count in enumerate(bins.counts):
            eighths = round(count / top * rows * 8) if count else 0
            if count and eighths == 0:
                eighths = 1  # a single token in a bin is still visible
            fill = max(0, min(8, eighths - level * 8))
            if column in marks and fill == 0:
                out.append("┊", style=MARK_STYLE)
            else:
                out.append(BLOCKS[fill], style=MARK_STYLE if column in marks else BAR_STYLE)
        out.append("\n")
    span = len(bins.counts)
    out.append(" " * gutter + "└" + "─" * span + "\n", style=AXIS_STYLE)
    left = f"{format_ms(bins.low)} ms"
    middle = format_ms((bins.low + bins.high) / 2)
    right = ("≥ " if bins.overflow else "") + f"{format_ms(bins.high)} ms"
    scale = [" "] * span
    for start, label in ((0, left), ((span - len(middle)) // 2, middle), (span - len(right), right)):
        scale[max(0, start):max(0, start) + len(label)] = label
    out.append(" " * (gutter + 1) + "".join(scale)[:span] + "\n", style=AXIS_STYLE)
    for index, q in enumerate(PERCENTILES):
        if q not in percentiles:
            continue
        column = gutter + 1 + bins.column_of(percentiles[q])
        label = f"p{q} {percentiles[q]:.2f} ms"
        if column + 2 + len(label) <= width:
            line = " " * column + "↑ " + label
        else:  # near the right edge: the label ends at its marker
            line = " " * max(0, column - len(label) - 1) + label + " ↑"
        out.append(line, style=MARK_STYLE)
        if index < len(PERCENTILES) - 1:
            out.append("\n")
    return out
