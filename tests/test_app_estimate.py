"""Pilot tests of the estimate screen (ctrl+t) and the latency panel's measured-vs-possible line."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select

from model.efficiency import session_efficiency
from model.estimate import estimate_from_names
from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.records import SessionMeta, TokenRecord
from profiler.store import SessionStore
from tui.app import make_app
from tui.screens.estimate import EstimateScreen
from tui.screens.main import MainScreen
from tui.widgets.sessions_table import SessionsTable

SIZE = (120, 36)
H100_NVML = "NVIDIA H100 80GB HBM3"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def build_app(store: SessionStore):
    # a scripted backend: no model loads, the estimate screen needs none
    return make_app(store=store, backend=ScriptedBackend(clock=ManualClock(), decode_ms=lambda context: 4.0))


def figures_text(screen: EstimateScreen) -> str:
    return str(screen.query_one("#estimate-figures").render())


def status_text(screen: EstimateScreen) -> str:
    return str(screen.query_one("#estimate-error").render())


async def open_estimate(app, pilot) -> EstimateScreen:
    await pilot.press("ctrl+t")  # from the prompt editor, which has focus at start
    await pilot.pause()
    assert isinstance(app.screen, EstimateScreen)
    return app.screen


async def test_figures_match_the_estimator_and_follow_changes(tmp_path):
    app = build_app(SessionStore(tmp_path / "data"))
    async with app.run_test(size=SIZE) as pilot:
        # GIVEN the screen opened with its key: Mistral-7B on an H100 by default
        screen = await open_estimate(app, pilot)
        screen.query_one("#estimate-model", Select).value = "mistral-7b-v0.3"
        screen.query_one("#estimate-gpu", Select).value = "H100"
        await pilot.pause()
        # THEN it shows what the estimator computes for the same inputs (issue 5's hand-computed figures)
        expected = estimate_from_names("mistral-7b-v0.3", gpu="H100", dtype="auto", quant="none", batch=1,
                                       input_tokens=512, output_tokens=256)
        assert screen.last_estimate == expected
        assert expected.kv_cache_bytes_per_token == 131_072
        assert expected.decode_ms_per_token_floor == pytest.approx(4.27, abs=0.01)
        text = figures_text(screen)
        assert "131,072 bytes/token" in text and "≥ 4.27 ms/token" in text and "→ fits" in text

        # WHEN the GPU becomes an 8 GB RTX 4060: bf16 Mistral-7B does not fit
        screen.query_one("#estimate-gpu", Select).value = "RTX 4060"
        await pilot.pause()
        assert screen.last_estimate.fits is False
        assert "DOES NOT FIT" in figures_text(screen) and "does NOT fit" in status_text(screen)
        assert "IF IT FIT" in figures_text(screen)  # its time floors are hypothetical, and say so
        # WHEN it is quantised to 4 bits: it fits
        screen.query_one("#estimate-quant", Select).value = "4bit"
        await pilot.pause()
        assert screen.last_estimate.fits is True and screen.last_estimate.quant == "4bit"
        assert "→ fits" in figures_text(screen) and "IF IT FIT" not in figures_text(screen)

        # WHEN the batch is typed with the keyboard
        batch = screen.query_one("#estimate-batch", Input)
        batch.focus()
        batch.value = ""
        await pilot.press("4")
        await pilot.pause()
        assert screen.last_estimate.batch == 4 and "batch 4 ·" in figures_text(screen)


async def test_bad_input_is_one_line_and_the_app_keeps_running(tmp_path):
    app = build_app(SessionStore(tmp_path / "data"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_estimate(app, pilot)
        batch = screen.query_one("#estimate-batch", Input)
        batch.focus()
        batch.value = ""
        # WHEN batch 0 is typed
        await pilot.press("0")
        await pilot.pause()
        # THEN one line says so, no estimate is claimed, and the app still answers keys
        assert screen.last_estimate is None
        assert "batch must be at least 1" in status_text(screen) and "\n" not in status_text(screen)
        # a non-number (the integer Input refuses letters; a lone sign gets through)
        batch.value = "-"
        await pilot.pause()
        assert "batch must be a whole number" in status_text(screen)
        batch.value = "2"
        await pilot.pause()
        assert screen.error is None and screen.last_estimate.batch == 2
        # escape closes it and the main screen is back
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and app.is_running


async def test_palette_command_opens_it(tmp_path):
    app = build_app(SessionStore(tmp_path / "data"))
    async with app.run_test(size=SIZE) as pilot:
        commands = [command.title for command in app.get_system_commands(app.screen)]
        assert "Estimate" in commands
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"estimate")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EstimateScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


def store_with_sessions(data_dir) -> SessionStore:
    """One session on an H100 with Mistral-7B (decode median 8.6 ms) and one on the CPU (unknown bandwidth)."""
    store = SessionStore(data_dir)
    sessions = []
    for number, (gpu_name, model) in enumerate(((H100_NVML, "mistral-7b-v0.3"), ("", "scripted")), 1):
        meta = SessionMeta(prompt=f"prompt {number}", input_tokens=10, model=model, dtype="bfloat16",
                           device="cuda" if gpu_name else "cpu", backend="scripted", gpu_name=gpu_name)
        tokens = [TokenRecord(k=k, context_size=10 + k - 1, latency_ms=50.0 if k == 1 else 8.6,
                              phase="prefill" if k == 1 else "decode", token_id=97, token_text="a",
                              wall_time=1_700_000_000.0 + k) for k in range(1, 10)]
        started = f"2026-01-0{number}T12:00:00.000000+00:00"
        sessions.append((meta, {"id": f"0000000{number}-seed-session", "started": started, "ended": started}, tokens))
    store.import_sessions(sessions)
    return store


async def test_latency_panel_shows_the_bandwidth_fraction(tmp_path):
    store = store_with_sessions(tmp_path / "data")
    app = build_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.main.query_one(SessionsTable)
        line = app.main.query_one("#bandwidth")
        # WHEN the H100 session is highlighted
        table.highlight("00000001-seed-session")
        await pilot.pause()
        await pilot.pause()
        # THEN its fraction, measured median and floor are shown, as model/efficiency computes them
        expected = session_efficiency(store.get_session("00000001-seed-session"))
        assert expected is not None and expected.fraction == pytest.approx(0.5, rel=0.03)
        assert line.display
        shown = str(line.render())
        assert f"{expected.fraction:.0%} of H100" in shown and f"floor ≥ {expected.floor_ms:.2f} ms" in shown
        # WHEN the CPU session is highlighted: unknown, so the line goes away
        table.highlight("00000002-seed-session")
        await pilot.pause()
        await pilot.pause()
        assert not line.display


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_every_label_and_field_is_on_screen(tmp_path, size):
    """At 80×24 the focused model field once scrolled its label out of sight (issue 21)."""
    from textual.widgets import Label

    from screen_text import region_lines

    app = build_app(SessionStore(tmp_path / "data"))
    async with app.run_test(size=size) as pilot:
        screen = await open_estimate(app, pilot)
        column = screen.query_one("#estimate-inputs")
        shown = region_lines(app, column)
        for label in screen.query(Label):
            assert any(str(label.render()) in line for line in shown), (label.render(), shown)
        for field in column.children:  # every field's row lies inside the column, not scrolled away
            assert column.region.contains_region(field.region), field.id
        assert column.scroll_y == 0
