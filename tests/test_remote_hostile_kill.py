"""Remote tokens survive a kill and a full disk (issue 23 §6).

A server that sends no per-chunk counts (only a final total, like transformers serve and TGI) used to
leave a killed run's sessions with their chunks and no token rows. Now every chunk's provisional token
(one per chunk, the session's token_source saying so) is committed with the chunk, so `show` and
`export` see what arrived; and a store that can't be written any more leaves the real reason.
"""

from __future__ import annotations

import csv
import resource
import subprocess
import sys

import psutil
import pytest

from conftest import REPO_ROOT, cli_env, read_only_query, run_cli, wait_for_count
from profiler.store import store_path
from remote_servers import ServerThread, chat_chunk, scripted_chat_app, sse

pytestmark = pytest.mark.slow


def no_counts_until_the_end(pieces: int, interval_s: float, text: str = "tok "):
    """Content chunks without usage; the total would come only on the last one (never reached here)."""
    def script(_body):
        items = [sse(chat_chunk(role="assistant"))]
        for _ in range(pieces):
            items += [interval_s, sse(chat_chunk(text))]
        return items + [sse(chat_chunk(finish="length", usage={"completion_tokens": pieces})), sse("[DONE]")]

    return script


def start(server, data_dir, preexec_fn=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tui", "collect", "hi", "--server", server.url, "--warmup", "0",
                             "--max-new-tokens", "4000", "--no-stream-options"], cwd=REPO_ROOT,
                            env=cli_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec_fn)


def wait_for_chunks(db, count: int) -> None:
    if not wait_for_count(db, "SELECT COUNT(*) FROM chunks WHERE content=1", count, poll_s=0.1):
        raise AssertionError("no chunks reached the store")


def store_writer_of(process: subprocess.Popen) -> psutil.Process:
    (writer,) = [child for child in psutil.Process(process.pid).children()
                 if "profiler.remote.store_writer" in " ".join(child.cmdline())]
    return writer


@pytest.mark.parametrize("also_the_writer", [False, True])
def test_sigkill_leaves_provisional_tokens_for_every_chunk_that_arrived(tmp_path, also_the_writer):
    db = store_path(tmp_path)
    with ServerThread(scripted_chat_app(no_counts_until_the_end(3000, 0.01))) as server:
        process = start(server, tmp_path)
        wait_for_chunks(db, 10)
        writer = store_writer_of(process)
        if also_the_writer:  # nothing can close the sessions: only what was committed remains
            writer.kill()
        process.kill()
        process.wait(30)
        psutil.wait_procs([writer], timeout=30)
    show = run_cli("sessions", "--json", data_dir=tmp_path)  # opening the store ends an orphaned session
    assert show.returncode == 0, show.stderr
    (session_id, status, tokens), = read_only_query(db, "SELECT id, status, tokens FROM sessions")
    chunks = read_only_query(db, "SELECT COUNT(*) FROM chunks WHERE session_id=? AND content=1", (session_id,))[0][0]
    rows = read_only_query(db, "SELECT k, phase FROM tokens WHERE session_id=? ORDER BY k", (session_id,))
    (source,), = read_only_query(db, "SELECT token_source FROM remote_sessions WHERE session_id=?", (session_id,))
    assert status == "interrupted" and source == "provisional_one_per_chunk"
    assert chunks >= 10 and tokens == len(rows) == chunks  # one provisional token per chunk, none lost
    assert [k for k, _ in rows] == list(range(1, chunks + 1)) and rows[0][1] == "prefill"
    detail = run_cli("show", session_id[:8], data_dir=tmp_path)
    assert detail.returncode == 0 and "provisional_one_per_chunk" in detail.stdout, detail.stderr
    exported = tmp_path / "out.csv"
    export = run_cli("export", session_id[:8], "-o", str(exported), data_dir=tmp_path)
    assert export.returncode == 0, export.stderr
    with exported.open(newline="") as handle:
        assert sum(1 for line in csv.reader(handle) if line and not line[0].startswith("#")) - 1 == chunks


def small_file_limit() -> None:
    """The run (and its store writer, which inherits it) can't grow a file past 1 MiB: a full disk
    without root (writes beyond it fail with EFBIG; Python ignores SIGXFSZ)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_a_full_disk_keeps_the_real_failure_reason(tmp_path):
    db = store_path(tmp_path)
    with ServerThread(scripted_chat_app(no_counts_until_the_end(20000, 0.0005, "x" * 400))) as server:
        process = start(server, tmp_path, preexec_fn=small_file_limit)
        _out, err = process.communicate(timeout=120)
    assert process.returncode == 2 and "Traceback" not in err, err
    assert "can't write the session store" in err
    (status, error, tokens), = read_only_query(db, "SELECT status, error, tokens FROM sessions")
    assert status == "failed" and "can't write the session store" in error
    assert "process ended without closing the session" not in error
    chunks = read_only_query(db, "SELECT COUNT(*) FROM chunks WHERE content=1")[0][0]
    assert chunks > 0 and tokens == chunks  # what was committed before the disk filled keeps its tokens
