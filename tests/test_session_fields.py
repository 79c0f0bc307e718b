"""One definition of a session and a token (profiler/session_fields.py): the schema, the dataclasses,
the CSV and the configuration fingerprint all follow it."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, one_row_csv, read_only_query
from profiler.backends.base import BackendInfo
from profiler.backends.scripted import ScriptedBackend
from profiler.clock import ManualClock
from profiler.collect import Collector, RunSettings
from profiler.columns import ALL_COLUMNS, EXTRA_COLUMNS, SEED_COLUMNS
from profiler.csv_io import export_sessions, import_csv
from profiler.records import DECODE, PREFILL, SessionMeta, TokenRecord
from profiler.session_fields import (CSV_LAYOUT, FINGERPRINT_FIELDS, META_FIELDS, SESSION_FIELDS, SPEED_SETTINGS,
                                     TOKEN_FIELDS, config_fingerprint)
from profiler.store import SessionStore


def declared_columns(path: Path, table: str) -> dict[str, str]:
    """column -> its declaration as the migrations made it ("TEXT NOT NULL DEFAULT ''")."""
    declared = {}
    for _cid, name, sql_type, notnull, default, primary_key in read_only_query(path, f"PRAGMA table_info({table})"):
        parts = [sql_type]
        if primary_key and table == "sessions":
            parts.append("PRIMARY KEY")
        if notnull:
            parts.append("NOT NULL")
        if default is not None:
            parts.append(f"DEFAULT {default}")
        declared[name] = " ".join(parts)
    return declared


def test_the_table_says_what_the_migrated_schema_has():
    store = SessionStore()
    sessions = declared_columns(store.path, "sessions")
    assert {f.name: f.sql for f in SESSION_FIELDS} == sessions
    tokens = declared_columns(store.path, "tokens")
    tokens.pop("session_id")
    assert {f.name: re.sub(r"DEFAULT 0\.0$", "DEFAULT 0", f.sql) for f in TOKEN_FIELDS} == tokens


def test_the_dataclasses_and_the_csv_follow_the_table():
    assert [f.name for f in dataclasses.fields(SessionMeta)] == [f.name for f in META_FIELDS]
    assert [f.name for f in dataclasses.fields(TokenRecord)] == [f.name for f in TOKEN_FIELDS]
    assert ALL_COLUMNS == list(CSV_LAYOUT) and ALL_COLUMNS[:5] == SEED_COLUMNS
    # the first release's layout is a prefix: readers that go by position keep working
    assert ALL_COLUMNS[5:5 + len(EXTRA_COLUMNS)] == EXTRA_COLUMNS and ALL_COLUMNS[27] == "timing"
    for f in META_FIELDS:
        if f.from_backend:
            assert hasattr(BackendInfo(model="m"), f.from_backend), f.name


def meta(**changes) -> SessionMeta:
    base = SessionMeta(prompt="p", input_tokens=4, model="m", dtype="float16", device="cuda:0", attn="sdpa",
                       gpu_name="H100", settings={"max_new_tokens": 8, "cache": "static", "compile": True})
    return dataclasses.replace(base, **changes)


def test_the_fingerprint_changes_with_what_determines_speed_and_nothing_else():
    reference = config_fingerprint(meta())
    assert re.fullmatch(r"[0-9a-f]{12}", reference)
    # a session dict as the store lists it (settings as JSON text or parsed) gives the same fingerprint
    as_row = {**dataclasses.asdict(meta()), "settings": json.dumps(meta().settings)}
    assert config_fingerprint(as_row) == reference
    changed = {"model": "other", "quant": "int8", "dtype": "bfloat16", "device": "cpu", "backend": "openai",
               "batch_size": 8, "attn": "eager", "gpu_name": "A100"}
    assert set(changed) == set(FINGERPRINT_FIELDS)
    seen = {reference}
    for name, value in changed.items():
        seen.add(config_fingerprint(meta(**{name: value})))
    for key in SPEED_SETTINGS:
        seen.add(config_fingerprint(meta(settings={**meta().settings, key: "something else"})))
    assert len(seen) == 1 + len(changed) + len(SPEED_SETTINGS)
    # what doesn't change speed doesn't change the configuration
    same = [meta(prompt="another prompt", input_tokens=900, warmup=True, repeat_index=3, batch_index=2,
                 sweep_id="s", cell="c", settings={**meta().settings, "max_new_tokens": 64}, environment={"x": 1})]
    assert {config_fingerprint(m) for m in same} == {reference}


def test_the_fingerprint_is_the_same_in_another_process():
    code = ("from profiler.records import SessionMeta; from profiler.session_fields import config_fingerprint; "
            "print(config_fingerprint(SessionMeta(prompt='p', input_tokens=4, model='m', dtype='float16', "
            "device='cuda:0', attn='sdpa', gpu_name='H100', "
            "settings={'max_new_tokens': 8, 'cache': 'static', 'compile': True})))")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == config_fingerprint(meta())


def test_every_new_session_is_written_with_its_configuration(private_data_dir):
    store = SessionStore()
    clock = ManualClock()
    backend = ScriptedBackend(clock=clock, prefill_ms=5.0, decode_ms=1.0)
    Collector(backend, store, RunSettings(max_new_tokens=3, warmup=1, system_metrics=False), clock=clock).run(["hi"])
    sessions = store.list_sessions()
    assert len(sessions) == 2
    expected = config_fingerprint({**sessions[0], "settings": store.get_session(sessions[0]["id"])["settings"]})
    assert {s["config"] for s in sessions} == {expected}
    assert {s["timing"] for s in sessions} == {"device"}  # taken from the backend, no longer only in environment
    # a configuration given by the caller is kept as given
    writer = store.begin_session(meta(config="given"))
    writer.finish()
    assert store.get_session(writer.session_id)["config"] == "given"


def test_fields_known_only_at_the_end_are_stored_by_finish(private_data_dir):
    store = SessionStore()
    writer = store.begin_session(meta(batch_size=4, batch_index=3))
    writer.add_token(TokenRecord(1, 4, 10.0, PREFILL, 1, "a", 1.75e9))
    writer.add_token(TokenRecord(2, 5, 2.0, DECODE, 2, "b", 1.75e9 + 1))
    writer.finish(eos_k=2, compile_ms=1234.5, peak_memory_mb=2048.0)
    stored = store.get_session(writer.session_id)
    assert (stored["batch_size"], stored["batch_index"], stored["eos_k"]) == (4, 3, 2)
    assert (stored["compile_ms"], stored["peak_memory_mb"], stored["tokens"]) == (1234.5, 2048.0, 2)


def write_session(store: SessionStore, **changes) -> str:
    writer = store.begin_session(meta(**changes))
    for k in (1, 2, 3):
        writer.add_token(TokenRecord(k, 3 + k, 10.0 / k, PREFILL if k == 1 else DECODE, k, "xyz"[k - 1], 1.75e9 + k))
    writer.finish(eos_k=3, compile_ms=77.25, peak_memory_mb=512.5)
    return writer.session_id


def test_the_new_columns_export_and_import_back(private_data_dir, tmp_path):
    original = SessionStore(tmp_path / "a")
    session_id = write_session(original, batch_size=8, batch_index=5, sweep_id="sweep-1", cell="b8-l16-fp32")
    export_sessions(original, None, tmp_path / "out.csv")
    header = (tmp_path / "out.csv").read_text().splitlines()[0].split(",")
    assert header[-9:-2] == ["batch_index", "eos_k", "sweep_id", "cell", "config", "compile_ms", "peak_memory_mb"]
    assert header[-2:] == ["cpu_wait_ms", "preemptions"]  # schema v4, appended after v3's
    copy = SessionStore(tmp_path / "b")
    import_csv(copy, tmp_path / "out.csv")
    before, after = original.get_session(session_id), copy.get_session(session_id)
    for name in ("batch_size", "batch_index", "eos_k", "sweep_id", "cell", "config", "compile_ms", "peak_memory_mb",
                 "timing", "quant", "dtype", "attn", "gpu_name"):
        assert after[name] == before[name], name
    assert after["config"] == config_fingerprint(meta(batch_size=8))


def test_an_export_of_the_previous_release_still_imports(private_data_dir, tmp_path):
    original = SessionStore(tmp_path / "a")
    session_id = write_session(original)
    export_sessions(original, None, tmp_path / "new.csv")
    with open(tmp_path / "new.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    v2_width = len(SEED_COLUMNS) + len(EXTRA_COLUMNS) + 1  # + timing: what schema v2 exported
    old = io.StringIO()
    csv.writer(old, lineterminator="\r\n").writerows(row[:v2_width] for row in rows)
    (tmp_path / "old.csv").write_text(old.getvalue())
    copy = SessionStore(tmp_path / "b")
    result = import_csv(copy, tmp_path / "old.csv")
    assert result.format == "tokenlat-tui" and result.ignored_columns == [] and result.rows == 3
    imported = copy.get_session(session_id)
    assert (imported["batch_index"], imported["eos_k"], imported["sweep_id"], imported["cell"]) == (0, None, None, None)
    # no config column: the fingerprint is computed from the fields the file has (no settings in a CSV)
    assert imported["config"] == config_fingerprint({**imported, "settings": {}})


@pytest.mark.parametrize("cell, problem", [("eos_k=0", "eos_k is 0; it can't be below 1"),
                                           ("peak_memory_mb=-1", "peak_memory_mb is -1; it must be a finite number"),
                                           ("batch_index=x", "batch_index is 'x', not a whole number")])
def test_bad_new_cells_are_refused_naming_the_line(private_data_dir, tmp_path, cell, problem):
    column, value = cell.split("=")
    one_row_csv(tmp_path / "bad.csv", column, value, prompt="s")
    from profiler.errors import CsvFormatError
    with pytest.raises(CsvFormatError, match=re.escape(f"line 2: {problem}")):
        import_csv(SessionStore(), tmp_path / "bad.csv")


def test_only_the_transaction_helper_opens_and_rolls_back_transactions():
    sources = [p for p in (REPO_ROOT / "profiler").rglob("*.py") if p.name != "transaction.py"]
    sources += list((REPO_ROOT / "tui").rglob("*.py")) + list((REPO_ROOT / "model").rglob("*.py"))
    offenders = [str(p.relative_to(REPO_ROOT)) for p in sources
                 if re.search(r"""["'](BEGIN|ROLLBACK|COMMIT)\b""", p.read_text())]
    assert offenders == []
