"""The prediction panel opens on the predictor `fit` rates best on the shown sessions, names it with its
held-out error, marks where the measured contexts end, and tells predictors apart without colour."""

from __future__ import annotations

from pilot_waits import wait_workers
from screen_text import region_lines
from test_app_pilot import SIZE, _fit_store, scripted
from tui.app import make_app
from tui.widgets.prediction_panel import BEST, MARKERS, SIDE_BY_SIDE


async def test_the_default_is_the_best_held_out_predictor_with_the_data_range_marked(tmp_path):
    app = make_app(store=_fit_store(tmp_path / "data"), backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        await wait_workers(pilot)
        await pilot.pause()
        panel = app.main.query_one("#prediction")
        assert panel.predictor == BEST
        report = app.main.last_fit
        assert len(report.fits) >= 2  # every predictor was fitted to choose among them
        best = min(report.fits, key=lambda fit: fit.mae)
        worst = max(report.fits, key=lambda fit: fit.mae)
        figures = str(app.main.query_one("#prediction-text").render())
        assert f"{MARKERS[0]} {best.name}: best of {len(report.fits)} held out" in figures
        # its key figures are within the first lines of the column (above the fold at 120x36)
        first_lines = figures.splitlines()[:6]
        assert f" held-out MAE  {best.mae:.4g} ms" in first_lines
        assert any(line.startswith(f" next {report.next_n} tokens ≈") for line in first_lines)
        assert f"{worst.name} {worst.mae:.3g}" in figures  # the others' errors are named too
        screen = "\n".join(region_lines(app, panel))
        low, high = min(report.measured_contexts), max(report.measured_contexts)
        assert f"measured {low}–{high}" in screen
        # the curve covers the data and goes beyond it (where it is dotted)
        assert report.curve_contexts[0] <= high < report.curve_contexts[-1]


async def test_side_by_side_predictors_have_distinct_legend_markers(tmp_path):
    app = make_app(store=_fit_store(tmp_path / "data"), backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        app.main.query_one("#predictor").value = SIDE_BY_SIDE
        await pilot.pause()
        await wait_workers(pilot)
        await pilot.pause()
        fits = app.main.last_fit.fits
        screen = "\n".join(region_lines(app, app.main.query_one("#prediction-plot")))
        for marker, fit in zip(MARKERS, fits):
            assert f"{marker * 2} {fit.name}" in screen, (marker, fit.name)  # the legend's sample, then the name
        assert len({MARKERS[i] for i in range(len(fits))}) == len(fits)
