"""Pilot tests of the app: real runs on the embedded model, export, fit, errors, quitting mid-run."""

from __future__ import annotations

import csv

import pytest
from textual.widgets import Input, TextArea

from pilot_waits import scripted
from profiler.backends import BackendOptions, ScriptedBackend
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
        # THEN the chart's data, the stored tokens and the new table row agree
        sessions = store.list_sessions()
        assert len(sessions) == 1 and sessions[0]["status"] == "finished"
        session_id = sessions[0]["id"]
        tokens = store.session_tokens(session_id)
        assert len(tokens) == 24
        decode = [t["latency_ms"] for t in tokens if t["phase"] == "decode"]
        assert app.main.query_one("#decode-chart").values == decode
        table = app.main.query_one(SessionsTable)
        assert table.row_count == 1 and table.highlighted_id == session_id
        assert table.get_cell(session_id, "short_id").plain == session_id[:8]
        assert "finished" in table.get_cell(session_id, "status_display").plain
        assert table.get_cell(session_id, "tokens").plain == "24"
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


def _fit_store(data_dir) -> SessionStore:
    """Three prompts run twice each, with a spread: prompt-grouped folds differ from session-grouped
    ones here, and a Ridge on decode tokens differs from one on every token."""
    from seeded_sessions import Spec, seed_sessions

    specs = [Spec(f"{prompt:02d}{repeat}00000-fit", f"prompt {prompt}", input_tokens=8 + 24 * prompt,
                  seed=10 * prompt + repeat, day=1 + 2 * prompt + repeat)
             for prompt in range(3) for repeat in range(2)]
    return seed_sessions(SessionStore(data_dir), specs)


@pytest.mark.slow  # runs `tokenlat-tui fit` in a subprocess
async def test_prediction_errors_and_terms_equal_the_fit_command(tmp_path):
    import json

    from conftest import run_cli
    from pilot_waits import wait_workers
    from tui.widgets.prediction_panel import SIDE_BY_SIDE

    # GIVEN six stored sessions: three prompts, each run twice
    store = _fit_store(tmp_path / "data")
    app = make_app(store=store, backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        # WHEN every predictor is fitted side by side and ctrl+f refits
        app.main.query_one("#predictor").value = SIDE_BY_SIDE
        await pilot.pause()
        await wait_workers(pilot)
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert any(n.message.startswith("refitting on 6 sessions") for n in app._notifications)
        await wait_workers(pilot)
        await pilot.pause()
        report = app.main.last_fit
        assert any(n.title == "fitted" and "held-out" in n.message for n in app._notifications)
        figures = str(app.main.query_one("#prediction-text").render())
    # THEN `tokenlat-tui fit --json` on the same sessions reports the same figures to the last digit
    cli = run_cli("fit", "--json", *report.session_ids, data_dir=tmp_path / "data")
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    assert sorted(report.session_ids) == sorted(expected["sessions"])
    assert [fit.name for fit in report.fits] == ["ridge", "phase", "buckets"]
    for fit in report.fits:
        shown = json.loads(json.dumps(fit.figures))  # the JSON round trip the CLI's figures took
        assert shown == expected["predictors"][fit.name], fit.name
        assert shown["folds"] == 3  # one fold per prompt: repeats of a prompt are held out together
    # and the panel shows them in natural units, labelled: ms for constants and per-token slopes
    ridge = expected["predictors"]["ridge"]
    intercept, per_context, _ = ridge["terms"]
    assert intercept["name"] == "intercept" and per_context["name"] == "per context token"
    assert f"{per_context['value']:.4g} ms" in figures
    assert f"held-out MAE  {ridge['mae']:.4g} ms" in figures
    # un-standardised: the natural terms predict what the standardised model predicts
    fitted = report.fits[0]
    contexts = report.curve_contexts[:3]
    natural = [intercept["value"] + per_context["value"] * c + ridge["terms"][2]["value"] * report.input_tokens
               for c in contexts]
    assert natural == pytest.approx(fitted.curve[:3], rel=1e-9)


async def test_side_by_side_figures_scroll_into_view_at_80x24(tmp_path):
    from textual.containers import VerticalScroll

    from pilot_waits import wait_workers
    from tui.widgets.prediction_panel import SIDE_BY_SIDE

    store = _fit_store(tmp_path / "data")
    app = make_app(store=store, backend=scripted())
    async with app.run_test(size=(80, 24)) as pilot:
        app.main.query_one("#predictor").value = SIDE_BY_SIDE
        await pilot.pause()
        await wait_workers(pilot)
        await pilot.pause()
        # GIVEN every predictor's figures, taller than the panel
        text = str(app.main.query_one("#prediction-text").render())
        # (each predictor's line starts with its plot marker: "x phase")
        assert all(f" {name}\n" in text for name in ("phase", "buckets")) and text.startswith("6 sessions")
        figures = app.main.query_one("#prediction-figures", VerticalScroll)
        # WHEN tab reaches the figures
        for _ in range(30):
            if app.focused is figures:
                break
            await pilot.press("tab")
            await pilot.pause()
        assert app.focused is figures
        await pilot.pause(0.2)
        # THEN the whole panel (figures and plot) is on the screen, and the figures scroll to the last predictor
        panel = app.main.query_one("#prediction")
        screen_height = app.screen.size.height
        assert 0 <= panel.region.y and panel.region.bottom <= screen_height - 1
        assert app.main.query_one("#prediction-plot").region.height >= 8
        assert figures.max_scroll_y > 0
        await pilot.press("end")
        await pilot.pause(0.2)
        assert figures.scroll_y == figures.max_scroll_y


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
        # every key the main screen binds is explained (read from the bindings, so a new one can't be missed)
        shown = {"f1": "F1", "question_mark": "?"}  # how help writes those keys
        for binding in app.main.BINDINGS:
            assert all(f"`{shown.get(key, key)}`" in HELP for key in binding.key.split(",")), binding.key


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
