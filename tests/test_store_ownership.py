"""Issue 22: the store is opened only when it is ours, where it seems to be, and sound before a write.

Each hostile store is made the way an attacker (or another program) would: with the sqlite3
module or plain file operations on a real store file. "Untouched" is checked strictly: the sha256
and the directory listing (names, sizes, modes) are the same after the attempt, so no -wal/-shm
appears either, and a link's target keeps its bytes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, cli_env, error_lines, file_digest, one_row_csv, read_only_query, run_cli
from profiler.errors import StoreError
from profiler.store import SessionStore, store_path
from test_core_store import scripted_session
from test_store_files import listing


def our_store(data_dir) -> os.PathLike:
    store = SessionStore(data_dir)
    scripted_session(store)
    store.close()
    return store_path(data_dir)


def run_sql(path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()


FOREIGN_OBJECTS = [
    ("CREATE TRIGGER spy AFTER INSERT ON tokens BEGIN DELETE FROM sessions; END", "trigger spy"),
    ("CREATE VIEW peek AS SELECT prompt FROM sessions", "view peek"),
    ("CREATE TABLE extra (x)", "table extra"),
    ("CREATE INDEX odd ON tokens(latency_ms)", "index odd"),
    ("ALTER TABLE sessions ADD COLUMN evil TEXT", "table sessions not as tokenlat-tui made it"),
    ("DROP INDEX sessions_status", "index sessions_status missing"),
    ("PRAGMA application_id=42", "application_id 42"),
]


@pytest.mark.parametrize("sql, words", FOREIGN_OBJECTS, ids=[w.split()[0] + "-" + w.split()[1] for _, w in FOREIGN_OBJECTS])
def test_our_store_with_something_we_didnt_create_is_refused_naming_it_and_left_untouched(tmp_path, sql, words):
    path = our_store(tmp_path / "store")
    run_sql(path, sql)
    before = (file_digest(path), listing(path.parent))
    with pytest.raises(StoreError) as raised:
        SessionStore(path.parent)
    message = str(raised.value)
    assert str(path) in message and words in message and "\n" not in message, message
    assert (file_digest(path), listing(path.parent)) == before


def test_a_new_store_carries_our_application_id_and_passes_its_own_check(tmp_path):
    from profiler.store.schema import APPLICATION_ID

    path = our_store(tmp_path / "store")
    assert read_only_query(path, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert len(SessionStore(path.parent).list_sessions()) == 1


@pytest.mark.slow
def test_the_cli_refuses_a_store_with_a_foreign_trigger_in_one_line_and_the_trigger_never_runs(tmp_path):
    path = our_store(tmp_path / "store")
    # the trigger would empty the store on our next insert (and could do anything SQL can)
    run_sql(path, "CREATE TRIGGER wipe AFTER INSERT ON tokens BEGIN DELETE FROM sessions; END")
    before = (file_digest(path), listing(path.parent))
    csv = one_row_csv(tmp_path / "seed.csv")
    for args in (["sessions"], ["import", str(csv)], ["export", "--all", "-o", str(tmp_path / "out.csv")]):
        result = run_cli(*args, "--data-dir", str(path.parent))
        lines = error_lines(result.stderr)
        assert result.returncode == 2 and len(lines) == 1, (args, result.stderr)
        assert "trigger wipe" in lines[0] and str(path) in lines[0] and "Traceback" not in result.stderr, lines
    assert (file_digest(path), listing(path.parent)) == before


# -- files that are not where they seem

def test_an_empty_file_at_the_store_path_is_refused_untouched(tmp_path):
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    path = store_path(data_dir)
    path.write_bytes(b"")
    before = listing(data_dir)
    for _attempt in range(2):
        with pytest.raises(StoreError, match="empty file that tokenlat-tui didn't create"):
            SessionStore(data_dir)
    assert listing(data_dir) == before and path.stat().st_size == 0


def test_an_empty_sqlite_database_we_didnt_create_is_refused_untouched(tmp_path):
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    path = store_path(data_dir)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size=512")
    conn.execute("VACUUM")  # a valid, non-empty SQLite file with no tables
    conn.close()
    before = (file_digest(path), listing(data_dir))
    with pytest.raises(StoreError, match="empty SQLite database that tokenlat-tui didn't create"):
        SessionStore(data_dir)
    assert (file_digest(path), listing(data_dir)) == before


@pytest.mark.parametrize("suffix", ["-shm", "-wal", "-journal"])
def test_a_companion_file_that_is_a_link_is_refused_before_sqlite_opens_it(tmp_path, suffix):
    path = our_store(tmp_path / "store")
    victim = tmp_path / "elsewhere" / "precious.txt"
    victim.parent.mkdir()
    victim.write_bytes(b"not yours to write\n" * 100)
    companion = path.with_name(path.name + suffix)
    companion.symlink_to(victim)
    before = (file_digest(path), listing(path.parent), file_digest(victim))
    with pytest.raises(StoreError) as raised:
        SessionStore(path.parent)
    assert str(companion) in str(raised.value) and "symbolic link" in str(raised.value)
    assert (file_digest(path), listing(path.parent), file_digest(victim)) == before


def test_a_companion_file_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    path = our_store(tmp_path / "store")
    os.mkfifo(path.with_name(path.name + "-wal"))
    with pytest.raises(StoreError, match="not a regular file"):
        SessionStore(path.parent)


def test_a_new_store_never_shows_up_empty_and_a_killed_creators_leftover_is_swept(tmp_path):
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    leftover = data_dir / f".sessions.sqlite3.{dead}.0badc0de.new"
    leftover.write_bytes(b"half made")
    SessionStore(data_dir).close()
    assert not leftover.exists()
    assert sorted(p.name for p in data_dir.iterdir()) == ["sessions.sqlite3"]
    assert store_path(data_dir).stat().st_size > 0


# -- damage: refused for every write, read-only export of what is readable

def damage_last_page(path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # no connection is open: no locks of this process to lose
        handle.seek(size - 4096)
        handle.write(os.urandom(4096))


def damaged_in_another_process(data_dir, sessions: int = 3) -> tuple:
    """A store of `sessions` sessions whose last page is random bytes, made in a subprocess (so this
    process has never checked it and holds nothing of it)."""
    make = ("import sys; sys.path.insert(0, 'tests')\n"
            "from profiler.store import SessionStore\n"
            "from test_core_store import scripted_session\n"
            f"store = SessionStore(sys.argv[1])\n"
            f"print(' '.join(scripted_session(store, tokens=400, prompt='x' * 200) for _ in range({sessions})))\n")
    made = subprocess.run([sys.executable, "-c", make, str(data_dir)], cwd=REPO_ROOT, env=cli_env(data_dir),
                          capture_output=True, text=True, timeout=120, check=True)
    path = store_path(data_dir)
    damage_last_page(path)
    return path, made.stdout.split()


@pytest.mark.slow
def test_a_store_with_a_damaged_last_page_is_refused_for_every_write_in_one_line(tmp_path):
    path, ids = damaged_in_another_process(tmp_path / "store")
    before = file_digest(path)
    csv = one_row_csv(tmp_path / "seed.csv")
    for args in (["collect", "hello", "--max-new-tokens", "2", "--warmup", "0"], ["import", str(csv)],
                 ["delete", "--yes", ids[0]]):
        result = run_cli(*args, "--data-dir", str(path.parent), timeout=180)
        errors = [line for line in error_lines(result.stderr) if "error:" in line]
        assert result.returncode == 2 and len(errors) == 1, (args, result.stderr)
        assert "damaged" in errors[0] and str(path) in errors[0] and "Traceback" not in result.stderr, errors
    assert file_digest(path) == before


@pytest.mark.slow
def test_export_reads_a_damaged_store_read_only_saying_so_in_one_line(tmp_path):
    path, ids = damaged_in_another_process(tmp_path / "store")
    before = (file_digest(path), listing(path.parent))
    out = tmp_path / "saved.csv"
    result = run_cli("export", "--all", "-o", str(out), "--json", "--data-dir", str(path.parent))
    assert result.returncode == 0, result.stderr
    notes = error_lines(result.stderr)
    assert len(notes) == 1 and "damaged" in notes[0] and "read-only" in notes[0], result.stderr
    import json

    written = json.loads(result.stdout)
    # the damage costs the sessions on the bad page, never the others; nothing is written to the store
    assert written["sessions"] + written["unreadable_sessions"] == len(ids) and written["sessions"] >= 1
    assert written["rows"] == 400 * written["sessions"]
    assert len(out.read_text().splitlines()) == written["rows"] + 1
    assert (file_digest(path), listing(path.parent)) == before
