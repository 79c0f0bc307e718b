"""The sessions table in a real terminal (tmux): `tokenlat-tui sessions` sizes itself from the
terminal it runs in (no $COLUMNS), and the app shows every session's figures at 120x36 and, after
the terminal shrinks to 80x24, once tab reaches the table."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from conftest import REPO_ROOT, run_cli, table_rows
from tmux_terminal import TMUX, Terminal

pytestmark = [pytest.mark.slow, pytest.mark.skipif(TMUX is None, reason="tmux is not installed")]

FIGURES = [("ttft_ms", "TTFT ms", ".2f"), ("decode_p50_ms", "p50 ms", ".2f"), ("decode_p95_ms", "p95 ms", ".2f"),
           ("decode_p99_ms", "p99 ms", ".2f"), ("tokens_per_s", "tok/s", ".1f")]


def table_line(screen: str, session_id: str) -> str:
    """The session's row in the table (the live panel's title names the id too, without a status mark)."""
    return next(line for line in screen.splitlines() if session_id[:8] in line and "✓ finished" in line)


@pytest.fixture()
def sample_store(tmp_path):
    """The README's sample: 12 real sessions of the embedded model, imported."""
    data_dir = tmp_path / "data"
    imported = run_cli("import", str(REPO_ROOT / "examples" / "latency-sample.csv"), data_dir=data_dir)
    assert imported.returncode == 0, imported.stderr
    listed = json.loads(run_cli("sessions", "--json", data_dir=data_dir).stdout)
    return data_dir, listed


@pytest.mark.parametrize("width", [80, 120])
def test_cli_sessions_reads_the_terminal_width(sample_store, tmp_path, width):
    data_dir, listed = sample_store
    terminal = Terminal(f"sessions-{width}", data_dir, tmp_path)
    python_path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = (f"env -u COLUMNS -u LINES TOKENLAT_DATA_DIR={data_dir} PYTHONPATH={python_path} TERM=xterm-256color "
               f"{sys.executable} -m tui sessions; echo EXITED $?; sleep 60")
    try:
        terminal.tmux("new-session", "-d", "-s", "app", "-x", str(width), "-y", "40", command)
        terminal.tmux("resize-window", "-t", "app", "-x", str(width), "-y", "40")
        screen = terminal.wait_for(lambda s: "EXITED" in s, timeout=60)
    finally:
        terminal.kill_server()
    assert "EXITED 0" in screen
    rows = table_rows(screen)
    assert len(rows) == len(listed)
    for session in listed:
        row = rows[session["id"][:8]]
        for key, title, fmt in FIGURES:
            assert row[title] == format(session[key], fmt), (title, row)
    # the table was fitted to the pane, not to a default width: at 120 model and prompt have room
    titles = set(next(iter(rows.values())))
    assert ("prompt" in titles) == (width == 120)
    assert max(len(line.rstrip()) for line in screen.splitlines()) <= width


def test_app_table_shows_the_figures_at_120x36_and_after_shrinking_to_80x24(sample_store, tmp_path):
    data_dir, listed = sample_store
    newest = listed[:3]  # the three rows on screen at 80x24 whatever else is below them
    terminal = Terminal("sessions-app", data_dir, tmp_path)
    try:
        terminal.start_app()
        terminal.wait_loaded()
        screen = terminal.wait_for(lambda s: all(s_["id"][:8] in s for s_ in newest))
        for title in ("status", "model", "prompt", "tokens", "TTFT ms", "p50 ms", "p95 ms", "p99 ms", "tok/s"):
            assert title in screen
        for session in newest:
            line = table_line(screen, session["id"])
            for key, _title, fmt in FIGURES:
                assert f" {format(session[key], fmt)} " in line, (key, line)
        # WHEN the terminal shrinks to 80x24 and tab reaches the table
        terminal.tmux("resize-window", "-t", "app", "-x", "80", "-y", "24")
        time.sleep(1.0)
        for _ in range(20):
            if "p99 ms" in terminal.screen() and newest[0]["id"][:8] in terminal.screen():
                break
            terminal.keys("Tab")
            time.sleep(0.4)
        screen = terminal.wait_for(lambda s: "p99 ms" in s and newest[0]["id"][:8] in s)
        # THEN the figures are still whole, and no line is wider than the terminal
        line = table_line(screen, newest[0]["id"])
        for key, _title, fmt in FIGURES:
            assert f" {format(newest[0][key], fmt)} " in line, (key, line)
        assert "prompt" not in next(line for line in screen.splitlines() if "p99 ms" in line)
        assert max(len(line.rstrip()) for line in screen.splitlines()) <= 80
    finally:
        terminal.kill_server()
