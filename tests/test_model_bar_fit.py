"""The model bar fits its line to the terminal, keeping the device and the context (issue 21, point 6)."""

from __future__ import annotations

import pytest

from pilot_waits import wait_workers
from profiler.backends import ScriptedBackend
from profiler.backends.base import BackendInfo
from profiler.clock import ManualClock
from profiler.store import SessionStore
from screen_text import screen_lines
from tui.app import make_app
from tui.widgets.model_bar import ModelBar, backend_line

LONG_NAME = "someone/a-rather-long-model-name-7B-Instruct-v0.3-GPTQ-Int4"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


async def _bar_line(tmp_path, size, *, model: str, noise: str | None = None) -> str:
    backend = ScriptedBackend(clock=ManualClock(), model=model, max_context=8192)
    app = make_app(store=SessionStore(tmp_path / "data"), backend=backend)
    async with app.run_test(size=size) as pilot:
        bar = app.main.query_one(ModelBar)
        while app.main.controller.info is None:
            await pilot.pause(0.01)
        await wait_workers(pilot)
        if noise:
            bar.show_noise(noise)
            await pilot.pause()
        # what the screen shows on the bar's row, not what the widget was asked to show
        return screen_lines(app)[bar.region.y]


@pytest.mark.parametrize("noise", [None, "noisy machine: load (tokenlat-tui doctor)"])
async def test_at_80_columns_the_bar_keeps_device_and_context(tmp_path, noise):
    shown = await _bar_line(tmp_path, (80, 24), model=LONG_NAME, noise=noise)
    assert "device cpu" in shown and "ctx 8192" in shown
    assert "…" in shown  # the long name gave way, in the middle
    assert LONG_NAME[:6] in shown and LONG_NAME[-4:] in shown
    if noise:
        assert "⚠ noisy" in shown


async def test_at_120_columns_nothing_is_lost(tmp_path):
    shown = await _bar_line(tmp_path, (120, 36), model="scripted")
    full = backend_line(BackendInfo(model="scripted", label="scripted delays", dtype="float32", device="cpu",
                                    max_context=8192), None, None).plain
    assert full in shown and "quant none" in full


def test_less_telling_parts_give_way_first():
    info = BackendInfo(model=LONG_NAME, label="x", dtype="bfloat16", quant="none", device="cuda:0",
                       gpu_name="NVIDIA H100 80GB HBM3", max_context=32768)
    full = backend_line(info, "noisy", None).plain
    shortest = backend_line(info, "noisy", 1)  # the floor: the name kept to MIN_NAME cells, no GPU name
    assert shortest.cell_len < 80 and "…" in shortest.plain and "H100" not in shortest.plain
    for width in range(len(full), 20, -1):
        line = backend_line(info, "noisy", width)
        assert line.cell_len <= max(width, shortest.cell_len), (width, line.plain)
        assert "device cuda:0" in line.plain and "ctx 32768" in line.plain
    assert "quant none" not in backend_line(info, "noisy", len(full) - 1).plain
    assert "⚠ noisy machine" in backend_line(info, "noisy", len(full) - 1).plain
