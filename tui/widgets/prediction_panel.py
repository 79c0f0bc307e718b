"""Predicted latency as context grows: the fitted terms in ms, held-out error, and a plot over measurements.

The figures are `model.session_fit.build_report`'s, the same fit and evaluation `tokenlat-tui fit`
prints for the same sessions; this widget only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import DescendantFocus
from textual.message import Message
from textual.widgets import Input, Label, Select, Static
from textual_plotext import PlotextPlot

from model.session_fit import FitReport

DEFAULT_HORIZON = 4096
DEFAULT_NEXT_N = 256
SEED_PREDICTOR = "ridge"
SIDE_BY_SIDE = "all"
TERM_NAME_WIDTH = 20
"""Term names are padded to this, so values line up in the 34-column figures box."""


def available_predictors() -> list[str]:
    """Predictor names `model/` offers, the seed's Ridge first (names only: no numpy/pandas import here)."""
    from model.predictor_names import PREDICTOR_NAMES

    return [SEED_PREDICTOR] + [name for name in PREDICTOR_NAMES if name != SEED_PREDICTOR]


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g} ms"


def figures_text(report: FitReport) -> Text:
    """The figures column: what was fitted, then per predictor its terms and held-out error, all in ms."""
    lines = Text()
    lines.append(f"{report.scope}\n", style="bold")
    lines.append(f"from context {report.current_context} (input {report.input_tokens})\n", style="dim")
    if report.held_out_note:
        lines.append(f"{report.held_out_note}\n", style="yellow")
    else:
        folds = next(iter(report.fits)).figures["folds"] if report.fits else 0
        lines.append(f"held out: whole prompts, {folds} folds\n", style="dim")
    for fit in report.fits:
        lines.append(f"{fit.name}{' (seed study)' if fit.name == SEED_PREDICTOR else ''}\n", style="bold cyan")
        for term in fit.figures["terms"]:
            value = "—" if term["value"] is None else f"{term['value']:.4g}"
            lines.append(f" {term['name']:<{TERM_NAME_WIDTH}}{value:>8} {term['unit']}\n")
        if not fit.figures["terms"]:
            lines.append(" no terms: medians per context bucket\n", style="dim")
        if not report.held_out_note:
            lines.append(f" held-out MAE  {_ms(fit.mae)}\n")
            lines.append(f" held-out RMSE {_ms(fit.rmse)}\n")
        lines.append(f" next {report.next_n} tokens ≈ {fit.next_tokens_ms / 1000:.2f} s\n", style="bold")
    lines.rstrip()
    return lines


class PredictionPanel(Vertical):
    @dataclass
    class SettingsChanged(Message):
        """Predictor, horizon or N changed: the screen refits."""

    def compose(self) -> ComposeResult:
        names = available_predictors()
        options = [(f"{n} (seed study)" if n == SEED_PREDICTOR else n, n) for n in names]
        if len(names) > 1:
            options.append(("all, side by side", SIDE_BY_SIDE))
        with Horizontal(id="prediction-controls"):
            yield Select(options, value=SEED_PREDICTOR, allow_blank=False, id="predictor")
            yield Label("horizon")
            yield Input(str(DEFAULT_HORIZON), id="horizon", type="integer")
            yield Label("next N")
            yield Input(str(DEFAULT_NEXT_N), id="next-n", type="integer")
        with Horizontal(id="prediction-body"):
            # focusable and scrolling: "all, side by side" is taller than the box, and tab reaches it
            with VerticalScroll(id="prediction-figures"):
                yield Static("ctrl+f fits", id="prediction-text")
            yield PlotextPlot(id="prediction-plot")

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        # in the one-column layout (80x24) focus alone scrolls just the focused line into view:
        # bring the whole panel, figures and plot, onto the screen
        self.scroll_visible(animate=False)

    @property
    def predictor(self) -> str:
        return str(self.query_one("#predictor", Select).value)

    @property
    def predictors(self) -> list[str]:
        """The predictors to fit: the one chosen, or every one for side by side."""
        return available_predictors() if self.predictor == SIDE_BY_SIDE else [self.predictor]

    def _int(self, widget_id: str, default: int) -> int:
        try:
            return max(1, int(self.query_one(f"#{widget_id}", Input).value))
        except ValueError:
            return default

    @property
    def horizon(self) -> int:
        return self._int("horizon", DEFAULT_HORIZON)

    @property
    def next_n(self) -> int:
        return self._int("next-n", DEFAULT_NEXT_N)

    @on(Select.Changed, "#predictor")
    @on(Input.Submitted, "#horizon, #next-n")
    def _settings_changed(self) -> None:
        self.post_message(self.SettingsChanged())

    def show_message(self, text: str) -> None:
        self.query_one("#prediction-text", Static).update(Text(text))
        plot = self.query_one("#prediction-plot", PlotextPlot)
        plot.plt.clear_data()
        plot.refresh()

    @staticmethod
    def summary(report: FitReport) -> str:
        """One line for the refit notification."""
        if report.held_out_note:
            return f"fitted {report.scope}; {report.held_out_note}"
        errors = ", ".join(f"{fit.name} MAE {_ms(fit.mae)}" for fit in report.fits)
        return f"fitted {report.scope}: held-out {errors}"

    def show_report(self, report: FitReport) -> None:
        self.query_one("#prediction-text", Static).update(figures_text(report))
        plot = self.query_one("#prediction-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.title("ms per token vs context")
        plt.scatter(report.measured_contexts, report.measured_ms, marker="dot", label="measured")
        # a latency is never negative: the part of a line extrapolated below 0 (the seed Ridge's
        # habit on noisy data) is left out instead of squashing the measured points into one row.
        # A line with no point left is not drawn at all: plotext 5.3 raises while drawing the
        # legend of a signal that has no visible point, which would take the app down.
        for fit in report.fits:
            shown = [(x, y) for x, y in zip(report.curve_contexts, fit.curve) if y >= 0]
            if shown:
                plt.plot([x for x, _ in shown], [y for _, y in shown], label=fit.name)
        top = max([*report.measured_ms, *(v for fit in report.fits for v in fit.curve)] or [1.0])
        plt.ylim(0, top * 1.05)
        plot.refresh()
