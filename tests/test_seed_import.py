"""The seed study's real CSV imports through the CLI with its rows, values and order intact.

Another part reproduces the study's Ridge fit on `tokens_frame()` to 4 decimals; the split is
`train_test_split(random_state=42)` on row positions, so order matters as much as values.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.columns import SEED_COLUMNS
from profiler.store import SessionStore

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_CSV = REPO_ROOT.parent / "shared" / "data" / "seed-llm-latency" / "llm_latency_dataset.csv"

pytestmark = [pytest.mark.slow,  # the fixture imports the seed CSV through the CLI in a subprocess
              pytest.mark.skipif(not SEED_CSV.exists(), reason=f"seed dataset not at {SEED_CSV}")]


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENLAT_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def seed_rows() -> list[list[str]]:
    with open(SEED_CSV, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == SEED_COLUMNS
        return list(reader)


@pytest.fixture(scope="module")
def imported_store(tmp_path_factory) -> SessionStore:
    data_dir = tmp_path_factory.mktemp("seed") / "data"
    result = run_cli(data_dir, "import", str(SEED_CSV))
    assert result.returncode == 0, result.stderr
    assert "imported 4 session(s), 471 token rows" in " ".join(result.stdout.split())
    return SessionStore(data_dir)


def test_four_sessions_in_file_order(imported_store: SessionStore) -> None:
    ids_in_file = [row[0] for row in seed_rows()]
    file_order = list(dict.fromkeys(ids_in_file))
    sessions = imported_store.list_sessions()  # newest first
    assert len(file_order) == 4
    assert [s["id"] for s in reversed(sessions)] == file_order
    assert [s["tokens"] for s in reversed(sessions)] == [ids_in_file.count(i) for i in file_order]
    for session in sessions:
        assert session["status"] == "finished"
        assert session["source"] == "import:llm_latency_dataset.csv"
        assert session["warmup"] is False and session["prompt"] == "" and session["model"] == ""
        assert session["ttft_ms"] is not None  # k = 1 became the prefill token


def test_tokens_frame_is_the_file_row_for_row(imported_store: SessionStore) -> None:
    frame = imported_store.tokens_frame()
    expected = seed_rows()
    assert len(frame) == len(expected) == 471
    got = list(zip(frame["Prompt_ID"], frame["Input_Token_Length"], frame["Context_Size"], frame["Token_Index_k"],
                   frame["Per_Token_Latency_ms"]))
    # exact equality: every latency parses back to the very same double
    assert got == [(pid, int(n), int(c), int(k), float(ms)) for pid, n, c, k, ms in expected]
    assert list(frame["phase"]) == ["prefill" if row[3] == "1" else "decode" for row in expected]
    assert not frame["warmup"].any()


def test_tokens_frame_matches_pandas_reading_of_the_file(imported_store: SessionStore) -> None:
    import pandas as pd

    from_file = pd.read_csv(SEED_CSV)
    frame = imported_store.tokens_frame()[SEED_COLUMNS].reset_index(drop=True)
    for column in SEED_COLUMNS:
        assert frame[column].tolist() == from_file[column].tolist(), column


def test_exported_seed_columns_are_the_seed_file(imported_store: SessionStore, tmp_path: Path) -> None:
    # the seed's five columns of our export are the original file, value for value
    from profiler.csv_io import export_sessions

    export_sessions(imported_store, None, tmp_path / "out.csv")
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as handle:
        exported = [row[:5] for row in csv.reader(handle)][1:]
    assert exported == seed_rows()
