"""A store written by the schema v2 release (tests/data/store-v2.sqlite, made by make_store_v2.py at
commit 0f0a924) opens, migrates to the current schema, and keeps every session, token, chunk,
metric, remote row and run; the CLI reads it."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from conftest import read_only_query, run_cli
from profiler.store import SessionStore
from profiler.store.location import store_path
from profiler.store.schema import SCHEMA_VERSION

V2_STORE = Path(__file__).resolve().parent / "data" / "store-v2.sqlite"

# every row of every table the v2 store has, ordered so that equal content gives equal digests
V2_TABLES = {
    "tokens": ("session_id, k, context_size, latency_ms, phase, token_id, token_text, wall_time, forward_ms,"
               " sample_ms, gc_collections, gc_ms", "session_id, k"),
    "chunks": ("session_id, n, arrival_ms, gap_ms, tokens, content, text, gc_collections", "session_id, n"),
    "metrics": ("session_id, wall_time, gpu_util, gpu_mem_mb, gpu_temp_c, sm_clock_mhz, power_w, throttle_reasons,"
                " cpu_util, rss_mb", "session_id, wall_time"),
    "remote_sessions": ("*", "session_id"),
    "runs": ("id, started, ended, settings, summary", "id"),
    "sessions": ("id, status, started, ended, prompt, input_tokens, warmup, repeat_index, model, model_label, quant,"
                 " dtype, device, backend, batch_size, attn, gpu_name, settings, environment, source, host, pid,"
                 " pid_started, error, tokens, ttft_ms, decode_p50_ms, decode_p95_ms, decode_p99_ms, decode_mean_ms,"
                 " tokens_per_s, timing, run_id", "id"),
}


def digest(db: Path) -> dict[str, tuple[int, str]]:
    """(row count, sha256 of the rows) per table, plus the sum of token latencies."""
    result = {}
    for table, (columns, order) in V2_TABLES.items():
        rows = read_only_query(db, f"SELECT {columns} FROM {table} ORDER BY {order}")
        result[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    result["latency_sum"] = read_only_query(db, "SELECT round(sum(latency_ms), 9) FROM tokens")[0]
    return result


@pytest.fixture
def v2_store(private_data_dir) -> Path:
    path = store_path(private_data_dir)
    shutil.copyfile(V2_STORE, path)  # the checked-in file is never opened for writing
    path.chmod(0o600)
    return path


def test_the_checked_in_store_is_schema_v2_with_every_kind_of_session(v2_store):
    info = dict(read_only_query(v2_store, "SELECT key, value FROM store_info"))
    assert info["schema_version"] == "2"
    statuses = {row[0] for row in read_only_query(v2_store, "SELECT status FROM sessions")}
    assert statuses == {"finished", "interrupted", "failed"}
    counts = digest(v2_store)
    assert counts["tokens"][0] == 118 and counts["chunks"][0] == 10 and counts["metrics"][0] == 5
    assert counts["remote_sessions"][0] == 2 and counts["runs"][0] == 1 and counts["sessions"][0] == 12


def test_opening_migrates_to_the_current_schema_keeping_every_row(v2_store):
    before = digest(v2_store)
    store = SessionStore()
    store.close()
    assert SCHEMA_VERSION == 5
    info = dict(read_only_query(v2_store, "SELECT key, value FROM store_info"))
    assert info["schema_version"] == str(SCHEMA_VERSION)
    assert digest(v2_store) == before
    assert read_only_query(v2_store, "PRAGMA integrity_check") == [("ok",)]
    # the v3 columns and tables exist, with their defaults on the old rows
    defaults = read_only_query(v2_store, "SELECT DISTINCT batch_index, eos_k, sweep_id, cell, config, compile_ms,"
                                         " peak_memory_mb FROM sessions")
    assert defaults == [(0, None, None, None, "", None, None)]
    assert read_only_query(v2_store, "SELECT kind FROM runs") == [("remote",)]
    assert read_only_query(v2_store, "SELECT count(*) FROM sweeps") == [(0,)]
    assert read_only_query(v2_store, "SELECT count(*) FROM sweep_cells") == [(0,)]
    # the v4 token columns exist, NULL on old rows: their CPU wait was not measured
    assert read_only_query(v2_store, "SELECT DISTINCT cpu_wait_ms, preemptions FROM tokens") == [(None, None)]
    # the v5 tables of profiled passes (collect --breakdown) exist, empty
    assert read_only_query(v2_store, "SELECT count(*) FROM profiled_passes") == [(0,)]
    assert read_only_query(v2_store, "SELECT count(*) FROM profiled_pass_sessions") == [(0,)]


def test_the_migrated_store_reads_as_before_in_process(v2_store):
    store = SessionStore()
    sessions = store.list_sessions()
    assert len(sessions) == 12
    remote = [s for s in sessions if s["timing"] == "arrival"]
    assert len(remote) == 2 and {s["run_id"] for s in remote} == {"run-v2-remote"}
    interrupted = next(s for s in sessions if s["status"] == "interrupted")
    assert interrupted["tokens"] == 6 and len(store.session_tokens(interrupted["id"])) == 6
    assert len(store.token_rows()) == 118


@pytest.mark.slow
def test_the_cli_reads_the_migrated_store(v2_store, private_data_dir, tmp_path):
    listed = run_cli("sessions", "--json", data_dir=private_data_dir)
    assert listed.returncode == 0, listed.stderr
    sessions = json.loads(listed.stdout)
    assert len(sessions) == 12 and sum(s["tokens"] for s in sessions) == 118
    remote = next(s for s in sessions if s["model"] == "served-model")
    shown = run_cli("show", remote["id"][:8], "--json", data_dir=private_data_dir)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["id"] == remote["id"] and len(detail["tokens"]) == remote["tokens"]
    assert run_cli("show", remote["id"][:8], data_dir=private_data_dir).returncode == 0
    exported = run_cli("export", "--all", "-o", "-", data_dir=private_data_dir)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 118
    latencies = sorted(round(float(r["Per_Token_Latency_ms"]), 9) for r in rows)
    stored = sorted(round(r[0], 9) for r in read_only_query(v2_store, "SELECT latency_ms FROM tokens"))
    assert latencies == stored
