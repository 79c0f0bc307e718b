"""The sweep screen's latency column titles carry their unit (ms): a Pilot test at 120×36 on a sweep
made in a real store (no decoding: its cells are stored skipped)."""

from __future__ import annotations

from textual.widgets import DataTable

from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.store import SessionStore
from profiler.store.sweeps import SKIPPED, SweepStore
from profiler.sweep.grid import SweepSpec
from profiler.sweep.runner import create_sweep
from tui.app import make_app
from tui.screens.sweep import SweepScreen


async def test_sweep_cell_headers_name_their_units(tmp_path):
    store = SessionStore(tmp_path / "data")
    sweep_id = create_sweep(store, SweepSpec(mode="local", batches=[1], lengths=[8], precisions=["int8"], repeat=1,
                                             seed=1))
    sweeps = SweepStore(store.path)
    for row in sweeps.cells(sweep_id):
        sweeps.end_cell(sweep_id, row.cell, row.repeat, SKIPPED, reason="int8 needs a CUDA GPU")
    sweeps.close()
    app = make_app(store=store, backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(120, 36)) as pilot:
        while app.main.controller.info is None:
            await pilot.pause()
        app.main.query_one("#sessions").focus()
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, SweepScreen)
        titles = [str(c.label) for c in app.screen.query_one("#sweep-cells", DataTable).columns.values()]
        for latency in ("p50", "p95", "p99", "TTFT"):
            assert f"{latency} ms" in titles, titles
