"""The live panel's labels, with Pilot at 120×36 and 80×24 on the app's own runs (a scripted backend,
real store): a finished session's final token is "last", not "now"."""

from __future__ import annotations

import pytest
from textual.widgets import Static, TextArea

from pilot_waits import scripted, select_first_session
from profiler.store import SessionStore
from tui.app import make_app
from tui.widgets.latency_panel import LatencyPanel
from tui.widgets.sessions_table import SessionsTable


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


async def run_once(app, pilot, prompt: str = "hello", tokens: int = 8) -> None:
    screen = app.main
    screen.query_one("#prompt", TextArea).text = prompt
    screen.query_one("#max-new-tokens").value = str(tokens)
    screen.query_one("#warmup").value = "0"
    screen.query_one("#repeat").value = "1"
    await pilot.press("ctrl+r")
    for _ in range(600):
        await pilot.pause(0.05)
        if not app.main.running:
            break
    await app.workers.wait_for_complete()
    await pilot.pause()


def figures(app) -> str:
    return str(app.main.query_one(LatencyPanel).query_one("#figures", Static).render())


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_a_finished_session_shows_its_last_token_not_now(tmp_path, size):
    app = make_app(store=SessionStore(tmp_path / "data"), backend=scripted())
    async with app.run_test(size=size) as pilot:
        await run_once(app, pilot)
        await pilot.pause()
        shown = figures(app)  # as the run left it, no key pressed
        assert "last " in shown and "now " not in shown, shown
        table = app.main.query_one(SessionsTable)
        table.focus()
        await pilot.press("home")
        await pilot.pause()
        shown = figures(app)
        assert "last " in shown and "now " not in shown, shown


def test_a_lone_combining_mark_is_given_a_base_by_the_one_printable_function():
    import unicodedata

    from profiler.printable import DOTTED_CIRCLE, printable, printable_line

    garbled = "\u0301\u0308start\n\u0300next\tx\t\u20dd end e\u0301"
    shown = printable(garbled)
    # every mark that began the text or a line now sits on a dotted circle; a mark with a base keeps it
    assert shown == f"{DOTTED_CIRCLE}\u0301\u0308start\n{DOTTED_CIRCLE}\u0300next\tx\t{DOTTED_CIRCLE}\u20dd end e\u0301"
    assert printable_line("\u0301a\nb") == f"{DOTTED_CIRCLE}\u0301a\u2424b"
    assert printable("plain\n") == "plain\n" and printable("") == ""
    for line in shown.replace("\t", "\n").splitlines():
        assert unicodedata.category(line[0]) not in ("Mn", "Me")


async def test_garbled_text_with_combining_marks_keeps_the_panel_inside_80_columns(tmp_path):
    import unicodedata

    from rich.cells import cell_len

    from profiler.records import SessionMeta, TokenRecord
    from test_app_compare import screen_text

    store = SessionStore(tmp_path / "data")
    garbled = ["\n", "\u0301\u0308\u0303", "x", "\n", "\u0489\u0489", "\u20dd", "\n", "\u0300abc"] * 10
    meta = SessionMeta(prompt="garbled", input_tokens=4, model="scripted", model_label="scripted delays",
                       dtype="float32", device="cpu", backend="scripted")
    tokens = [TokenRecord(k=k, context_size=4 + k - 1, latency_ms=20.0 if k == 1 else 5.0,
                          phase="prefill" if k == 1 else "decode", token_id=97, token_text=text,
                          wall_time=1_700_000_000.0 + k) for k, text in enumerate(garbled, 1)]
    started = "2026-01-01T12:00:00.000000+00:00"
    store.import_sessions([(meta, {"id": "cccc0001-garbled", "started": started, "ended": started,
                                   "timing": "device"}, tokens)])
    app = make_app(store=store, backend=scripted())
    async with app.run_test(size=(80, 24)) as pilot:
        await select_first_session(app, pilot)
        generated = str(app.main.query_one(LatencyPanel).query_one("#generated", Static).render())
        assert "\u0301" in generated  # the text is there ...
        for line in generated.splitlines():  # ... and no line of it starts on a lone mark
            assert not line or unicodedata.category(line[0]) not in ("Mn", "Me"), repr(line)
        # a terminal draws a lone mark a cell wide: counted so, every screen line still fits 80 columns
        for line in screen_text(app).splitlines():
            lone = sum(1 for i, ch in enumerate(line) if unicodedata.category(ch) in ("Mn", "Me")
                       and (i == 0 or line[i - 1] in " │┃"))
            assert cell_len(line.rstrip()) + lone <= 80, repr(line)
