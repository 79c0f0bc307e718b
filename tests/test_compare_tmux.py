"""In a real terminal (tmux): mark two stored sessions with space, press c, read the verdict."""

from __future__ import annotations

import time

import pytest

from profiler.store import SessionStore
from seeded_sessions import seed_sessions
from test_app_compare import BASE, SLOWER
from tmux_terminal import TMUX, Terminal

pytestmark = [pytest.mark.slow, pytest.mark.skipif(TMUX is None, reason="tmux not installed (.ci/run installs it)")]


def test_marking_two_sessions_and_pressing_c_shows_the_verdict(tmp_path):
    # GIVEN a store with two sessions, the newer exactly 20% slower
    data_dir = tmp_path / "data"
    seed_sessions(SessionStore(data_dir), [BASE, SLOWER])
    terminal = Terminal("compare", data_dir, tmp_path)
    terminal.start_app()
    try:
        terminal.wait_loaded()
        terminal.wait_for(lambda s: "aaaa0001" in s and "bbbb0001" in s)
        # WHEN (focus starts on the table) space marks the newest row, down, space marks the other, and c
        terminal.keys("Space")
        terminal.wait_for(lambda s: s.count("✔") == 1)
        terminal.keys("Down")
        time.sleep(0.3)
        terminal.keys("Space")
        terminal.wait_for(lambda s: s.count("✔") == 2)
        terminal.keys("c")
        # THEN the compare screen shows the verdict, both sessions' figures and the interval's method
        screen = terminal.wait_for(lambda s: "slower at p50 than aaaa0001" in s, timeout=60)
        assert "bbbb0001 is 20.0% slower" in screen
        assert "bootstrap over tokens" in screen and "p99 ms" in screen and "+20.0% [" in screen
        # escape returns to the main screen with the marks kept
        terminal.keys("Escape")
        screen = terminal.wait_for(lambda s: "slower at p50" not in s and s.count("✔") == 2)
    finally:
        terminal.kill_server()
