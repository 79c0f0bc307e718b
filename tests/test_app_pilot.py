"""Pilot tests of the app: real runs on the embedded model, export, fit, errors, quitting mid-run."""

from __future__ import annotations

import csv

import pytest
from textual.widgets import Input, TextArea

from profiler.backends import BackendOptions, ScriptedBackend
from profiler.clock import ManualClock
from profiler.store import SessionStore
from tui.app import make_app
from tui.screens.dialogs import ConfirmScreen, ExportPathScreen, QuitRunScreen
from tui.screens.help import HelpScreen
from tui.widgets.model_bar import ModelBar
from tui.widgets.sessions_table import SessionsTable

SIZE = (120, 36)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    # never the developer's store, never files in the repo (conftest's embedded_backend is shared)
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def scripted(**kwargs) -> ScriptedBackend:
    return ScriptedBackend(clock=ManualClock(), decode_ms=lambda context: 4.0 + context * 0.01, **kwargs)


async def set_settings(app, pilot, *, prompt: str, max_new_tokens: int, warmup: int = 0, repeat: int = 1) -> None:
    screen = app.main
    screen.query_one("#prompt", TextArea).text = ""
    screen.query_one("#prompt", TextArea).focus()
    await pilot.press(*prompt)
    screen.query_one("#max-new-tokens", Input).value = str(max_new_tokens)
    screen.query_one("#warmup", Input).value = str(warmup)
    screen.query_one("#repeat", Input).value = str(repeat)


async def run_and_wait(app, pilot) -> None:
    await pilot.press("ctrl+r")
    for _ in range(600):
        await pilot.pause(0.05)
        if not app.main.running:
            break
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_run_on_embedded_model_sparkline_table_and_store_agree(tmp_path, embedded_backend):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=embedded_backend)
    async with app.run_test(size=SIZE) as pilot:
        # GIVEN the embedded model and a typed prompt
        await set_settings(app, pilot, prompt="Why is decoding memory-bound?", max_new_tokens=24)
        await pilot.pause()
        assert "tokens" in str(app.main.query_one("#prompt-tokens").render())
        # WHEN it runs
        await run_and_wait(app, pilot)
        # THEN the sparkline's data, the stored tokens and the new table row agree
        sessions = store.list_sessions()
        assert len(sessions) == 1 and sessions[0]["status"] == "finished"
        session_id = sessions[0]["id"]
        tokens = store.session_tokens(session_id)
        assert len(tokens) == 24
        decode = [t["latency_ms"] for t in tokens if t["phase"] == "decode"]
        assert app.main.query_one("#decode-sparkline").data == decode
        table = app.main.query_one(SessionsTable)
        assert table.row_count == 1 and table.highlighted_id == session_id
        row = table.get_row(session_id)
        assert row[1].plain == session_id[:8] and "finished" in row[2].plain
        assert row[10].plain == "24"
        assert "TTFT" in str(app.main.query_one("#figures").render())
        assert sessions[0]["model_label"] == "random weights"


async def test_export_writes_valid_csv_and_never_overwrites_silently(tmp_path):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        await set_settings(app, pilot, prompt="hello", max_new_tokens=16, repeat=2)
        await run_and_wait(app, pilot)
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert isinstance(app.screen, ExportPathScreen)
        target = tmp_path / "out.csv"
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        with target.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 32
        assert {r["Prompt_ID"] for r in rows} == {s["id"] for s in store.list_sessions()}
        assert [int(r["Token_Index_k"]) for r in rows[:16]] == list(range(1, 17))
        # an existing file: the app asks, and "no" leaves it alone
        before = target.read_bytes()
        await pilot.press("ctrl+e")
        await pilot.pause()
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert target.read_bytes() == before


async def test_export_to_unwritable_path_notifies_and_keeps_running(tmp_path):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        await set_settings(app, pilot, prompt="hello", max_new_tokens=4)
        await run_and_wait(app, pilot)
        await pilot.press("ctrl+e")
        await pilot.pause()
        app.screen.query_one(Input).value = str(tmp_path / "missing-dir" / "x.csv")
        await pilot.press("enter")
        await pilot.pause()
        assert any("does not exist" in n.message for n in app._notifications)
        assert app.is_running


async def test_prediction_coefficients_equal_model_fit(tmp_path):
    from model.fitted import fit_predictor

    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        for prompt in ("short", "a somewhat longer prompt", "the longest prompt of the three, by far"):
            await set_settings(app, pilot, prompt=prompt, max_new_tokens=40)
            await run_and_wait(app, pilot)
        await pilot.press("ctrl+f")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        report = app.main.last_fit
        ids = [s["id"] for s in store.list_sessions()]
        assert sorted(report.session_ids) == sorted(ids)
        frame = store.tokens_frame(ids)
        expected = fit_predictor(frame[frame["phase"] == "decode"].reset_index(drop=True), "ridge")
        ridge = report.fits[0]
        assert ridge.name == "ridge"
        assert ridge.coefficients == pytest.approx(expected.coefficients)
        assert ridge.intercept == pytest.approx(expected.intercept)
        assert ridge.mae is not None and ridge.rmse is not None
        figures = str(app.main.query_one("#prediction-figures").render())
        assert "Context_Size" in figures and "intercept" in figures


@pytest.mark.slow
@pytest.mark.slow  # starts an engine process
async def test_bad_model_path_notifies_and_app_keeps_running(tmp_path):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend_options=BackendOptions(model=str(tmp_path / "no-such-model")))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(300):  # torch imports in the background: the first frame did not wait for it
            await pilot.pause(0.05)
            if app._notifications:
                break
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.main.controller.info is None
        assert any(n.severity == "error" for n in app._notifications)
        assert "no model" in str(app.main.query_one(ModelBar).render())
        await pilot.press("ctrl+r")  # refused with a warning, not a crash
        await pilot.pause()
        assert app.is_running


async def test_quit_mid_run_leaves_interrupted_session(tmp_path):
    store = SessionStore(tmp_path / "data")
    # real clock, 10 ms a token: slow enough to quit in the middle
    app = make_app(store=store, backend=ScriptedBackend(prefill_ms=5, decode_ms=10))
    async with app.run_test(size=SIZE) as pilot:
        await set_settings(app, pilot, prompt="hello", max_new_tokens=3000)
        await pilot.press("ctrl+r")
        for _ in range(100):
            await pilot.pause(0.05)
            if app.main.live and len(app.main.live.records) > 5:
                break
        app.main.query_one(SessionsTable).focus()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitRunScreen)  # a run is active: stop it, or leave it running?
        await pilot.press("s")
        for _ in range(100):
            await pilot.pause(0.05)
            if not app.is_running:
                break
    sessions = store.list_sessions()
    assert [s["status"] for s in sessions] == ["interrupted"]
    assert 5 < sessions[0]["tokens"] < 3000
    assert len(store.session_tokens(sessions[0]["id"])) == sessions[0]["tokens"]


async def test_escape_stops_run_and_delete_asks(tmp_path):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=ScriptedBackend(prefill_ms=5, decode_ms=10))
    async with app.run_test(size=SIZE) as pilot:
        await set_settings(app, pilot, prompt="hello", max_new_tokens=3000)
        await pilot.press("ctrl+r")
        await pilot.pause(0.3)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [s["status"] for s in store.list_sessions()] == ["interrupted"]
        table = app.main.query_one(SessionsTable)
        table.focus()
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert store.list_sessions() == [] and table.row_count == 0


async def test_help_screen_lists_every_key(tmp_path):
    app = make_app(store=SessionStore(tmp_path / "data"), backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        app.main.query_one(SessionsTable).focus()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        from tui.screens.help import HELP

        for key in ("ctrl+r", "escape", "ctrl+e", "ctrl+f", "tab", "delete", "ctrl+q", "F1"):
            assert key in HELP


@pytest.mark.slow
@pytest.mark.slow  # starts an engine process, which loads the embedded model
async def test_first_frame_does_not_wait_for_the_model(tmp_path):
    """Ordering, not a stopwatch (benchmarks/startup.py times it): the frame is drawn while the engine
    process is still loading the model, and the model bar changes once it has."""
    app = make_app(store=SessionStore(tmp_path / "data"), backend_options=BackendOptions())
    async with app.run_test(size=SIZE) as pilot:
        # run_test yields once the screen is composed and drawn: the first frame
        assert app.main.controller.info is None
        assert "loading model" in str(app.main.query_one(ModelBar).render())
        for _ in range(1200):
            await pilot.pause(0.05)
            if app.main.controller.info is not None:
                break
        assert "random weights" in str(app.main.query_one(ModelBar).render())


async def test_ctrl_c_mid_run_saves_interrupted_and_exits(tmp_path):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=ScriptedBackend(prefill_ms=5, decode_ms=10))
    async with app.run_test(size=SIZE) as pilot:
        await set_settings(app, pilot, prompt="hello", max_new_tokens=3000)
        await pilot.press("ctrl+r")
        await pilot.pause(0.3)
        await pilot.press("ctrl+c")  # no question: ctrl+c means stop now, but the session is kept
        for _ in range(100):
            await pilot.pause(0.05)
            if not app.is_running:
                break
    assert [s["status"] for s in store.list_sessions()] == ["interrupted"]


async def test_command_palette_offers_run_stop_export_fit_delete_theme(tmp_path):
    app = make_app(store=SessionStore(tmp_path / "data"), backend=scripted())
    async with app.run_test(size=SIZE):
        titles = " | ".join(command.title for command in app.get_system_commands(app.screen)).lower()
        for word in ("run", "stop", "export", "fit", "delete", "theme"):
            assert word in titles
