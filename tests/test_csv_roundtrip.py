"""export -> import (into a fresh store) -> export gives the same bytes and the same rows."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.columns import ALL_COLUMNS
from profiler.csv_io import export_sessions, import_csv
from profiler.records import DECODE, FAILED, FINISHED, INTERRUPTED, PREFILL, SessionMeta, TokenRecord
from profiler.store import SessionStore

REPO_ROOT = Path(__file__).resolve().parents[1]

# Characters that break naive CSV handling, mixed into arbitrary (UTF-8-encodable) text.
tricky_text = st.lists(
    st.one_of(st.characters(codec="utf-8"),
              st.sampled_from([",", '"', "\n", "\r", "\r\n", " ", "\t", "\ufeff", "\x00", "é", "🙂"])),
    max_size=16,
).map("".join)
# what the profiler records: 0, or whole nanoseconds up to the bound import accepts (csv_limits)
durations = st.just(0.0) | st.floats(min_value=1e-6, max_value=1e7, exclude_max=True)
optional_durations = st.none() | durations


@st.composite
def sessions(draw):
    """(meta, final status, tokens) for one recorded session."""
    input_tokens = draw(st.integers(min_value=1, max_value=200_000))
    meta = SessionMeta(
        prompt=draw(tricky_text), input_tokens=input_tokens, model=draw(tricky_text), model_label=draw(tricky_text),
        quant=draw(st.sampled_from(["none", "8bit", "4bit", ""])), dtype=draw(tricky_text),
        device=draw(tricky_text), backend=draw(tricky_text), batch_size=draw(st.integers(1, 512)),
        attn=draw(tricky_text), gpu_name=draw(tricky_text), warmup=draw(st.booleans()),
        repeat_index=draw(st.integers(0, 9)),
        # schema v3: batched runs, sweeps, configurations (an empty sweep id or cell reads back as none)
        batch_index=draw(st.integers(0, 511)), eos_k=draw(st.none() | st.integers(1, 10**6)),
        sweep_id=draw(st.none() | tricky_text.filter(bool)), cell=draw(st.none() | tricky_text.filter(bool)),
        config=draw(st.just("") | tricky_text), compile_ms=draw(optional_durations),
        peak_memory_mb=draw(st.none() | st.floats(min_value=0, max_value=1e9)),
    )
    tokens = []
    for k in range(1, draw(st.integers(min_value=1, max_value=5)) + 1):
        # mostly the profiler's own rule; sometimes another (imports keep it as it is)
        context = draw(st.just(input_tokens + k - 1) | st.integers(0, 10**6))
        tokens.append(TokenRecord(
            k=k, context_size=context, latency_ms=draw(durations), phase=PREFILL if k == 1 else DECODE,
            token_id=draw(st.none() | st.integers(0, 2**40)), token_text=draw(tricky_text),
            wall_time=draw(st.just(0.0) | st.floats(min_value=1e9, max_value=2.5e9)),
            forward_ms=draw(optional_durations), sample_ms=draw(optional_durations),
            gc_collections=draw(st.integers(0, 3)), gc_ms=draw(durations),
        ))
    return meta, draw(st.sampled_from([FINISHED, INTERRUPTED, FAILED])), tokens


def record(store: SessionStore, meta: SessionMeta, status: str, tokens: list[TokenRecord]) -> None:
    writer = store.begin_session(meta)
    for token in tokens:
        writer.add_token(token)
    writer.finish(status)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(sessions(), min_size=1, max_size=3))
def test_export_import_export_is_identical(recorded) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        # GIVEN sessions recorded the way `collect` records them
        original = SessionStore(work / "original")
        for meta, status, tokens in recorded:
            record(original, meta, status, tokens)
        # WHEN exported, imported into a fresh store, and exported again
        first = export_sessions(original, None, work / "first.csv")
        copy = SessionStore(work / "copy")
        imported = import_csv(copy, work / "first.csv")
        second = export_sessions(copy, None, work / "second.csv")
        # THEN both files and both stores' rows are the same
        assert imported.format == "tokenlat-tui"
        assert imported.rows == first.rows == second.rows == sum(len(tokens) for _, _, tokens in recorded)
        assert (work / "second.csv").read_bytes() == (work / "first.csv").read_bytes()
        assert copy.token_rows() == original.token_rows()
        original.close()
        copy.close()


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENLAT_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_round_trip_through_the_cli(tmp_path: Path) -> None:
    # GIVEN two sessions, one a warm-up, with text that needs quoting
    original = SessionStore(tmp_path / "a")
    record(original, SessionMeta(prompt='say "hi",\nthen\r\nstop', input_tokens=4, model="tiny", warmup=True),
           FINISHED, [TokenRecord(1, 4, 12.5, PREFILL, 7, "a,b", 1.75e9)])
    record(original, SessionMeta(prompt="ünïcödé 🙂", input_tokens=2, model="tiny", quant="8bit"), INTERRUPTED,
           [TokenRecord(1, 2, 30.0, PREFILL, 1, '"', 1.75e9 + 1, 29.5, 0.5),
            TokenRecord(2, 3, 0.1 + 0.2, DECODE, None, "\r", 1.75e9 + 2, None, None, 2, 1.0 / 3)])
    original.close()
    # WHEN exported, imported elsewhere and exported again, all through the CLI
    assert run_cli(tmp_path / "a", "export", "--all", "-o", str(tmp_path / "first.csv")).returncode == 0
    imported = run_cli(tmp_path / "b", "import", str(tmp_path / "first.csv"))
    assert imported.returncode == 0, imported.stderr
    assert "imported 2 session(s), 3 token rows" in " ".join(imported.stdout.split())
    assert run_cli(tmp_path / "b", "export", "--all", "-o", str(tmp_path / "second.csv")).returncode == 0
    # THEN the files are byte-for-byte equal, and the fields survived as written
    first = (tmp_path / "first.csv").read_bytes()
    assert (tmp_path / "second.csv").read_bytes() == first
    rows = SessionStore(tmp_path / "b").token_rows()
    assert [row["Prompt_ID"] for row in rows] == [row["Prompt_ID"] for row in SessionStore(tmp_path / "a").token_rows()]
    assert rows[0]["prompt"] == 'say "hi",\nthen\r\nstop' and rows[0]["warmup"] is True
    assert rows[2]["Per_Token_Latency_ms"] == 0.1 + 0.2 and rows[2]["token_text"] == "\r"
    assert rows[2]["gc_ms"] == 1.0 / 3 and rows[2]["token_id"] is None and rows[2]["forward_ms"] is None
    assert rows[1]["session_status"] == INTERRUPTED and rows[1]["quant"] == "8bit"
    assert first.decode("utf-8").startswith(",".join(ALL_COLUMNS) + "\r\n")


def test_running_session_comes_back_interrupted(tmp_path: Path) -> None:
    # an export taken while a session was still being recorded: nothing here will ever finish it
    original = SessionStore(tmp_path / "a")
    writer = original.begin_session(SessionMeta(prompt="p", input_tokens=1, model="m"))
    writer.add_token(TokenRecord(1, 1, 5.0, PREFILL, 1, "x", 1.75e9))
    writer.flush()
    export_sessions(original, None, tmp_path / "live.csv")
    writer.finish()
    copy = SessionStore(tmp_path / "b")
    import_csv(copy, tmp_path / "live.csv")
    assert [s["status"] for s in copy.list_sessions()] == [INTERRUPTED]
