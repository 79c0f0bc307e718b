"""`tokenlat-tui watch`: follows a session `collect` runs in another process, exits when it ends."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import REPO_ROOT, cli_env, error_lines, run_cli
from profiler.store import SessionStore


@pytest.mark.slow
@pytest.mark.slow  # a CLI subprocess
def test_watch_without_a_running_session_is_one_error_line(tmp_path):
    result = run_cli("watch", "--wait", "0.5", data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "after waiting 0.5 s" in result.stderr
    assert error_lines(result.stderr) == [line for line in error_lines(result.stderr)
                                          if line.startswith("tokenlat-tui: error: no running session")]
    assert len(error_lines(result.stderr)) == 1


@pytest.mark.slow
def test_watch_follows_a_collect_in_another_process_to_its_end(tmp_path):
    data_dir = tmp_path / "data"
    tokens = 300
    collect = subprocess.Popen([sys.executable, "-m", "tui", "collect", "watch me", "--max-new-tokens", str(tokens),
                                "--ignore-eos", "--warmup", "0"], cwd=REPO_ROOT, env=cli_env(data_dir),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not [s for s in SessionStore(data_dir).list_sessions() if s["status"] == "running"]:
            assert collect.poll() is None and time.monotonic() < deadline, collect.stderr.read()
            time.sleep(0.1)
        watch = run_cli("watch", data_dir=data_dir, timeout=300)  # the newest running session by default
        assert watch.returncode == 0, watch.stderr
        assert collect.wait(60) == 0
    finally:
        if collect.poll() is None:
            collect.kill()
    (session,) = SessionStore(data_dir).list_sessions()
    assert session["status"] == "finished"
    # its last picture is the ended session with every token and the same figures as the store
    assert f"finished {session['id'][:8]}" in watch.stdout
    assert f"tokens {tokens}/{tokens}" in watch.stdout
    assert f"p50 {session['decode_p50_ms']:.2f}" in watch.stdout


@pytest.mark.slow
def test_watch_started_before_the_run_waits_then_follows_every_session_of_it(tmp_path):
    """Over SSH `watch` is often started while the model loads: it waits, then follows the warm-up and
    both repeats to the run's end, each drawn on a ms scale."""
    data_dir = tmp_path / "data"
    watch = subprocess.Popen([sys.executable, "-m", "tui", "watch", "--wait", "240"], cwd=REPO_ROOT,
                             env=cli_env(data_dir), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert watch.poll() is None  # nothing runs yet: it waits rather than exits
        collect = run_cli("collect", "watch every repeat", "--max-new-tokens", "24", "--ignore-eos", "--warmup", "1",
                          "--repeat", "2", data_dir=data_dir, timeout=300)
        assert collect.returncode == 0, collect.stderr
        out, err = watch.communicate(timeout=120)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.communicate()
    assert watch.returncode == 0, err
    sessions = SessionStore(data_dir).list_sessions()
    assert len(sessions) == 3 and sum(s["warmup"] for s in sessions) == 1
    tokens = SessionStore(data_dir)
    for session in sessions:  # every session of the run, each to its end
        assert f"finished {session['id'][:8]}" in out
        decode = [t["latency_ms"] for t in tokens.session_tokens(session["id"]) if t["phase"] == "decode"]
        # the chart's scale: its top is the slowest decode token of that session, in ms
        assert f" {max(decode):.2f}  (each column the slowest of" in out
    assert "decode ms " in out


@pytest.mark.slow
def test_watch_of_a_finished_session_by_id_shows_it_and_exits(tmp_path):
    data_dir = tmp_path / "data"
    collect = run_cli("collect", "done already", "--max-new-tokens", "8", "--ignore-eos", "--warmup", "0",
                      "--repeat", "2", data_dir=data_dir, timeout=300)
    assert collect.returncode == 0, collect.stderr
    older = SessionStore(data_dir).list_sessions()[-1]
    result = run_cli("watch", older["id"][:8], data_dir=data_dir, timeout=120)
    assert result.returncode == 0, result.stderr
    # a session that had ended when watch began is shown alone: its run is not followed on
    assert result.stdout.count("finished ") == 1 and f"finished {older['id'][:8]}" in result.stdout


@pytest.mark.slow  # CLI subprocesses
@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_a_bad_wait_is_one_error_line(tmp_path, value):
    result = run_cli("watch", "--wait", value, data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"tokenlat-tui: error: --wait must be 0 or more seconds, and finite "
                                          f"(got {float(value)})"]
