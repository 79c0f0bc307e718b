"""Every key reachable from startup: focus on the sessions table, visible without colour; the footer
shows help; `p` into the prompt and `escape` out; checkbox states in words."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Footer, TextArea

from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.store import SessionStore
from tests.screen_text import region_lines
from tui.app import make_app
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.widgets.sessions_table import SessionsTable


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def _app(tmp_path):
    backend = ScriptedBackend(clock=ManualClock(), decode_ms=lambda context: 4.0 + context * 0.01)
    return make_app(store=SessionStore(tmp_path / "data"), backend=backend)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_from_startup_question_mark_and_w_are_commands_not_prompt_text(tmp_path, size):
    app = _app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.main.query_one(SessionsTable)
        assert app.focused is table
        # focus shows without colour: the focused panel's border is heavy, the others' round
        assert region_lines(app, table)[0].startswith("┏")
        body = app.main.query_one("#body").region
        others = [region_lines(app, widget) for widget in (app.main.query_one(f"#{panel}")
                                                           for panel in ("editor", "latency", "prediction"))
                  if body.y <= widget.region.y < body.bottom]  # their top border in view at this size
        assert all(lines[0].startswith("╭") for lines in others)
        assert others or size != (120, 36)  # at 120x36 every panel is on screen; at 80x24 it depends on the scroll
        # the footer offers help at this width
        assert "Help" in " ".join(region_lines(app, app.main.query_one(Footer)))
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        assert type(app.screen).__name__ == "SweepScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.main.query_one("#prompt", TextArea).text == ""


async def test_p_enters_the_prompt_and_escape_leaves_it(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        prompt = app.main.query_one("#prompt", TextArea)
        assert app.focused is prompt
        await pilot.press("w", "h", "y")  # letters are text here
        assert prompt.text == "why"
        assert isinstance(app.screen, MainScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is app.main.query_one(SessionsTable)
        assert prompt.text == "why"


async def test_the_ignore_eos_checkbox_says_its_state_in_words(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        box = app.main.query_one("#ignore-eos", Checkbox)
        for _ in range(2):  # both states, whichever is the default
            drawn = " ".join(region_lines(app, box))
            # the state in words, and the mark drawn only when ticked: neither needs colour
            assert str(box.label) == ("ignore EOS: on" if box.value else "ignore EOS: off")
            assert ("▐X▌" if box.value else "▐ ▌") in drawn and str(box.label) in drawn
            box.toggle()
            await pilot.pause()
