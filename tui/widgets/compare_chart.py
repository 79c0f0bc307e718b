"""Decode latency against context for several sessions on one chart, each with its own marker and colour.

Decode steps only: the first token (prompt processing) is often ten times a decode step and would
squash every other point into the bottom rows. Points are drawn as measured, not averaged: a spike
in one session is exactly what a comparison should show.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual_plotext import PlotextPlot

STYLES = [("•", "cyan"), ("x", "orange"), ("+", "green"), ("o", "magenta"), ("*", "red"), ("#", "blue")]
"""(marker, colour) per series, in order; distinct in both, so the chart reads without colour too."""


@dataclass(frozen=True)
class Series:
    label: str
    contexts: list[int]
    latencies_ms: list[float]


class CompareChart(PlotextPlot):
    def show(self, series: list[Series]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title("decode ms per token vs context")
        plt.xlabel("context (tokens)")
        plt.ylabel("ms")
        for index, one in enumerate(series):
            marker, colour = STYLES[index % len(STYLES)]
            plt.scatter(one.contexts, one.latencies_ms, marker=marker, color=colour, label=one.label)
        values = [v for one in series for v in one.latencies_ms]
        if values:
            plt.ylim(0, max(values) * 1.05)  # from 0: a ratio between sessions reads off the heights
        self.refresh()
