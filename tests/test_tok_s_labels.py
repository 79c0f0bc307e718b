"""Every tok/s says what it is (the decode rate: 1000 / mean decode ms, TTFT excluded): the sessions
table's legend in the CLI (main(), at 120 and 80 columns) and the app (Pilot at 120×36), `show`, and
the live panel. Seeded sessions in a real store."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from pilot_waits import select_first_session
from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.store import SessionStore
from seeded_sessions import Spec, seed_sessions
from tui.app import make_app
from tui.cli import main
from tui.session_view import TOKENS_PER_S_DEFINITION, TOKENS_PER_S_MEANING
from tui.widgets.latency_panel import LatencyPanel

SPECS = [Spec("aaaa0001-one", "a prompt", seed=1, day=1), Spec("bbbb0002-two", "another prompt", seed=2, day=2)]


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("width", [120, 80])
def test_cli_sessions_legend_says_what_tok_s_is(private_data_dir, capsys, monkeypatch, width):
    seed_sessions(SessionStore(), SPECS)
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["sessions"]) == 0
    out = capsys.readouterr().out
    assert "tok/s" in out.splitlines()[1] + out.splitlines()[2]  # the column is there ...
    assert TOKENS_PER_S_MEANING in _flat(out)  # ... and the legend says what it is


def test_show_labels_the_decode_rate(private_data_dir, capsys):
    seed_sessions(SessionStore(), SPECS)
    assert main(["show", "aaaa0001"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "tok/s" in line)
    assert "decode tok/s" in line and TOKENS_PER_S_DEFINITION in line


async def test_app_table_legend_and_live_panel_say_decode(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    store = seed_sessions(SessionStore(tmp_path / "data"), SPECS)
    app = make_app(store=store, backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(120, 36)) as pilot:
        table = await select_first_session(app, pilot)
        assert "tokens_per_s" in table.shown_keys
        assert TOKENS_PER_S_MEANING in str(table.border_subtitle)
        figures = str(app.main.query_one(LatencyPanel).query_one("#figures", Static).render())
        assert "decode tok/s " in figures, figures
