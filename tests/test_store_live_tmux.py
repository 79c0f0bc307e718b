"""In a real terminal (tmux): the open app follows the store, and its keys work from startup.

At 120x36: a `collect` started in another process after the app opened appears in the sessions
table with no key pressed, and its token count grows on screen; a session deleted by another
process disappears. At 80x24: from startup `?` opens help and `w` opens sweeps, and the prompt
stays empty (focus starts on the sessions table, where letters are commands).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from conftest import cli_env, run_cli
from profiler.store import SessionStore
from tmux_terminal import TMUX, Terminal

pytestmark = [pytest.mark.slow, pytest.mark.skipif(TMUX is None, reason="tmux not installed (.ci/run installs it)")]

TOKENS = 400
"""Long enough to be seen running for several polls on a busy 2-core box."""


def table_text(screen: str) -> str:
    """The sessions panel's lines only (the live panel's title may name a session too)."""
    lines = screen.splitlines()
    start = next((i for i, line in enumerate(lines) if "─ sessions " in line or "━ sessions " in line), None)
    if start is None:
        return ""
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith(("╰", "┗"))), len(lines))
    return "\n".join(lines[start:end + 1])


def shown_token_count(screen: str, session_id: str) -> int | None:
    """The tokens cell of the session's row: the number right-aligned under the `tokens` header."""
    lines = table_text(screen).splitlines()
    header = next((line for line in lines if re.search(r"\btokens\b", line) and "p50" in line), None)
    row = next((line for line in lines if session_id[:8] in line and "running" in line), None)
    if header is None or row is None:
        return None
    end = header.index("tokens") + len("tokens")
    match = re.search(r"(\d+)\s*$", row[:end])
    return int(match.group(1)) if match else None


def test_a_collect_started_elsewhere_appears_and_counts_and_a_delete_elsewhere_removes_it(tmp_path):
    data_dir = tmp_path / "data"
    terminal = Terminal("live", data_dir, tmp_path)
    collect = None
    try:
        terminal.start_app()
        terminal.wait_loaded()
        # WHEN a `collect` starts in another process after the app opened
        log = (tmp_path / "collect.log").open("w")
        collect = subprocess.Popen([sys.executable, "-m", "tui", "collect", "from another shell", "--max-new-tokens",
                                    str(TOKENS), "--ignore-eos", "--warmup", "0"],
                                   env=cli_env(data_dir), stdout=log, stderr=subprocess.STDOUT)
        store = SessionStore(data_dir, recover_orphans=False)
        deadline = time.monotonic() + 120
        while not store.list_sessions() and time.monotonic() < deadline:
            time.sleep(0.1)
        (session,) = store.list_sessions()
        session_id = session["id"]
        # THEN its row appears, running, and its token count grows on screen (no key pressed)
        first = terminal.wait_for(lambda s: (shown_token_count(s, session_id) or 0) > 0, timeout=120)
        seen = shown_token_count(first, session_id)
        later = terminal.wait_for(lambda s: (shown_token_count(s, session_id) or 0) > seen
                                  or session_id[:8] in table_text(s) and "finished" in table_text(s), timeout=120)
        assert (shown_token_count(later, session_id) or TOKENS) > seen
        assert collect.wait(timeout=300) == 0
        terminal.wait_for(lambda s: session_id[:8] in table_text(s) and "✓ finished" in table_text(s), timeout=30)
        # WHEN another process deletes it, THEN its row goes
        deleted = run_cli("delete", session_id[:8], "--yes", data_dir=data_dir)
        assert deleted.returncode == 0, deleted.stderr
        screen = terminal.wait_for(lambda s: session_id[:8] not in table_text(s), timeout=30)
        assert "tokens" in table_text(screen)  # the table is on screen, without the row
    finally:
        if collect is not None and collect.poll() is None:
            collect.kill()
            collect.wait()
        terminal.kill_server()


def test_at_80x24_question_mark_and_w_work_from_startup_and_the_prompt_stays_empty(tmp_path):
    terminal = Terminal("keys", tmp_path / "data", tmp_path)
    try:
        terminal.start_app()
        terminal.tmux("resize-window", "-t", "app", "-x", "80", "-y", "24")
        terminal.wait_loaded()
        terminal.wait_for(lambda s: "Help" in s.splitlines()[-1])  # the footer offers help at 80 columns
        terminal.keys("?")
        terminal.wait_for(lambda s: "tokenlat-tui keys" in s)
        terminal.keys("Escape")
        terminal.wait_for(lambda s: "tokenlat-tui keys" not in s)
        terminal.keys("w")
        terminal.wait_for(lambda s: "─ sweeps " in s and "New sweep" in s)
        terminal.keys("Escape")
        terminal.wait_for(lambda s: "─ sweeps " not in s)
        # p shows the prompt: nothing was typed into it
        terminal.keys("p")
        screen = terminal.wait_for(lambda s: "prompt: " in s)
        assert "prompt: 0 tokens" in screen
    finally:
        terminal.kill_server()
