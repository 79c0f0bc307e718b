"""A real terminal: tmux runs `python -m tui`, types a prompt, ctrl+r, and reads the screen back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.store import SessionStore

REPO_ROOT = Path(__file__).resolve().parent.parent
TMUX = shutil.which("tmux")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(TMUX is None, reason="tmux not installed (.ci/run installs it)")]


def tmux(*args: str, socket: str) -> str:
    return subprocess.run([TMUX, "-L", socket, "-f", "/dev/null", *args], check=True, capture_output=True, text=True).stdout


def wait_for(predicate, socket: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", "smoke", socket=socket)
        if predicate(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"timed out; the screen was:\n{screen}")


def start_app(tmp_path, socket: str) -> None:
    python_path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # -u COLUMNS/LINES: pytest exports 80x24 there, and Textual would believe it over the real terminal
    command = (f"cd {tmp_path} && env -u COLUMNS -u LINES TOKENLAT_DATA_DIR={tmp_path / 'data'} "
               f"PYTHONPATH={python_path} HF_HUB_OFFLINE=1 TERM=xterm-256color {sys.executable} -m tui; "
               f"echo EXITED $?; sleep 30")
    tmux("new-session", "-d", "-s", "smoke", "-x", "120", "-y", "36", command, socket=socket)
    tmux("resize-window", "-t", "smoke", "-x", "120", "-y", "36", socket=socket)


def set_max_new_tokens(value: str, socket: str) -> None:
    """Tab from the prompt to "max new tokens" and replace 128 with `value`."""
    tmux("send-keys", "-t", "smoke", "Tab", socket=socket)
    time.sleep(0.3)
    tmux("send-keys", "-t", "smoke", "End", "BSpace", "BSpace", "BSpace", socket=socket)
    time.sleep(0.3)
    tmux("send-keys", "-t", "smoke", "-l", value, socket=socket)
    wait_for(lambda s: f" {value} " in s, socket)


def test_tmux_run_shows_figures_and_new_session(tmp_path):
    socket = f"tokenlat-smoke-{os.getpid()}"  # a private tmux server: never the user's sessions
    data_dir = tmp_path / "data"
    start_app(tmp_path, socket)
    try:
        launched = time.monotonic()
        wait_for(lambda s: "random weights" in s, socket, timeout=90)  # loaded in the background
        print(f"model loaded after {time.monotonic() - launched:.1f} s")
        tmux("send-keys", "-t", "smoke", "p", socket=socket)  # focus starts on the sessions table: p -> prompt
        time.sleep(0.4)
        tmux("send-keys", "-t", "smoke", "-l", "Hello from tmux", socket=socket)
        wait_for(lambda s: "Hello from tmux" in s, socket)
        set_max_new_tokens("16", socket)  # a short run keeps the test quick
        started = time.monotonic()
        tmux("send-keys", "-t", "smoke", "C-r", socket=socket)
        screen = wait_for(lambda s: s.count("✓ finished") >= 2, socket, timeout=90)  # warm-up + measured
        print(f"run shown after {time.monotonic() - started:.1f} s")
        assert "TTFT" in screen and "decode p50" in screen
        sessions = SessionStore(data_dir).list_sessions()
        assert [s["status"] for s in sessions] == ["finished", "finished"]
        assert sessions[0]["id"][:8] in screen
        tmux("send-keys", "-t", "smoke", "C-q", socket=socket)
        wait_for(lambda s: "EXITED 0" in s, socket, timeout=30)
    finally:
        subprocess.run([TMUX, "-L", socket, "kill-server"], capture_output=True)


def test_tmux_hangup_with_on_hangup_stop_saves_interrupted_session_and_leaves_nothing(tmp_path):
    """--on-hangup stop: the terminal vanishing (tmux killed: SIGHUP, as a dropped SSH link)
    makes the engine store the run as interrupted; the app and the engine both exit."""
    from tmux_terminal import Terminal, engines_of, wait_gone

    data_dir = tmp_path / "data"
    terminal = Terminal("hup-stop", data_dir, tmp_path)
    terminal.start_app("--on-hangup", "stop")
    try:
        app = terminal.app_process()
        terminal.wait_loaded()
        terminal.start_run("Hang up on me", 3000)
        terminal.wait_for(lambda s: "● running" in s and "tokens 2" in s.replace("tokens 1", "tokens 2"), timeout=60)
        engines = engines_of(data_dir)
    finally:
        terminal.kill_server()
    assert wait_gone(app, 10), "the app outlived its terminal"  # today's bug: it stayed, ignoring SIGTERM
    for engine in engines:
        assert wait_gone(engine, 30), "the engine outlived a `stop` hang-up"
    sessions = SessionStore(data_dir, recover_orphans=False).list_sessions()
    assert [s["status"] for s in sessions] == ["interrupted"]
    assert sessions[0]["error"] is None  # closed by the engine, not by the orphan sweep
