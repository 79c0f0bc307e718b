"""Issue 23 §9: after SIGINT/SIGTERM/SIGHUP a local `collect` says "saved as 'interrupted'" within
milliseconds, then used to spend 1-2 s in interpreter teardown (torch, transformers) before the
prompt came back. Once the session is stored and the store closed, the CLI flushes its output and
ends with os._exit(128 + N).

What shows the teardown was skipped, without a wall-clock budget: a `sitecustomize` on the child's
PYTHONPATH registers an atexit hook that writes a marker file. atexit hooks are part of the
interpreter's teardown; os._exit skips them. The measured times are printed for the record.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, cli_env, read_only_query
from profiler.store import store_path
from test_core_crash import FLUSHED_BEFORE_SIGNAL, wait_for_flushed_tokens

pytestmark = pytest.mark.slow  # real subprocesses, the embedded model, real signals

SITECUSTOMIZE = '''
import atexit, os

def _mark():
    with open(os.environ["TOKENLAT_TEST_TEARDOWN_MARKER"], "w") as f:
        f.write("teardown ran\\n")

atexit.register(_mark)
'''


def start_collect(data_dir: Path, hook_dir: Path, marker: Path) -> subprocess.Popen:
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = cli_env(data_dir, TOKENLAT_TEST_TEARDOWN_MARKER=str(marker))
    env["PYTHONPATH"] = f"{hook_dir}:{env['PYTHONPATH']}"
    return subprocess.Popen(
        [sys.executable, "-m", "tui", "collect", "ctrl+c returns the prompt", "--max-new-tokens", "2000",
         "--ignore-eos", "--warmup", "0"],
        cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)


def read_lines(stream, lines: list[tuple[float, str]]) -> threading.Thread:
    def pump() -> None:
        for raw in stream:
            lines.append((time.monotonic(), raw.decode("utf-8", "replace")))

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signalled_collect_exits_without_the_interpreter_teardown(tmp_path, signum):
    data_dir, marker = tmp_path / "store", tmp_path / "teardown-ran"
    proc = start_collect(data_dir, tmp_path / "hook", marker)
    lines: list[tuple[float, str]] = []
    reader = read_lines(proc.stderr, lines)
    try:
        session_id, flushed = wait_for_flushed_tokens(proc, store_path(data_dir), FLUSHED_BEFORE_SIGNAL, tmp_path)
        signalled = time.monotonic()
        proc.send_signal(signum)
        code = proc.wait(timeout=60)
        exited = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    stderr = "".join(line for _t, line in lines)
    assert code == 128 + signum, stderr
    assert "Traceback" not in stderr
    said = [t for t, line in lines if "saved as 'interrupted'" in line]
    assert said, stderr  # the message came, before the process ended (it is read from the live pipe)
    status, tokens = read_only_query(store_path(data_dir), "SELECT status, tokens FROM sessions WHERE id=?",
                                     (session_id,))[0]
    assert status == "interrupted" and tokens >= flushed
    assert read_only_query(store_path(data_dir), "SELECT COUNT(*) FROM tokens WHERE session_id=?",
                           (session_id,)) == [(tokens,)]
    assert read_only_query(store_path(data_dir), "PRAGMA integrity_check") == [("ok",)]
    print(f"\n{signal.Signals(signum).name}: message {1000 * (said[0] - signalled):.0f} ms after the signal, "
          f"exit {1000 * (exited - said[0]):.0f} ms after the message ({tokens} tokens stored)")
    # the interpreter's teardown (atexit hooks, module and torch finalisers) did not run
    assert not marker.exists(), "the process went through the interpreter's teardown after the signal"
