"""The prediction plot survives a fitted line that lies wholly below 0 ms (seen on real noisy data:
the Ridge's context slope came out negative). plotext 5.3 raised IndexError drawing the legend of a
signal with no visible point, which crashed the app mid-test."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from model.session_fit import FitReport, PredictorFit
from tui.widgets.prediction_panel import PredictionPanel


def _report(curve: list[float]) -> FitReport:
    figures = {"mae": 1.0, "rmse": 1.5, "folds": 3,
               "terms": [{"name": "intercept", "value": 2.0, "unit": "ms"}]}
    return FitReport(session_ids=["a"], scope="1 session", input_tokens=4, current_context=10, horizon=40,
                     next_n=8, measured_contexts=[4, 5, 6, 7], measured_ms=[3.0, 3.1, 2.9, 3.2],
                     curve_contexts=[10, 20, 30, 40], report={},
                     fits=[PredictorFit("ridge", figures, curve, next_tokens_ms=24.0)])


class _Host(App):
    def compose(self) -> ComposeResult:
        yield PredictionPanel(id="prediction")


def _draw(curve: list[float]) -> str:
    async def scenario() -> str:
        app = _Host()
        async with app.run_test(size=(100, 16)) as pilot:
            app.query_one(PredictionPanel).show_report(_report(curve))
            await pilot.pause()
            await pilot.pause()
            return app.export_screenshot()

    return asyncio.run(scenario())


def test_a_line_wholly_below_zero_is_left_out_and_the_app_keeps_drawing():
    screen = _draw([-1.0, -2.0, -3.0, -4.0])
    assert "measured" in screen  # the plot (and its legend) was drawn
    assert "ridge" in screen  # the figures column still names the predictor


def test_a_line_partly_below_zero_keeps_its_visible_part_and_legend():
    screen = _draw([3.0, 1.0, -1.0, -3.0])
    assert screen.count("ridge") >= 2  # figures column and the plot's legend
