"""Import reads its file once, in bounded memory: FIFOs, devices and huge garbage files (issue 8 §3).

Before: a FIFO carrying non-UTF-8 data hung forever (the error path reopened the file to find the
line); `import /dev/zero` grew until MemoryError; a header then 300 MB of NULs peaked at 1.5 GB.
Each import runs as a real CLI subprocess with a timeout (a hang fails the test) and a 2 GiB
address-space limit (so the old behaviour fails fast instead of eating the shared machine).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import REPO_ROOT, cli_env, assert_one_error_line
from profiler.csv_limits import MAX_RECORD_CHARS
from profiler.store import SessionStore

pytestmark = pytest.mark.slow

HEADER = b"Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms\n"
ADDRESS_SPACE_LIMIT = 2 << 30
PEAK_RSS_LIMIT_MB = 200


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def import_measured(path: Path, data_dir: Path) -> tuple[subprocess.CompletedProcess, float]:
    """`tokenlat-tui import PATH` in a subprocess; (its result, its peak RSS in MB). A hang fails.

    A small Python parent runs the import and reports RUSAGE_CHILDREN: the import is its only
    child, so ru_maxrss is the import's own peak (Linux reports KiB).
    """
    measure = ("import json, resource, subprocess, sys\n"
               "r = subprocess.run([sys.executable, '-m', 'tui', 'import', sys.argv[1]], capture_output=True, text=True,\n"
               "                   timeout=60)\n"  # a hang kills the import and fails the test
               "print(json.dumps([r.returncode, r.stdout, r.stderr, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    outer = subprocess.run([sys.executable, "-c", measure, str(path)], cwd=REPO_ROOT, env=cli_env(data_dir),
                           capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory)
    assert outer.returncode == 0, outer.stderr
    returncode, stdout, stderr, max_rss_kib = json.loads(outer.stdout)
    return subprocess.CompletedProcess([], returncode, stdout, stderr), max_rss_kib / 1024


def feed_fifo(path: Path, chunks) -> threading.Thread:
    """A writer thread for the FIFO at `path`: writes `chunks` (an iterable of bytes) then closes.

    A reader that stops early makes the write fail with BrokenPipeError: that ends the writer.
    """
    def write() -> None:
        try:
            with open(path, "wb") as fifo:
                for chunk in chunks:
                    fifo.write(chunk)
        except BrokenPipeError:
            pass

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_fifo_with_non_utf8_data_is_refused_not_hung(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    writer = feed_fifo(fifo, [HEADER, b"a,3,3,1,1.5\n", b"b\xff\xfe,3,3,1,1.5\n"])
    result, _ = import_measured(fifo, tmp_path / "data")
    assert_one_error_line(result, "line 3", "not UTF-8")
    writer.join(timeout=10)
    assert SessionStore(tmp_path / "data").list_sessions() == []


def test_fifo_with_a_good_csv_imports_reading_it_once(tmp_path: Path) -> None:
    # the way `import <(zcat tokens.csv.gz)` hands over a file: it can only be read once
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    writer = feed_fifo(fifo, [HEADER, b"a,3,3,1,1.5\r\n", b"a,3,4,2,2.5\r\n", b"b,1,1,1,9\r\n"])
    result, _ = import_measured(fifo, tmp_path / "data")
    assert result.returncode == 0, result.stderr
    writer.join(timeout=10)
    assert [(row["Prompt_ID"], row["Per_Token_Latency_ms"]) for row in SessionStore(tmp_path / "data").token_rows()] \
        == [("a", 1.5), ("a", 2.5), ("b", 9.0)]


def test_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    result, peak_mb = import_measured(Path("/dev/zero"), tmp_path / "data")
    assert_one_error_line(result, "/dev/zero line 1", "NUL")
    assert peak_mb < PEAK_RSS_LIMIT_MB


def test_a_header_then_300_mb_of_nuls_stays_in_bounded_memory(tmp_path: Path) -> None:
    # GIVEN a 300 MB file (sparse: the NULs cost no disk) that is a header and then zeros
    garbage = tmp_path / "zeros.csv"
    with open(garbage, "wb") as handle:
        handle.write(HEADER)
        handle.truncate(len(HEADER) + 300 * 2**20)
    # WHEN imported: refused at line 2, with a peak far below the file's size
    result, peak_mb = import_measured(garbage, tmp_path / "data")
    assert_one_error_line(result, "line 2", "NUL")
    assert peak_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB for a 300 MB file"


def test_300_mb_without_a_line_end_stays_in_bounded_memory(tmp_path: Path) -> None:
    # text, not NULs: only the record-size bound can stop it (fed through a FIFO: no disk needed)
    fifo = tmp_path / "endless.csv"
    os.mkfifo(fifo)
    writer = feed_fifo(fifo, [HEADER, b"a,3,3,1,"] + [b"7" * 2**20] * 300)
    result, peak_mb = import_measured(fifo, tmp_path / "data")
    assert_one_error_line(result, "line 2", f"longer than {MAX_RECORD_CHARS >> 20} MiB")
    assert peak_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"
    writer.join(timeout=30)
