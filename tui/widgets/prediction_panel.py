"""Predicted latency as context grows: the fitted terms, held-out error, and a plot over measurements."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static
from textual_plotext import PlotextPlot

from tui.widgets.prediction_fit import SEED_PREDICTOR, SIDE_BY_SIDE, FitReport, available_predictors

DEFAULT_HORIZON = 4096
DEFAULT_NEXT_N = 256


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


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
            yield Static("ctrl+f fits", id="prediction-figures")
            yield PlotextPlot(id="prediction-plot")

    @property
    def predictor(self) -> str:
        return str(self.query_one("#predictor", Select).value)

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
        self.query_one("#prediction-figures", Static).update(Text(text))
        plot = self.query_one("#prediction-plot", PlotextPlot)
        plot.plt.clear_data()
        plot.refresh()

    def show_report(self, report: FitReport) -> None:
        lines = Text()
        lines.append(f"{report.scope}\n", style="bold")
        lines.append(f"from context {report.current_context} (input {report.input_tokens})\n", style="dim")
        for fit in report.fits:
            lines.append(f"{fit.name}\n", style="bold cyan")
            for name, value in fit.coefficients.items():
                lines.append(f" {name} {_fmt(value, 4)}\n")
            lines.append(f" intercept {_fmt(fit.intercept, 4)}\n")
            lines.append(f" held out: MAE {_fmt(fit.mae)} RMSE {_fmt(fit.rmse)}\n")
            lines.append(f" next {report.next_n} tokens ≈ {fit.next_tokens_ms / 1000:.2f} s\n", style="bold")
        self.query_one("#prediction-figures", Static).update(lines)

        plot = self.query_one("#prediction-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.title("ms/token vs context")
        plt.scatter(report.measured_contexts, report.measured_ms, marker="dot", label="measured")
        for fit in report.fits:
            plt.plot(report.curve_contexts, fit.curve, label=fit.name)
        # a latency is never negative: a line extrapolated below 0 (the seed Ridge's habit on noisy
        # data) leaves the plot instead of squashing the measured points into one row
        top = max([*report.measured_ms, *(v for fit in report.fits for v in fit.curve)] or [1.0])
        plt.ylim(0, top * 1.05)
        plot.refresh()
