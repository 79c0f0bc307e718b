"""`tokenlat-tui export`: the columns, the cells, and never clobbering or half-writing a file."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.columns import ALL_COLUMNS, SEED_COLUMNS
from profiler.csv_io import write_csv
from profiler.errors import InputError
from profiler.records import DECODE, PREFILL, SessionMeta, TokenRecord
from profiler.store import SessionStore

from conftest import assert_one_error_line

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENLAT_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A warm-up session 'warm' (1 token) then a measured session 'measured' (3 tokens)."""
    directory = tmp_path / "data"
    store = SessionStore(directory)
    for session_id, warmup, count in (("warm", True, 1), ("measured", False, 3)):
        meta = SessionMeta(prompt="why, \"really\"?", input_tokens=10, model="tiny", quant="8bit", dtype="float16",
                           device="cuda:0", backend="huggingface", batch_size=1, attn="sdpa", gpu_name="H100",
                           warmup=warmup)
        writer = store.begin_session(meta, session_id=session_id)
        for k in range(1, count + 1):
            writer.add_token(TokenRecord(k=k, context_size=9 + k, latency_ms=0.1 * k + 0.2,
                                         phase=PREFILL if k == 1 else DECODE, token_id=100 + k, token_text=f"t{k}",
                                         wall_time=1_750_000_000.25 + k, forward_ms=0.1 * k, sample_ms=0.2,
                                         gc_collections=k - 1, gc_ms=0.5 if k > 1 else 0.0))
        writer.finish()
    store.close()
    return directory


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_export_writes_every_column_in_order_with_exact_cells(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "tokens.csv"
    result = run_cli(data_dir, "export", "--all", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "exported 4 token rows from 2 session(s)" in " ".join(result.stdout.split())
    with open(out, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ALL_COLUMNS and header[:5] == SEED_COLUMNS
    rows = read_rows(out)
    # oldest session first, tokens by k
    assert [(r["Prompt_ID"], r["Token_Index_k"]) for r in rows] == [("warm", "1"), ("measured", "1"),
                                                                    ("measured", "2"), ("measured", "3")]
    last = rows[-1]
    assert last["Per_Token_Latency_ms"] == repr(0.1 * 3 + 0.2)  # repr: every digit, exact round trip
    assert (last["Input_Token_Length"], last["Context_Size"], last["phase"]) == ("10", "12", "decode")
    assert [r["warmup"] for r in rows] == ["true", "false", "false", "false"]
    assert (last["model"], last["quant"], last["gpu_name"], last["token_text"]) == ("tiny", "8bit", "H100", "t3")
    assert last["timestamp"] == "2025-06-15T15:06:43.250000+00:00"
    assert last["prompt"] == 'why, "really"?'
    assert (last["gc_collections"], last["gc_ms"], last["session_status"]) == ("2", "0.5", "finished")


@pytest.mark.slow
def test_export_by_id_prefix_and_without_warmup(data_dir: Path, tmp_path: Path) -> None:
    assert run_cli(data_dir, "export", "meas", "warm", "-o", str(tmp_path / "both.csv")).returncode == 0
    assert len(read_rows(tmp_path / "both.csv")) == 4
    assert run_cli(data_dir, "export", "--all", "--no-warmup", "-o", str(tmp_path / "measured.csv")).returncode == 0
    assert {r["Prompt_ID"] for r in read_rows(tmp_path / "measured.csv")} == {"measured"}


@pytest.mark.slow
def test_export_to_stdout_keeps_the_summary_out_of_the_csv(data_dir: Path) -> None:
    result = run_cli(data_dir, "export", "measured", "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == ",".join(ALL_COLUMNS)
    assert len(result.stdout.splitlines()) == 4
    assert "exported 3 token rows" in result.stderr


@pytest.mark.slow
def test_existing_file_is_never_overwritten_without_force(data_dir: Path, tmp_path: Path) -> None:
    # GIVEN a file the user already has
    out = tmp_path / "precious.csv"
    out.write_text("not ours\n")
    # WHEN exporting onto it without --force: refused, file untouched, no temp file left
    assert_one_error_line(run_cli(data_dir, "export", "--all", "-o", str(out)), "already exists", "--force")
    assert out.read_text() == "not ours\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "precious.csv"]
    # WHEN with --force: replaced by the export
    assert run_cli(data_dir, "export", "--all", "-o", str(out), "--force").returncode == 0
    assert len(read_rows(out)) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "precious.csv"]


@pytest.mark.parametrize("args, fragments", [
    (["nosuch", "-o", "{tmp}/x.csv"], ["no session 'nosuch'"]),
    (["-o", "{tmp}/x.csv"], ["session ids", "--all"]),
    (["measured", "--all", "-o", "{tmp}/x.csv"], ["not both"]),
    (["--all", "-o", "{tmp}/no_such_dir/x.csv"], ["does not exist"]),
    (["--all", "-o", "{tmp}"], ["is a directory"]),
])
@pytest.mark.slow
def test_bad_export_arguments_write_nothing(args, fragments, data_dir: Path, tmp_path: Path) -> None:
    result = run_cli(data_dir, "export", *[a.format(tmp=tmp_path) for a in args])
    assert_one_error_line(result, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.slow
def test_nothing_to_export_writes_no_file(tmp_path: Path) -> None:
    SessionStore(tmp_path / "empty").close()
    assert_one_error_line(run_cli(tmp_path / "empty", "export", "--all", "-o", str(tmp_path / "x.csv")),
                          "nothing to export")
    assert not (tmp_path / "x.csv").exists()


def test_a_failure_mid_export_leaves_no_file(tmp_path: Path) -> None:
    # rows that fail half way, as a store read or a full disk would
    def rows_then_failure():
        yield dict.fromkeys(ALL_COLUMNS, 1)
        raise OSError(28, "No space left on device")

    with pytest.raises(InputError, match="No space left on device"):
        write_csv(tmp_path / "half.csv", rows_then_failure())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_export_modules_stay_light() -> None:
    # `tokenlat-tui --help` imports every command module: pandas must not come with them
    code = ("import sys, tui.commands.export, tui.commands.import_csv, profiler.csv_io; "
            "print('pandas' in sys.modules, 'textual' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.stdout.split() == ["False", "False"], result.stderr
