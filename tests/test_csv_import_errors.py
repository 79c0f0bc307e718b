"""A bad CSV is refused through the real CLI: one line naming the line, exit 2, store unchanged.

Each bad file puts its fault after at least one complete, valid session, so "nothing imported"
proves the whole file is rolled back, not just the bad session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.records import DECODE, PREFILL, SessionMeta, TokenRecord
from profiler.store import SessionStore

pytestmark = pytest.mark.slow  # each test runs the CLI in subprocesses

REPO_ROOT = Path(__file__).resolve().parents[1]
HEADER = "Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms"
FULL_HEADER = (
    "Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms,phase,warmup,model,model_label,"
    "quant,dtype,device,backend,batch_size,attn,gpu_name,session_status,session_started,repeat_index,token_id,"
    "token_text,timestamp,forward_ms,sample_ms,gc_collections,gc_ms,prompt"
)
FULL_ROW = ("{pid},5,{ctx},{k},{ms},{phase},{warmup},m,,none,float32,cpu,huggingface,1,sdpa,,{status},"
            "2025-01-02T03:04:05.000006+00:00,0,42,hi,{ts},1.5,0.25,0,0.0,the prompt")

# Lines 2-4: a complete, valid session "good" (input 5, k = 1..3).
GOOD = [f"good,5,{4 + k},{k},{10.5 + k}" for k in (1, 2, 3)]


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENLAT_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def store_contents(data_dir: Path) -> tuple[int, int]:
    """(sessions, tokens) in the store."""
    store = SessionStore(data_dir)
    try:
        return len(store.list_sessions()), len(store.token_rows())
    finally:
        store.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A store already holding one recorded session named 'existing', so "unchanged" means something."""
    directory = tmp_path / "data"
    store = SessionStore(directory)
    writer = store.begin_session(SessionMeta(prompt="hello", input_tokens=3, model="tiny"), session_id="existing")
    for k in (1, 2):
        writer.add_token(TokenRecord(k=k, context_size=2 + k, latency_ms=1.25 * k, phase=PREFILL if k == 1 else DECODE,
                                     token_id=k, token_text="x", wall_time=1.7e9 + k))
    writer.finish()
    store.close()
    return directory


def lines(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode("utf-8")


BAD_FILES = {
    # name: (file bytes, text the one error line must contain)
    "missing_column": (lines("Prompt_ID,Input_Token_Length,Token_Index_k,Per_Token_Latency_ms", "a,5,1,3.0"),
                       ["line 1", "missing column Context_Size"]),
    "non_numeric_latency": (lines(HEADER, *GOOD, "b,7,7,1,fast"), ["line 5", "Per_Token_Latency_ms", "'fast'"]),
    "nan_latency": (lines(HEADER, *GOOD, "b,7,7,1,1.0", "b,7,8,2,NaN"), ["line 6", "NaN"]),
    "infinite_latency": (lines(HEADER, *GOOD, "b,7,7,1,inf"), ["line 5", "finite"]),
    "negative_latency": (lines(HEADER, *GOOD, "b,7,7,1,-0.5"), ["line 5", "negative"]),
    "empty_latency": (lines(HEADER, *GOOD, "b,7,7,1,"), ["line 5", "Per_Token_Latency_ms is empty"]),
    "duplicate_k": (lines(HEADER, *GOOD, "good,5,6,2,9.0"), ["line 5", "duplicate", "(good, 2)", "first on line 3"]),
    "non_integer_k": (lines(HEADER, *GOOD, "b,7,7,1.5,2.0"), ["line 5", "Token_Index_k", "whole number"]),
    "zero_k": (lines(HEADER, *GOOD, "b,7,7,0,2.0"), ["line 5", "Token_Index_k", "below 1"]),
    "huge_k": (lines(HEADER, *GOOD, "b,7,7,1e30,2.0"), ["line 5", "Token_Index_k", "too large"]),
    "input_length_changes": (lines(HEADER, *GOOD, "b,7,7,1,2.0", "b,8,8,2,2.0"),
                             ["line 6", "Input_Token_Length is 8 but 7 on line 5"]),
    "too_few_fields": (lines(HEADER, *GOOD, "b,7,7,1"), ["line 5", "4 fields where the header has 5"]),
    "unclosed_quote": (lines(HEADER, *GOOD, '"b,7,7,1,2.0', "c,1,1,1,1.0"), ["line 5", "never closed"]),
    "empty_prompt_id": (lines(HEADER, *GOOD, " ,7,7,1,2.0"), ["line 5", "Prompt_ID is empty"]),
    "not_utf8": (lines(HEADER, *GOOD).replace(b"good,5,6,2", b"g\xe9od,5,6,2"), ["line 3", "not UTF-8"]),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)), ["line 1", "not UTF-8"]),
    "empty_file": (b"", ["is empty"]),
    "header_only": (lines(HEADER), ["line 2", "no data rows"]),
    "already_in_store": (lines(HEADER, *GOOD, "existing,3,3,1,1.0"), ["line 5", "existing is already in the store"]),
    "bad_phase": (lines(FULL_HEADER, FULL_ROW.format(pid="f", ctx=5, k=1, ms=2.0, phase="prefill", warmup="false",
                                                     status="finished", ts=""),
                        FULL_ROW.format(pid="f", ctx=6, k=2, ms=2.0, phase="decoding", warmup="false",
                                        status="finished", ts="")),
                  ["line 3", "phase is 'decoding'"]),
    "bad_warmup": (lines(FULL_HEADER, FULL_ROW.format(pid="f", ctx=5, k=1, ms=2.0, phase="prefill", warmup="maybe",
                                                      status="finished", ts="")),
                   ["line 2", "warmup is 'maybe'"]),
    "bad_status": (lines(FULL_HEADER, FULL_ROW.format(pid="f", ctx=5, k=1, ms=2.0, phase="prefill", warmup="true",
                                                      status="done", ts="")),
                   ["line 2", "session_status is 'done'"]),
    "bad_timestamp": (lines(FULL_HEADER, FULL_ROW.format(pid="f", ctx=5, k=1, ms=2.0, phase="prefill", warmup="true",
                                                         status="finished", ts="yesterday")),
                      ["line 2", "timestamp is 'yesterday'"]),
    "warmup_changes": (lines(FULL_HEADER, FULL_ROW.format(pid="f", ctx=5, k=1, ms=2.0, phase="prefill",
                                                          warmup="true", status="finished", ts=""),
                             FULL_ROW.format(pid="f", ctx=6, k=2, ms=2.0, phase="decode", warmup="false",
                                             status="finished", ts="")),
                       ["line 3", "warmup is false but true on line 2"]),
}


def full_row(pid: str = "f", ts: str = "", started: str = "2025-01-02T03:04:05.000006+00:00", ms: str = "2.0",
             forward_ms: str = "1.5") -> str:
    """One valid full-format row (k = 1) with the given cells."""
    return FULL_ROW.format(pid=pid, ctx=5, k=1, ms=ms, phase="prefill", warmup="false", status="finished",
                           ts=ts).replace("2025-01-02T03:04:05.000006+00:00", started).replace(",1.5,", f",{forward_ms},")


# Values that imported before and then broke export or fit (issue 8 §3): refused with their line.
BAD_FILES.update({
    "year_10000_in_utc": (lines(FULL_HEADER, full_row(), full_row("g", ts="9999-12-31T23:59:59.999999")),
                          ["line 3", "timestamp", "times must be from 1970-01-01 up to (not including) 2200-01-01"]),
    "offset_before_year_1": (lines(FULL_HEADER, full_row(), full_row("g", ts="0001-01-01T00:00:00+01:00")),
                             ["line 3", "timestamp", "times must be"]),
    "offset_after_year_9999": (lines(FULL_HEADER, full_row(), full_row("g", ts="9999-12-31T23:00:00-05:00")),
                               ["line 3", "times must be"]),
    "before_the_epoch": (lines(FULL_HEADER, full_row(ts="1970-01-01T00:30:00+01:00")), ["line 2", "times must be"]),
    "session_started_out_of_range": (lines(FULL_HEADER, full_row(started="0001-01-01T00:00:00+01:00")),
                                     ["line 2", "session_started", "times must be"]),
    "huge_latency": (lines(HEADER, *GOOD, "b,7,7,1,1e308"), ["line 5", "below 10,000,000 ms"]),
    "latency_at_the_bound": (lines(HEADER, *GOOD, "b,7,7,1,1e7"), ["line 5", "below 10,000,000 ms"]),
    "subnormal_latency": (lines(HEADER, *GOOD, "b,7,7,1,5e-324"), ["line 5", "at least 1e-06 ms"]),
    "huge_forward_ms": (lines(FULL_HEADER, full_row(forward_ms="1e300")), ["line 2", "forward_ms", "below"]),
    "prompt_id_with_a_newline": (lines(HEADER, *GOOD, '"b\nc",7,7,1,2.0'), ["line 5", "control character"]),
    "prompt_id_with_nul": (lines(HEADER, *GOOD, '"b\x00",7,7,1,2.0'), ["line 5", "control character"]),
    "prompt_id_too_long": (lines(HEADER, *GOOD, "b" * 300 + ",7,7,1,2.0"), ["line 5", "at most 256"]),
    "nul_outside_quotes": (lines(HEADER, *GOOD, "b,7,7,1,2.0\x00"), ["line 5", "NUL byte"]),
})


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_refused_with_its_line_and_imports_nothing(case: str, data_dir: Path, tmp_path: Path) -> None:
    # GIVEN a store with one session and a CSV with one fault
    content, expected = BAD_FILES[case]
    bad_file = tmp_path / f"{case}.csv"
    bad_file.write_bytes(content)
    before = store_contents(data_dir)
    # WHEN it is imported through the CLI
    result = run_cli(data_dir, "import", str(bad_file))
    # THEN one clear line, a non-zero exit, no traceback, and the store as it was
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    assert error_lines[0].startswith("tokenlat-tui: error: ")
    for fragment in expected:
        assert fragment in error_lines[0]
    if case != "empty_file":
        assert error_lines[0].endswith("nothing imported")
    assert store_contents(data_dir) == before


@pytest.mark.parametrize("target", ["missing.csv", "a_directory"])
def test_unreadable_path_is_one_clear_line(target: str, data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "a_directory").mkdir()
    before = store_contents(data_dir)
    result = run_cli(data_dir, "import", str(tmp_path / target))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert target in result.stderr
    assert store_contents(data_dir) == before


def test_context_size_off_by_one_is_imported_as_is_with_a_warning(data_dir: Path, tmp_path: Path) -> None:
    # Context_Size = input + k (another tool's convention): representable, so kept, but flagged
    source = tmp_path / "other_tool.csv"
    source.write_bytes(lines(HEADER, *GOOD, "b,7,8,1,2.0", "b,7,9,2,2.5"))
    result = run_cli(data_dir, "import", str(source))
    assert result.returncode == 0, result.stderr
    assert "2 row(s) have Context_Size" in " ".join(result.stdout.split())
    assert "first on line 5" in " ".join(result.stdout.split())
    store = SessionStore(data_dir)
    rows = [row for row in store.token_rows() if row["Prompt_ID"] == "b"]
    assert [row["Context_Size"] for row in rows] == [8, 9]


def test_spreadsheet_quirks_are_accepted(data_dir: Path, tmp_path: Path) -> None:
    # a BOM, CRLF line ends, "14.0" integers, a blank line, a trailing ",,,," row and an unknown column
    source = tmp_path / "from_excel.csv"
    source.write_bytes(b"\xef\xbb\xbf" + (HEADER + ",note\r\n" + "s,14.0,14,1,3.5,hi\r\n\r\n"
                                           + "s,14,15,2.0,2.25,\r\n,,,,,\r\n").encode())
    result = run_cli(data_dir, "import", "--json", str(source))
    assert result.returncode == 0, result.stderr
    assert '"ignored_columns": [\n    "note"\n  ]' in result.stdout
    store = SessionStore(data_dir)
    rows = store.token_rows(["s"])
    assert [(r["Input_Token_Length"], r["Context_Size"], r["Token_Index_k"], r["Per_Token_Latency_ms"], r["phase"])
            for r in rows] == [(14, 14, 1, 3.5, "prefill"), (14, 15, 2, 2.25, "decode")]
