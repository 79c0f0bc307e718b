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
    result = run_cli("watch", data_dir=tmp_path / "data")
    assert result.returncode == 2
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
