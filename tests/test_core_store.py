"""The SQLite session store (issue 2 §4): schema version, flushing, orphans, refusing what isn't ours."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, cli_env, error_lines, file_digest, read_only_query, run_cli
from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.collect import Collector, RunSettings
from profiler.errors import StoreError
from profiler.records import SessionMeta, TokenRecord
from profiler.store import SessionStore, store_path
from profiler.store.schema import APP_ID, SCHEMA_VERSION
from profiler.store.writer import FLUSH_EVERY_TOKENS


def scripted_session(store: SessionStore, tokens: int = 10, prompt: str = "stored") -> str:
    clock = ManualClock()
    backend = ScriptedBackend(prefill_ms=20, decode_ms=5, clock=clock)
    settings = RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=0, system_metrics=False)
    (outcome,) = Collector(backend, store, settings, clock=clock).run([prompt])
    return outcome.session_id


def token(k: int) -> TokenRecord:
    return TokenRecord(k=k, context_size=4 + k - 1, latency_ms=5.0, phase="prefill" if k == 1 else "decode",
                       token_id=97, token_text="a", wall_time=1.7e9 + k)


def stored_token_count(path, session_id) -> int:
    return read_only_query(path, "SELECT COUNT(*) FROM tokens WHERE session_id=?", (session_id,))[0][0]


def test_the_store_records_its_app_and_schema_version_and_uses_wal(private_data_dir):
    store = SessionStore()
    assert store.path == private_data_dir / "sessions.sqlite3"
    info = dict(read_only_query(store.path, "SELECT key, value FROM store_info"))
    assert info["app"] == APP_ID
    assert int(info["schema_version"]) == SCHEMA_VERSION
    assert read_only_query(store.path, "PRAGMA journal_mode") == [("wal",)]


def test_data_dir_argument_overrides_the_environment(tmp_path, private_data_dir):
    store = SessionStore(tmp_path / "elsewhere")
    assert store.path == tmp_path / "elsewhere" / "sessions.sqlite3"
    assert not (private_data_dir / "sessions.sqlite3").exists()


def test_tokens_reach_disk_every_64_tokens_while_the_session_runs():
    store = SessionStore()
    writer = store.begin_session(SessionMeta(prompt="p", input_tokens=4, model="m"))
    for k in range(1, FLUSH_EVERY_TOKENS):
        writer.add_token(token(k))
        writer.flush_if_due()
    # fast tokens: neither 64 tokens nor 250 ms yet (unless this box stalled for 250 ms)
    assert stored_token_count(store.path, writer.session_id) in (0, FLUSH_EVERY_TOKENS - 1)
    writer.add_token(token(FLUSH_EVERY_TOKENS))
    writer.flush_if_due()
    assert stored_token_count(store.path, writer.session_id) == FLUSH_EVERY_TOKENS
    writer.finish("finished")
    assert store.get_session(writer.session_id)["status"] == "finished"


def test_tokens_reach_disk_after_250_ms_even_when_fewer_than_64():
    import time

    store = SessionStore()
    writer = store.begin_session(SessionMeta(prompt="p", input_tokens=4, model="m"))
    writer.add_token(token(1))
    writer.flush_if_due()
    time.sleep(0.3)
    writer.add_token(token(2))
    assert writer.flush_if_due()
    assert stored_token_count(store.path, writer.session_id) == 2
    writer.finish("finished")


def test_a_running_session_of_a_dead_process_is_recovered_as_interrupted_with_its_tokens():
    store = SessionStore()
    writer = store.begin_session(SessionMeta(prompt="p", input_tokens=4, model="m"))
    for k in range(1, 6):
        writer.add_token(token(k))
    writer.flush()
    # make the row belong to a process that is gone (a pid above the kernel's maximum)
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE sessions SET pid=?, pid_started=1.0 WHERE id=?", (2**22 + 12345, writer.session_id))
    conn.commit()
    conn.close()
    assert SessionStore().get_session(writer.session_id)["status"] == "interrupted"
    session = SessionStore().get_session(writer.session_id)
    assert session["tokens"] == 5 and session["error"]


def test_a_running_session_of_a_live_process_is_left_running():
    store = SessionStore()
    writer = store.begin_session(SessionMeta(prompt="p", input_tokens=4, model="m"))
    writer.add_token(token(1))
    writer.flush()
    assert SessionStore().list_sessions()[0]["status"] == "running"  # this process still owns it
    assert SessionStore().list_sessions()[0]["tokens"] == 1  # live summary of a running session
    writer.finish("finished")


def test_deleting_a_session_deletes_its_tokens():
    store = SessionStore()
    keep, drop = scripted_session(store), scripted_session(store)
    assert store.delete_sessions([drop]) == 1
    assert [s["id"] for s in store.list_sessions()] == [keep]
    assert stored_token_count(store.path, drop) == 0
    assert stored_token_count(store.path, keep) == 10


# -- refusing files that are not ours, without touching them

def corrupt_file(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(64 * 1024))


def foreign_database(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    conn.commit()
    conn.close()


def newer_store(path):
    store = SessionStore(path.parent)
    scripted_session(store)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE store_info SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("make, words", [(corrupt_file, "not an SQLite database"),
                                         (foreign_database, "another program"),
                                         (newer_store, "newer")],
                         ids=["random-bytes", "foreign-sqlite", "newer-schema"])
@pytest.mark.slow
def test_a_store_file_that_is_not_ours_is_refused_and_left_byte_for_byte(tmp_path, make, words):
    path = store_path(tmp_path / "store")
    make(path)
    before = file_digest(path)
    # in-process: a StoreError naming the file
    with pytest.raises(StoreError) as raised:
        SessionStore(path.parent)
    assert str(path) in str(raised.value) and words in str(raised.value)
    # the CLI: one line naming the file, non-zero exit, no traceback (listing and collecting alike)
    for args in (["sessions", "--json"], ["show", "abc"], ["collect", "hi", "--max-new-tokens", "2"]):
        result = run_cli(*args, "--data-dir", str(path.parent))
        assert result.returncode != 0
        lines = error_lines(result.stderr)
        assert len(lines) == 1 and str(path) in lines[0], result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
    assert file_digest(path) == before


@pytest.mark.slow
def test_a_store_damaged_past_its_first_pages_gives_one_line_not_a_traceback(tmp_path):
    data_dir = tmp_path / "store"
    store = SessionStore(data_dir)
    ids = [scripted_session(store, tokens=400, prompt="x" * 200) for _ in range(3)]
    store.close()
    path = store_path(data_dir)
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # the header and the schema pages stay intact
        handle.seek(12 * 4096)
        handle.write(os.urandom(min(10 * 4096, size - 12 * 4096)))
    before = file_digest(path)
    failed = 0
    for session_id in ids:
        result = run_cli("show", session_id, "--json", data_dir=data_dir)
        assert "Traceback" not in result.stderr
        if result.returncode != 0:
            failed += 1
            lines = error_lines(result.stderr)
            assert len(lines) == 1 and str(path) in lines[0], result.stderr
    assert failed, "the damage was never reached: this test proves nothing"
    assert file_digest(path) == before


@pytest.mark.slow
def test_a_data_dir_that_cant_be_created_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a regular file where a directory should be")
    with pytest.raises(StoreError, match="data dir"):
        SessionStore(blocker / "sub")
    result = run_cli("sessions", "--data-dir", str(blocker / "sub"))
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and str(blocker / "sub") in lines[0] and "Traceback" not in result.stderr
    assert blocker.read_text() == "a regular file where a directory should be"


@pytest.mark.slow
def test_a_read_only_data_dir_is_one_clear_error(tmp_path):
    import shutil

    data_dir = tmp_path / "ro"
    data_dir.mkdir()
    data_dir.chmod(0o500)
    prefix: list[str] = []
    if os.geteuid() == 0:
        # root writes through chmod: run the CLI as root *without* the capability that allows it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: a read-only directory can't be made here")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    else:
        with pytest.raises(StoreError, match="not writable"):
            SessionStore(data_dir)
    try:
        result = subprocess.run([*prefix, sys.executable, "-m", "tui", "sessions", "--data-dir", str(data_dir)],
                                cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True, timeout=60)
    finally:
        data_dir.chmod(0o700)
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and str(data_dir) in lines[0] and "not writable" in lines[0], result.stderr
    assert list(data_dir.iterdir()) == []


def test_an_older_store_is_migrated_in_place(tmp_path):
    # a version-1 store, as the first release made it (an empty file is not ours: test_store_files)
    from profiler.store.schema import APP_ID, MIGRATIONS

    path = store_path(tmp_path / "store")
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.executemany("INSERT INTO store_info VALUES (?, ?)", [("app", APP_ID), ("schema_version", "1")])
    conn.commit()
    conn.close()
    store = SessionStore(path.parent)
    assert int(dict(read_only_query(path, "SELECT key, value FROM store_info"))["schema_version"]) == SCHEMA_VERSION
    scripted_session(store)
    assert len(store.list_sessions()) == 1
