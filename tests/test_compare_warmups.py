"""Warm-ups are left out of `compare` (CLI and app) and the app's fit unless asked, and it is said."""

from __future__ import annotations

import json

import pytest

from conftest import error_lines, run_cli
from model.session_fit import sessions_to_fit
from model.warmups import left_out_line, without_warmups
from pilot_waits import wait_workers
from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.store import SessionStore
from seeded_sessions import Spec, seed_sessions
from tui.app import make_app
from tui.screens.compare import CompareScreen
from tui.widgets.sessions_table import SessionsTable

WARM = Spec("cccc0001-warm", "the same prompt", seed=3, day=1, tokens=60, scale=3.0, warmup=True)
BASE = Spec("aaaa0001-base", "the same prompt", seed=1, day=2, tokens=60)
SLOWER = Spec("bbbb0001-slow", "the same prompt", seed=1, day=3, tokens=60, scale=1.2)


@pytest.fixture()
def store(tmp_path):
    return seed_sessions(SessionStore(tmp_path / "data"), [WARM, BASE, SLOWER])


def test_the_line_names_what_was_left_out(store):
    kept, warmups = without_warmups(store.list_sessions())
    assert [s["id"] for s in warmups] == [WARM.session_id]
    assert {s["id"] for s in kept} == {BASE.session_id, SLOWER.session_id}
    assert left_out_line(warmups) == "left out 1 warm-up session (cccc0001); --include-warmup counts it"
    assert left_out_line([]) == ""


@pytest.mark.slow  # CLI subprocesses
def test_cli_compare_leaves_the_warmup_out_and_says_so(store, tmp_path):
    data_dir = tmp_path / "data"
    side = f"{BASE.session_id[:8]},{WARM.session_id[:8]}"
    result = run_cli("compare", side, SLOWER.session_id[:8], "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["baseline"]["session_ids"] == [BASE.session_id]
    assert "left out 1 warm-up session (cccc0001)" in result.stderr
    included = run_cli("compare", side, SLOWER.session_id[:8], "--json", "--include-warmup", data_dir=data_dir)
    assert included.returncode == 0, included.stderr
    assert json.loads(included.stdout)["baseline"]["session_ids"] == [BASE.session_id, WARM.session_id]
    assert "warm-up" not in included.stderr
    only = run_cli("compare", WARM.session_id[:8], SLOWER.session_id[:8], data_dir=data_dir)
    assert only.returncode == 2
    assert error_lines(only.stderr) == [f"tokenlat-tui: error: '{WARM.session_id[:8]}' names only warm-up sessions; "
                                        "--include-warmup compares them"]


def test_the_fit_scope_counts_the_warmup_it_left_out(store):
    sessions = store.list_sessions()
    ids, scope = sessions_to_fit(sessions, [WARM.session_id, BASE.session_id], sessions[0])
    assert ids == [BASE.session_id]
    assert scope == "1 marked session (1 warm-up left out)"
    ids, scope = sessions_to_fit(sessions, [BASE.session_id, SLOWER.session_id], sessions[0])
    assert scope == "2 marked sessions"


async def test_app_compare_of_marked_sessions_with_a_warmup_says_it_left_it_out(store):
    app = make_app(store=store, backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_workers(pilot)
        table = app.main.query_one(SessionsTable)
        table.focus()
        for session_id in (WARM.session_id, BASE.session_id, SLOWER.session_id):
            table.highlight(session_id)
            await pilot.press("space")
        await wait_workers(pilot)
        # the fit panel's scope says the warm-up was marked but not fitted
        assert "1 warm-up left out" in app.main.last_fit.scope
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        assert WARM.session_id not in [sid for group in app.screen.groups for sid in group]
        assert any("left out 1 warm-up session (cccc0001)" in str(n.message) for n in app._notifications)
