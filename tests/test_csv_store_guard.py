"""Export and import never touch the store file itself; the `timing` column survives a round trip."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from conftest import error_lines, file_digest, run_cli

pytestmark = pytest.mark.slow  # CLI subprocesses


def _import_one(data_dir: Path, tmp_path: Path, timing: str | None = None) -> Path:
    rows = [{"Prompt_ID": "guard001", "Input_Token_Length": 4, "Context_Size": 4 + k - 1, "Token_Index_k": k,
             "Per_Token_Latency_ms": 5.0 + k, "model": "m", "prompt": "p",
             **({"timing": timing} if timing else {})} for k in range(1, 6)]
    path = tmp_path / "in.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = run_cli("import", str(path), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return path


def test_export_force_onto_the_store_is_refused(private_data_dir: Path, tmp_path: Path):
    _import_one(private_data_dir, tmp_path)
    store = private_data_dir / "sessions.sqlite3"
    before = file_digest(store)
    link = tmp_path / "store-link.csv"
    link.symlink_to(store)
    for target in (store, Path(str(store) + "-wal"), link):
        result = run_cli("export", "--all", "-o", str(target), "--force", data_dir=private_data_dir)
        assert result.returncode == 2, result.stderr
        (line,) = error_lines(result.stderr)
        assert "session store" in line or "link" in line
    assert file_digest(store) == before
    assert run_cli("sessions", data_dir=private_data_dir).returncode == 0


def test_importing_the_store_file_is_refused(private_data_dir: Path, tmp_path: Path):
    _import_one(private_data_dir, tmp_path)
    store = private_data_dir / "sessions.sqlite3"
    result = run_cli("import", str(store), data_dir=private_data_dir)
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "is the session store itself" in line


def test_timing_column_round_trips_and_bad_values_are_refused(private_data_dir: Path, tmp_path: Path):
    _import_one(private_data_dir, tmp_path, timing="arrival")
    out = tmp_path / "out.csv"
    assert run_cli("export", "--all", "-o", str(out), data_dir=private_data_dir).returncode == 0
    with out.open(newline="", encoding="utf-8") as handle:
        assert {row["timing"] for row in csv.DictReader(handle)} == {"arrival"}
    bad = tmp_path / "bad.csv"
    bad.write_text(out.read_text(encoding="utf-8").replace(",arrival", ",wallclock").replace("guard001", "guard002"),
                   encoding="utf-8")
    refused = run_cli("import", str(bad), data_dir=private_data_dir)
    assert refused.returncode == 2
    (line,) = error_lines(refused.stderr)
    assert "line 2" in line and "timing is 'wallclock'" in line
