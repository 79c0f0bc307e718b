"""Issue 23 point 8: export and import in bounded memory; a silent FIFO ends an import in one line.

Each command runs as a real CLI subprocess whose peak RSS (ru_maxrss) is read by a small parent,
under a 2 GiB address-space limit (so the old, unbounded behaviour fails fast instead of eating
the shared machine). Stores are built by bulk SQL; the FIFOs are real, fed by a writer thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from conftest import REPO_ROOT, assert_one_error_line, cli_env
from profiler.store import SessionStore, store_path
from test_csv_import_streams import HEADER, PEAK_RSS_LIMIT_MB, _limit_memory, feed_fifo, import_measured

pytestmark = pytest.mark.slow


def cli_measured(data_dir: Path, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    """`tokenlat-tui ARGS` in a subprocess; (its result, its peak RSS in MB)."""
    measure = ("import json, resource, subprocess, sys\n"
               "r = subprocess.run([sys.executable, '-m', 'tui', *sys.argv[2:]], capture_output=True, text=True,\n"
               "                   timeout=float(sys.argv[1]))\n"
               "print(json.dumps([r.returncode, r.stdout, r.stderr, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    outer = subprocess.run([sys.executable, "-c", measure, str(timeout), *args], cwd=REPO_ROOT, env=cli_env(data_dir),
                           capture_output=True, text=True, timeout=timeout + 30, preexec_fn=_limit_memory)
    assert outer.returncode == 0, outer.stderr
    returncode, stdout, stderr, max_rss_kib = json.loads(outer.stdout)
    return subprocess.CompletedProcess(args, returncode, stdout, stderr), max_rss_kib / 1024


def token_store(data_dir: Path, sessions: int, tokens_per_session: int) -> None:
    """A store of sessions with long prompts and real token rows, written by bulk SQL."""
    import sqlite3

    SessionStore(data_dir).close()
    conn = sqlite3.connect(store_path(data_dir))
    with conn:
        for index in range(sessions):
            session_id = str(uuid.uuid4())
            conn.execute("INSERT INTO sessions (id, status, started, prompt, input_tokens, model, tokens)"
                         " VALUES (?, 'finished', ?, ?, 16, 'bench', ?)",
                         (session_id, f"2026-01-01T00:{index // 60 % 60:02d}:{index % 60:02d}+00:00",
                          f"prompt {index} " * 20, tokens_per_session))
            conn.executemany("INSERT INTO tokens (session_id, k, context_size, latency_ms, phase, token_id,"
                             " token_text, wall_time) VALUES (?,?,?,?,?,?,?,?)",
                             [(session_id, k, 16 + k - 1, 5.0 + k / 1000, "prefill" if k == 1 else "decode", k,
                               f"tok{k}", 1.7e9 + k) for k in range(1, tokens_per_session + 1)])
    conn.close()


def test_export_and_import_of_a_quarter_million_tokens_stay_far_below_the_data_size(tmp_path):
    # GIVEN a store of 250k tokens (before: export held every row, ~1.3 KB each, import every token)
    source, target = tmp_path / "source", tmp_path / "target"
    token_store(source, 1250, 200)
    out = tmp_path / "all.csv"
    exported, export_mb = cli_measured(source, "export", "--all", "-o", str(out), "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["rows"] == 250_000
    assert out.stat().st_size > 40 * 2**20  # more than the 40 MB file of the audit
    assert export_mb < PEAK_RSS_LIMIT_MB, f"export peak {export_mb:.0f} MB"
    # WHEN that file is imported into an empty store
    imported, import_mb = cli_measured(target, "import", str(out), "--json")
    assert imported.returncode == 0, imported.stderr
    assert import_mb < PEAK_RSS_LIMIT_MB, f"import peak {import_mb:.0f} MB"
    # THEN every row arrived, once, with its session's summary
    assert json.loads(imported.stdout)["rows"] == 250_000
    sessions = SessionStore(target).list_sessions()
    assert len(sessions) == 1250 and {s["tokens"] for s in sessions} == {200}


def endless_rows(megabytes: int):
    """Seed-format rows for `megabytes` MB, four sessions interleaved then new ones: what a FIFO
    'feeding rows forever' looks like until the test stops feeding."""
    sent, k, chunk = 0, 0, []
    yield HEADER
    while sent < megabytes * 2**20:
        k += 1
        session = k // 5000
        for lane in range(4):
            chunk.append(f"s{session}-{lane},16,{16 + k - 1},{k},{5 + lane}.25\n")
        if len(chunk) >= 4000:
            data = "".join(chunk).encode()
            sent += len(data)
            chunk.clear()
            yield data
    yield "".join(chunk).encode()


def test_an_import_from_a_fifo_streaming_rows_stays_in_bounded_memory(tmp_path):
    fifo = tmp_path / "endless.csv"
    os.mkfifo(fifo)
    writer = feed_fifo(fifo, endless_rows(20))  # ~790k rows: before, memory grew with every one
    result, peak_mb = import_measured(fifo, tmp_path / "data")
    writer.join(timeout=30)
    assert result.returncode == 0, result.stderr
    assert peak_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"
    sent = sum(chunk.count(b"\n") for chunk in endless_rows(20)) - 1  # the header is no row
    assert sent > 700_000
    assert sum(s["tokens"] for s in SessionStore(tmp_path / "data").list_sessions()) == sent


def run_import(fifo: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", "import", str(fifo), *args], cwd=REPO_ROOT,
                          env=cli_env(data_dir), capture_output=True, text=True, timeout=60)


def test_a_fifo_nobody_writes_to_ends_the_import_in_one_line(tmp_path):
    fifo = tmp_path / "silent.csv"
    os.mkfifo(fifo)
    # before: waited forever (run_import's own timeout would raise); the line shows it ended by its limit
    result = run_import(fifo, tmp_path / "data", "--idle-timeout", "1")
    assert_one_error_line(result, "no data for 1 s", "nothing imported")


def test_a_fifo_that_stalls_mid_file_imports_nothing_and_leaves_the_store_unlocked(tmp_path):
    fifo = tmp_path / "stalls.csv"
    os.mkfifo(fifo)
    release = threading.Event()

    def write() -> None:
        with open(fifo, "wb") as handle:
            handle.write(HEADER + b"a,3,3,1,1.5\n" * 1 + b"a,3,4,2,2.5\n")
            handle.flush()
            release.wait(30)  # holds the FIFO open, silent

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    result = run_import(fifo, tmp_path / "data", "--idle-timeout", "1")
    release.set()
    writer.join(timeout=10)
    assert_one_error_line(result, "no data for 1 s", "nothing imported")
    store = SessionStore(tmp_path / "data")
    assert store.list_sessions() == []
    assert store.delete_sessions([]) == 0  # the write lock was given back


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e9"])
def test_an_idle_timeout_outside_its_range_is_refused_in_one_line(tmp_path, value):
    csv = tmp_path / "one.csv"
    csv.write_bytes(HEADER + b"a,3,3,1,1.5\n")
    result = subprocess.run([sys.executable, "-m", "tui", "import", str(csv), f"--idle-timeout={value}"],
                            cwd=REPO_ROOT, env=cli_env(tmp_path / "data"), capture_output=True, text=True, timeout=60)
    assert_one_error_line(result, "--idle-timeout")
