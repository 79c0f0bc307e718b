"""Latency over a whole session as bars with a ms scale: every token, whatever the width.

Each column shows the MAX of the tokens it covers (never the mean): a single 40 ms token among
5,000 of 8 ms is still a full-height bar, which is what a reader looks for. The y-axis has ms
labels from 0 (so bar heights compare), the x-axis the first, middle and last token index or
context size. Used by the session detail screen (tall) and the live panel (a few rows).
"""

from __future__ import annotations

import math
from typing import Sequence

from rich.text import Text
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"
"""Eighths of a cell: a bar's top is drawn to 1/8 of a row."""
BAR_STYLE = "cyan"
TALL_STYLE = "bold red"
"""Columns whose max is at least TALL_TIMES the median bar: the eye should land there."""
TALL_TIMES = 2.0
AXIS_STYLE = "dim"


def max_per_column(xs: Sequence[float], ys: Sequence[float], columns: int) -> list[float | None]:
    """Each of `columns` equal slices of the x range summarised by the max y in it (None: empty slice).

    With fewer points than columns, each point gets a column of its own (no stretching, no gaps)."""
    if columns < 1 or not ys:
        return []
    if len(ys) <= columns:
        return list(ys)
    low, high = xs[0], xs[-1]
    span = high - low
    summary: list[float | None] = [None] * columns
    for x, y in zip(xs, ys):
        column = min(columns - 1, int((x - low) * columns / span)) if span > 0 else 0
        current = summary[column]
        if current is None or y > current:
            summary[column] = y
    return summary


NICE_STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
"""Scale tops: round enough to read, close enough that the tallest bar fills most of the chart."""


def nice_ceiling(value: float) -> float:
    """The smallest NICE_STEPS × 10^n at or above `value`: the chart's top label."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in NICE_STEPS:
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


def format_ms(value: float) -> str:
    """Scale labels: as few digits as still tell the ticks apart."""
    if value == 0:
        return "0"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.2f}".rstrip("0").rstrip(".")


class RunChart(Widget):
    DEFAULT_CSS = """
    RunChart { height: 12; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.xs: list[float] = []
        self.values: list[float] = []
        """The latencies (ms) drawn, in x order; the chart keeps them all and summarises per column."""
        self.x_name = "token k"
        self.empty_text = "no decode tokens yet"

    def set_data(self, xs: Sequence[float], values: Sequence[float], *, x_name: str = "token k") -> None:
        self.xs = list(xs)
        self.values = list(values)
        self.x_name = x_name
        self.refresh()

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        return chart_text(self.xs, self.values, width, height, x_name=self.x_name, empty_text=self.empty_text)


def chart_text(xs: Sequence[float], values: Sequence[float], width: int, height: int, *, x_name: str,
               empty_text: str = "no data") -> Text:
    """The chart as text: bar rows, an axis row (from 6 rows up) and an x label row (from 5 rows up).

    A compact chart (the live panel's, 3-4 rows) gives those rows to the bars: its y scale matters
    more than its x labels."""
    with_labels = height >= 5
    with_axis = height >= 6
    rows = height - with_labels - with_axis
    if not values or rows < 1 or width < 20:
        return Text(empty_text, style=AXIS_STYLE)
    top = nice_ceiling(max(values))
    # labels at the top, the middle and 0 (the middle one only where there is a row for it)
    marks = {0: f"{format_ms(top)} ms", rows - 1: "0"} if rows > 1 else {0: f"{format_ms(top)} ms"}
    if rows >= 5:
        marks[rows // 2] = format_ms(top * (rows - rows // 2) / rows)
    gutter = max(len(label) for label in marks.values()) + 1
    plot_width = width - gutter - 1
    columns = max_per_column(xs, values, plot_width)
    present = sorted(v for v in columns if v is not None)
    typical = present[len(present) // 2] if present else 0.0
    out = Text(no_wrap=True, overflow="crop")
    for row in range(rows):
        label = marks.get(row, "")
        out.append(label.rjust(gutter - 1) + " ", style=AXIS_STYLE)
        out.append("┤" if row in marks else "│", style=AXIS_STYLE)
        level = rows - 1 - row  # 0 is the bottom row
        for value in columns:
            eighths = 0 if value is None else round(value / top * rows * 8)
            fill = max(0, min(8, eighths - level * 8))
            tall = value is not None and typical > 0 and value >= TALL_TIMES * typical
            out.append(BLOCKS[fill], style=TALL_STYLE if tall else BAR_STYLE)
        out.append("\n")
    if with_axis:
        out.append(" " * gutter + "└" + "─" * len(columns) + "\n", style=AXIS_STYLE)
    if with_labels:
        out.append(_x_labels(xs, gutter + 1, len(columns), x_name), style=AXIS_STYLE)
    else:
        out.rstrip()
    return out


def _x_labels(xs: Sequence[float], indent: int, span: int, x_name: str) -> str:
    """First x at the left, the axis name in the middle, last x at the right (within the plot's span)."""
    first, last = f"{xs[0]:.0f}", f"{xs[-1]:.0f}"
    middle = x_name
    line = [" "] * (indent + span)
    _place(line, indent, first)
    _place(line, indent + span - len(last), last)
    centre = indent + (span - len(middle)) // 2
    if centre > indent + len(first) and centre + len(middle) < indent + span - len(last):
        _place(line, centre, middle)
    return "".join(line).rstrip()


def _place(line: list[str], start: int, text: str) -> None:
    start = max(0, start)
    for offset, char in enumerate(text):
        if start + offset < len(line):
            line[start + offset] = char
