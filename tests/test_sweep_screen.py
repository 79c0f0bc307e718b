"""Pilot test of the sweep screen (w): a real sweep made by the CLI on the embedded model, read by the app."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable

from conftest import run_cli
from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.store import SessionStore
from tui.app import make_app
from tui.screens.sweep import SweepScreen

pytestmark = pytest.mark.slow


async def test_the_sweep_screen_shows_a_stored_sweeps_cells(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    made = run_cli("sweep", "--batch", "1,2", "--max-new-tokens", "4", "--precision", "fp32,int8", "--warmup", "0",
                   "--prompt-count", "2", "--json", data_dir=data_dir, timeout=600)
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    app = make_app(store=SessionStore(data_dir), backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(120, 36)) as pilot:
        while app.main.controller.info is None:
            await pilot.pause()
        app.main.query_one("#sessions").focus()  # the prompt field would take the key as text
        await pilot.press("w")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SweepScreen)
        assert screen.shown_sweep == report["sweep_id"]
        table = screen.query_one("#sweep-cells", DataTable)
        assert table.row_count == 4
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        # the app's figures are the CLI's: one definition (profiler/sweep/results.py) for both
        by_line = {(c["line"], str(c["batch"])): c for c in report["cells"]}
        for row in rows:
            cell = by_line[(row[0], row[1])]
            if cell["status"] == "done":
                assert row[3] == f"{cell['p50_ms']:.2f}" and row[7] == f"{cell['tokens_per_s']:.1f}"
            else:
                assert row[2].startswith("skipped: int8 needs bitsandbytes on a CUDA GPU")
        assert screen.query_one("#sweep-list", DataTable).row_count == 1
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main


async def until_ended(pilot, screen, timeout_s: float) -> None:
    """Until the sweep the screen started has run and its end was seen (the screen polls every 2 s)."""
    import asyncio

    await pilot.pause()
    assert screen.launched is not None
    for _ in range(int(timeout_s * 10)):
        await asyncio.sleep(0.1)
        if screen.launched is None:
            return
    raise AssertionError("the sweep started from the app did not end")


async def test_a_sweep_started_from_the_app_runs_and_fills_the_screen(tmp_path, monkeypatch):
    from textual.widgets import Input

    data_dir = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    app = make_app(store=SessionStore(data_dir), backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(120, 36)) as pilot:
        while app.main.controller.info is None:
            await pilot.pause()
        app.main.query_one("#sessions").focus()
        await pilot.press("w")
        await pilot.pause()
        screen = app.screen
        # a bad flag: the CLI's own one-line refusal arrives as a notification, the app keeps running
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#sweep-flags", Input).value = "--precision fp64"
        await pilot.press("enter")
        await until_ended(pilot, screen, 30)
        assert any("unknown 'fp64'" in n.message for n in app._notifications)
        # a good one: the sweep runs in its own process and its cells appear here
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#sweep-flags", Input).value = (
            "--batch 1,2 --max-new-tokens 3 --precision fp32 --warmup 0 --prompt-count 2")
        await pilot.press("enter")
        await until_ended(pilot, screen, 300)
        assert any(n.message == "sweep finished" for n in app._notifications)
        await pilot.pause()
        table = screen.query_one("#sweep-cells", DataTable)
        assert table.row_count == 2
        assert [str(table.get_row_at(i)[2]) for i in range(2)] == ["done", "done"]
