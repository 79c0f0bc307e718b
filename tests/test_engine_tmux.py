"""The engine and the app in a real terminal (tmux): hang-ups, attaching, signals, an engine crash.

Only generous upper bounds on time ("gone within 10 s"): the 2 s goal is measured by
benchmarks/startup.py-style scripts and quoted in the README, not asserted on a shared machine.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest

from conftest import REPO_ROOT, cli_env
from profiler.store import SessionStore
from tmux_terminal import TMUX, Terminal, engines_of, shown_tokens, wait_gone

pytestmark = [pytest.mark.slow, pytest.mark.skipif(TMUX is None, reason="tmux not installed (.ci/run installs it)")]

LONG = 3000
EXIT_BOUND_S = 10


def sessions(data_dir):
    # recover_orphans=False: see what the processes themselves wrote, not what a sweep would repair
    return SessionStore(data_dir, recover_orphans=False).list_sessions()


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def token_ks(data_dir, session_id):
    return [t["k"] for t in SessionStore(data_dir, recover_orphans=False).session_tokens(session_id)]


def running_session(data_dir, at_least_tokens: int = 1):
    live = [s for s in sessions(data_dir) if s["status"] == "running" and (s["tokens"] or 0) >= at_least_tokens]
    return live[0] if live else None


def hang_up_mid_run(tmp_path, name: str):
    """App A starts a long run; its terminal is killed. Returns (data_dir, session, engine process)."""
    data_dir = tmp_path / "data"
    first = Terminal(f"{name}-a", data_dir, tmp_path)
    first.start_app()
    try:
        app = first.app_process()
        first.wait_loaded()
        first.start_run("Hang up on me", LONG)
        session = wait_until(lambda: running_session(data_dir, 20), 120, "a running session with tokens")
    except BaseException:
        first.kill_server()
        raise
    (engine,) = engines_of(data_dir)
    # the UI yields the CPU to the engine: a lower priority for the app, the normal one for the engine
    assert app.nice() > engine.nice() == psutil.Process().nice()
    first.kill_server()  # SIGHUP to the app, as a dropped SSH link
    assert wait_gone(app, EXIT_BOUND_S), "the app outlived its terminal"
    assert engine.is_running() and engine.status() != psutil.STATUS_ZOMBIE, "the engine died with the terminal"
    return data_dir, session, engine


def attach(tmp_path, data_dir, name: str) -> Terminal:
    """App B opens on the same store; the running session is the newest row, so it is followed at once."""
    second = Terminal(name, data_dir, tmp_path)
    second.start_app()
    second.wait_for(lambda s: "attached" in s and (shown_tokens(s) or 0) > 0, timeout=60)
    first_count = shown_tokens(second.screen())
    second.wait_for(lambda s: (shown_tokens(s) or 0) > first_count + 10, timeout=60)  # it grows on screen
    return second


def test_hangup_mid_run_engine_finishes_every_token_while_a_second_app_follows(tmp_path):
    data_dir, session, engine = hang_up_mid_run(tmp_path, "hup")
    second = attach(tmp_path, data_dir, "hup-b")
    try:
        final = wait_until(lambda: [s for s in sessions(data_dir) if s["id"] == session["id"]
                                    and s["status"] != "running"], 600, "the session to end")[0]
        assert final["status"] == "finished" and final["error"] is None
        assert final["tokens"] == LONG
        assert token_ks(data_dir, session["id"]) == list(range(1, LONG + 1))
        screen = second.wait_for(lambda s: "finished" in s and f"tokens {LONG}" in s, timeout=30)
        assert session["id"][:8] in screen
        assert wait_gone(engine, EXIT_BOUND_S), "the engine did not exit after its detached run"
    finally:
        second.kill_server()
        if engine.is_running():
            engine.kill()


def test_hangup_mid_run_then_a_second_app_stops_it_with_escape(tmp_path):
    data_dir, session, engine = hang_up_mid_run(tmp_path, "esc")
    second = attach(tmp_path, data_dir, "esc-b")
    try:
        second.keys("Escape")
        final = wait_until(lambda: [s for s in sessions(data_dir) if s["id"] == session["id"]
                                    and s["status"] != "running"], 60, "the session to end")[0]
        assert final["status"] == "interrupted" and final["error"] is None  # closed by the engine itself
        assert 20 <= final["tokens"] < LONG
        assert token_ks(data_dir, session["id"]) == list(range(1, final["tokens"] + 1))
        assert wait_gone(engine, EXIT_BOUND_S)
        second.wait_for(lambda s: "interrupted" in s, timeout=30)
    finally:
        second.kill_server()
        if engine.is_running():
            engine.kill()


def test_collect_in_another_shell_is_followed_and_stopped_from_the_app(tmp_path):
    data_dir = tmp_path / "data"
    collect = subprocess.Popen(
        [sys.executable, "-m", "tui", "collect", "another shell", "--max-new-tokens", str(LONG), "--ignore-eos",
         "--warmup", "0"], cwd=REPO_ROOT, env=cli_env(data_dir), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        session = wait_until(lambda: running_session(data_dir, 20), 180, "collect's running session")
        app = attach(tmp_path, data_dir, "collect-b")
        try:
            app.keys("Escape")
            code = collect.wait(60)
            assert code == 128 + signal.SIGINT  # collect's own clean-interrupt path
            (final,) = [s for s in sessions(data_dir) if s["id"] == session["id"]]
            assert final["status"] == "interrupted" and final["error"] is None
            assert token_ks(data_dir, session["id"]) == list(range(1, final["tokens"] + 1))
            app.wait_for(lambda s: "interrupted" in s, timeout=30)
        finally:
            app.kill_server()
    finally:
        if collect.poll() is None:
            collect.kill()


@pytest.mark.parametrize("state", ["idle", "loading", "running"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_the_app_exits_and_leaves_no_process_behind(tmp_path, state, signum):
    data_dir = tmp_path / "data"
    terminal = Terminal(f"sig-{state}-{signum}", data_dir, tmp_path)
    terminal.start_app()
    try:
        app = terminal.app_process()
        if state == "loading":
            wait_until(lambda: engines_of(data_dir), 30, "the engine process")
            terminal.wait_for(lambda s: "loading model" in s, timeout=30)
        else:
            terminal.wait_loaded()
        if state == "running":
            terminal.start_run("signal me", LONG)
            wait_until(lambda: running_session(data_dir, 5), 120, "a running session")
        started = app.children(recursive=True)  # everything the app started (the engine)
        assert started, "the app started no engine"
        app.send_signal(signum)
        assert wait_gone(app, EXIT_BOUND_S), "the app did not exit"
        for child in started:
            assert wait_gone(child, EXIT_BOUND_S), f"left behind: {child.cmdline()}"
        terminal.wait_for(lambda s: f"EXITED {128 + signum}" in s, timeout=10)
        assert all(s["status"] == "interrupted" for s in sessions(data_dir))
        if state == "running":
            assert len(sessions(data_dir)) == 1
    finally:
        terminal.kill_server()
        for process in engines_of(data_dir):
            process.kill()


def test_engine_killed_mid_run_one_notification_app_usable_session_recovered(tmp_path):
    data_dir = tmp_path / "data"
    terminal = Terminal("crash", data_dir, tmp_path)
    terminal.start_app()
    try:
        terminal.wait_loaded()
        terminal.start_run("crash me", LONG)
        session = wait_until(lambda: running_session(data_dir, 100), 180, "100 flushed tokens")
        (engine,) = engines_of(data_dir)
        engine.send_signal(signal.SIGKILL)
        screen = terminal.wait_for(lambda s: "stopped unexpectedly" in s, timeout=30)
        assert screen.count("stopped unexpectedly") == 1
        (final,) = [s for s in sessions(data_dir) if s["id"] == session["id"]]
        assert final["status"] == "interrupted"
        assert final["tokens"] >= session["tokens"]  # every flushed token kept
        assert token_ks(data_dir, session["id"]) == list(range(1, final["tokens"] + 1))
        # still usable: ctrl+l starts a new engine, which loads the model, and a run works
        terminal.keys("C-l")
        terminal.wait_loaded()
        terminal.keys("C-r")
        wait_until(lambda: len([s for s in sessions(data_dir) if s["status"] == "running"]) == 1, 60,
                   "a new run")
    finally:
        terminal.kill_server()
        for process in engines_of(data_dir):
            process.kill()


def test_quit_mid_run_and_leave_it_running_finishes_in_the_background(tmp_path):
    data_dir = tmp_path / "data"
    terminal = Terminal("leave", data_dir, tmp_path)
    terminal.start_app()
    try:
        app = terminal.app_process()
        terminal.wait_loaded()
        terminal.start_run("leave me running", 400)
        session = wait_until(lambda: running_session(data_dir, 5), 120, "a running session")
        (engine,) = engines_of(data_dir)
        terminal.keys("C-q")
        terminal.wait_for(lambda s: "Leave it running" in s, timeout=30)  # it asks
        terminal.keys("b")
        terminal.wait_for(lambda s: "EXITED 0" in s, timeout=30)
        assert wait_gone(app, EXIT_BOUND_S)
        final = wait_until(lambda: [s for s in sessions(data_dir) if s["id"] == session["id"]
                                    and s["status"] != "running"], 300, "the session to end")[0]
        assert final["status"] == "finished" and final["tokens"] == 400
        assert wait_gone(engine, EXIT_BOUND_S), "the engine did not exit after its background run"
    finally:
        terminal.kill_server()
        for process in engines_of(data_dir):
            process.kill()
