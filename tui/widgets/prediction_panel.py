"""Predicted latency as context grows: the fitted terms in ms, held-out error, and a plot over measurements.

The figures are `model.session_fit.build_report`'s, the same fit and evaluation `tokenlat-tui fit`
prints for the same sessions; this widget only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import DescendantFocus
from textual.message import Message
from textual.widgets import Input, Label, Select, Static
from textual_plotext import PlotextPlot

from model.session_fit import FitReport
from profiler.printable import printable, printable_line

DEFAULT_HORIZON = 4096
DEFAULT_NEXT_N = 256
SEED_PREDICTOR = "ridge"
SIDE_BY_SIDE = "all"
BEST = "best"
"""The default: every predictor fitted, the one with the lowest held-out MAE on these sessions shown."""
MARKERS = ("+", "x", "*", "o")
"""One plot marker per predictor, in fit order: legends tell them apart without colour."""
EXTRAPOLATED_POINTS = 16
"""Beyond the measured contexts a fit is drawn as this many spaced points (dotted), not a line."""
TERM_NAME_WIDTH = 20
"""Term names are padded to this, so values line up in the 34-column figures box."""


def available_predictors() -> list[str]:
    """Predictor names `model/` offers, the seed's Ridge first (names only: no numpy/pandas import here)."""
    from model.predictor_names import PREDICTOR_NAMES

    return [SEED_PREDICTOR] + [name for name in PREDICTOR_NAMES if name != SEED_PREDICTOR]


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g} ms"


def best_fit(report: FitReport):
    """(the fit with the lowest held-out MAE, a line saying so); without held-out errors to rank by,
    model/'s default predictor, and a line saying why."""
    from model.predictor_names import DEFAULT_PREDICTOR

    rated = [fit for fit in report.fits if fit.mae is not None]
    if rated:
        best = min(rated, key=lambda fit: fit.mae)
        others = ", ".join(f"{fit.name} {fit.mae:.3g}" for fit in rated if fit is not best)
        return best, f"best of {len(rated)} held out" + (f"; others' MAE: {others} ms" if others else "")
    fallback = next((fit for fit in report.fits if fit.name == DEFAULT_PREDICTOR), report.fits[0])
    return fallback, "the default: no held-out error to rank by"


def figures_text(report: FitReport, chosen: str | None = None) -> Text:
    """The figures column: what was fitted, then per predictor its held-out error, the next-N time and
    its terms, all in ms (the key figures first: the column is only a few lines tall at 120x36).
    `chosen`: why the one predictor shown was picked."""
    lines = Text()
    # the scope names the configuration (model, quant, device): outside text, controls made visible
    lines.append(f"{printable_line(report.scope)}\n", style="bold")
    if report.held_out_note:
        lines.append(f"{printable(report.held_out_note)}\n", style="yellow")
    headline, _, others = (chosen or "").partition("; ")
    for index, fit in enumerate(report.fits):
        marker = MARKERS[index % len(MARKERS)]
        seed = " (seed study)" if fit.name == SEED_PREDICTOR else ""
        lines.append(f"{marker} {fit.name}{seed}" + (f": {headline}" if headline else "") + "\n", style="bold cyan")
        if not report.held_out_note:
            lines.append(f" held-out MAE  {_ms(fit.mae)}\n")
        lines.append(f" next {report.next_n} tokens ≈ {fit.next_tokens_ms / 1000:.2f} s\n", style="bold")
        if not report.held_out_note:
            lines.append(f" held-out RMSE {_ms(fit.rmse)}\n")
        if others:
            lines.append(f" {others}\n", style="dim")
        for term in fit.figures["terms"]:
            value = "—" if term["value"] is None else f"{term['value']:.4g}"
            lines.append(f" {term['name']:<{TERM_NAME_WIDTH}}{value:>8} {term['unit']}\n")
        if not fit.figures["terms"]:
            lines.append(" no terms: medians per context bucket\n", style="dim")
    # how it was fitted, below the figures: the column shows only a few lines at 120x36
    lines.append(f"from context {report.current_context} (input {report.input_tokens})\n", style="dim")
    if not report.held_out_note:
        folds = next(iter(report.fits)).figures["folds"] if report.fits else 0
        lines.append(f"held out: whole prompts, {folds} folds\n", style="dim")
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
            options.insert(0, ("best held-out", BEST))
            options.append(("all, side by side", SIDE_BY_SIDE))
        with Horizontal(id="prediction-controls"):
            yield Select(options, value=BEST if len(names) > 1 else names[0], allow_blank=False, id="predictor")
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
        """The predictors to fit: the one chosen, or every one (side by side, or to pick the best)."""
        return available_predictors() if self.predictor in (SIDE_BY_SIDE, BEST) else [self.predictor]

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
        self.query_one("#prediction-text", Static).update(Text(printable(text)))  # may carry an error's text
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
        chosen = None
        if self.predictor == BEST and report.fits:
            best, chosen = best_fit(report)
            report = replace(report, fits=[best])
        self.query_one("#prediction-text", Static).update(figures_text(report, chosen))
        plot = self.query_one("#prediction-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.scatter(report.measured_contexts, report.measured_ms, marker="dot", label="measured")
        measured = report.measured_contexts
        low, high = (min(measured), max(measured)) if measured else (0, 0)
        plt.title(f"ms per token vs context · measured {low}–{high} (│), beyond: dotted = extrapolated")
        if report.measured_contexts:
            plt.vline(high)  # where the data ends: past it, every figure is an extrapolation
        # a latency is never negative: the part of a line extrapolated below 0 (the seed Ridge's
        # habit on noisy data) is left out instead of squashing the measured points into one row.
        # A line with no point left is not drawn at all: plotext 5.3 raises while drawing the
        # legend of a signal that has no visible point, which would take the app down.
        for index, fit in enumerate(report.fits):
            marker = MARKERS[index % len(MARKERS)]
            shown = [(x, y) for x, y in zip(report.curve_contexts, fit.curve) if y >= 0]
            inside = [(x, y) for x, y in shown if x <= high]
            beyond = [(x, y) for x, y in shown if x > high]
            beyond = beyond[::max(1, len(beyond) // EXTRAPOLATED_POINTS)]
            # the legend goes with whichever part is drawn first, so each predictor has exactly one
            label = fit.name
            if inside:
                plt.plot([x for x, _ in inside], [y for _, y in inside], marker=marker, label=label)
                label = None
            if beyond:
                plt.scatter([x for x, _ in beyond], [y for _, y in beyond], marker=marker, label=label)
        top = max([*report.measured_ms, *(v for fit in report.fits for v in fit.curve)] or [1.0])
        plt.ylim(0, top * 1.05)
        plot.refresh()
