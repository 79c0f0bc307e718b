"""The store file (issue 8 §5): what is not ours is refused untouched, damage stops bulk writes, privacy.

"Untouched" is checked the strict way: the file's sha256 and the directory listing (names, sizes,
modes) are the same after every command tried on it, so no -wal/-shm/-journal appears either.
"""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from conftest import error_lines, file_digest, one_row_csv, read_only_query, run_cli
from profiler.errors import InputError, StoreError
from profiler.records import SessionMeta, TokenRecord
from profiler.store import SessionStore, store_path
from profiler.store.schema import SCHEMA_VERSION
from test_core_store import scripted_session


def listing(directory) -> list[tuple]:
    """Names, sizes and modes (lstat: a link is listed as a link) of everything in `directory`."""
    return sorted((p.name, p.lstat().st_size, p.lstat().st_mode) for p in directory.iterdir())


# -- foreign and garbage files

def view_only_database(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE VIEW answer AS SELECT 42 AS value")
    conn.close()


def empty_with_application_id(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id=1095517517")
    conn.close()


def empty_with_user_version(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=7")
    conn.close()


def garbage_schema_version(path):
    store = SessionStore(path.parent)
    scripted_session(store)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE store_info SET value='abc' WHERE key='schema_version'")
    conn.commit()
    conn.close()


def missing_schema_version(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO store_info VALUES ('app', 'tokenlat-tui')")
    conn.commit()
    conn.close()


def wal_mode_with_random_tail(path):
    """Our own store (WAL mode, sound header) with random bytes over its schema pages."""
    store = SessionStore(path.parent)
    scripted_session(store)
    store.close()
    with open(path, "r+b") as handle:  # no connection is open here: this process holds no locks to lose
        handle.seek(100)
        handle.write(os.urandom(4096 - 100))


FOREIGN = [
    (view_only_database, "another program"),
    (empty_with_application_id, "application_id 1095517517"),
    (empty_with_user_version, "user_version 7"),
    (garbage_schema_version, "schema version 'abc'"),
    (missing_schema_version, "schema version None"),
    (wal_mode_with_random_tail, "corrupt"),
]


@pytest.mark.parametrize("make, words", FOREIGN, ids=[m.__name__ for m, _ in FOREIGN])
def test_a_file_that_is_not_a_sound_store_is_refused_and_nothing_beside_it_changes(tmp_path, make, words):
    path = store_path(tmp_path / "store")
    path.parent.mkdir()
    make(path)
    before = (file_digest(path), listing(path.parent))
    for _attempt in range(2):  # a second open must meet the same file, not one we half set up
        with pytest.raises(StoreError) as raised:
            SessionStore(path.parent)
        assert str(path) in str(raised.value) and words in str(raised.value), raised.value
        assert "\n" not in str(raised.value)
    assert (file_digest(path), listing(path.parent)) == before


def test_a_dangling_symlink_at_the_store_path_is_refused_and_nothing_is_created(tmp_path):
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    target = tmp_path / "elsewhere" / "target.sqlite3"
    target.parent.mkdir()
    store_path(data_dir).symlink_to(target)
    before = (listing(data_dir), listing(target.parent))
    with pytest.raises(StoreError, match="symbolic link.*doesn't exist"):
        SessionStore(data_dir)
    assert (listing(data_dir), listing(target.parent)) == before
    assert not target.exists()


def test_a_symlink_at_the_store_path_is_refused_untouched_and_its_target_works_when_named(tmp_path):
    """Issue 22: a link (to an empty file or to a store) is never written through; naming the place works."""
    real_dir = tmp_path / "real"
    session_id = scripted_session(SessionStore(real_dir))
    empty = tmp_path / "elsewhere" / "empty"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    for target in (store_path(real_dir), empty):
        data_dir = tmp_path / f"linked-{target.name}"
        data_dir.mkdir()
        store_path(data_dir).symlink_to(target)
        before = (file_digest(target), listing(target.parent), listing(data_dir))
        with pytest.raises(StoreError, match="symbolic link") as raised:
            SessionStore(data_dir)
        assert "\n" not in str(raised.value)
        assert (file_digest(target), listing(target.parent), listing(data_dir)) == before
    assert [s["id"] for s in SessionStore(real_dir).list_sessions()] == [session_id]


def test_a_fifo_at_the_store_path_is_refused_without_blocking(tmp_path):
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    os.mkfifo(store_path(data_dir))
    with pytest.raises(StoreError, match="not a regular file"):
        SessionStore(data_dir)  # opening a FIFO for reading would wait forever for a writer


def test_a_directory_at_the_store_path_is_refused(tmp_path):
    data_dir = tmp_path / "store"
    store_path(data_dir).mkdir(parents=True)
    with pytest.raises(StoreError, match="is a directory"):
        SessionStore(data_dir)
    assert list(store_path(data_dir).iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("make", [view_only_database, garbage_schema_version, empty_with_application_id],
                         ids=["view-only", "garbage-version", "application-id"])
def test_the_cli_refuses_a_foreign_store_in_one_line_for_every_command(tmp_path, make):
    path = store_path(tmp_path / "store")
    path.parent.mkdir()
    make(path)
    before = (file_digest(path), listing(path.parent))
    csv = one_row_csv(tmp_path / "seed.csv", prompt="p")
    for args in (["sessions"], ["show", "abc"], ["export", "--all", "-o", str(tmp_path / "out.csv")],
                 ["import", str(csv)], ["delete", "--yes", "abc"], ["fit"]):
        result = run_cli(*args, "--data-dir", str(path.parent))
        lines = error_lines(result.stderr)
        assert result.returncode == 2 and len(lines) == 1 and str(path) in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert (file_digest(path), listing(path.parent)) == before


# -- damage past the first pages: reads may go on, bulk writes refuse

def damaged_store(data_dir) -> tuple:
    store = SessionStore(data_dir)
    ids = [scripted_session(store, tokens=400, prompt="x" * 200) for _ in range(3)]
    store.close()
    path = store_path(data_dir)
    with open(path, "r+b") as handle:  # 8 KiB of random bytes in the middle; header and schema intact
        handle.seek(path.stat().st_size // 2 // 4096 * 4096)
        handle.write(os.urandom(8192))
    return path, ids


def test_import_and_delete_refuse_a_damaged_store_naming_the_file_and_the_way_out(tmp_path):
    path, ids = damaged_store(tmp_path / "store")
    before = (file_digest(path), listing(path.parent))
    store = SessionStore(path.parent)
    meta = SessionMeta(prompt="p", input_tokens=4, model="m")
    tokens = [TokenRecord(k=1, context_size=4, latency_ms=5.0, phase="prefill", token_id=1, token_text="a",
                          wall_time=1.7e9)]
    for write in (lambda: store.import_sessions([(meta, {"id": "imported", "started": "2026-01-01T00:00:00+00:00"},
                                                  tokens)]),
                  lambda: store.delete_sessions(ids[:1])):
        with pytest.raises(StoreError) as raised:
            write()
        message = str(raised.value)
        assert str(path) in message and "damaged" in message and "export --all" in message, message
    store.close()
    assert (file_digest(path), listing(path.parent)) == before


@pytest.mark.slow
def test_the_cli_import_and_delete_refuse_a_damaged_store_in_one_line(tmp_path):
    path, ids = damaged_store(tmp_path / "store")
    before = file_digest(path)
    csv = one_row_csv(tmp_path / "seed.csv")
    for args in (["import", str(csv)], ["delete", "--yes", ids[0]]):
        result = run_cli(*args, "--data-dir", str(path.parent))
        lines = error_lines(result.stderr)
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert str(path) in lines[0] and "damaged" in lines[0] and "export --all" in lines[0], lines[0]
    assert file_digest(path) == before


# -- privacy

def test_a_new_store_is_0600_in_a_0700_data_dir_we_create(tmp_path):
    data_dir = tmp_path / "new" / "nested"
    store = SessionStore(data_dir)
    scripted_session(store)  # the -wal and -shm exist while the store is open
    for directory in (tmp_path / "new", data_dir):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    for name in ("sessions.sqlite3", "sessions.sqlite3-wal", "sessions.sqlite3-shm"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name


def test_an_existing_data_dir_keeps_the_mode_its_owner_gave_it(tmp_path):
    data_dir = tmp_path / "mine"
    data_dir.mkdir()
    data_dir.chmod(0o755)
    SessionStore(data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE(store_path(data_dir).stat().st_mode) == 0o600


def test_the_schema_is_current_after_creation():
    store = SessionStore()
    assert dict(read_only_query(store.path, "SELECT key, value FROM store_info"))["schema_version"] == str(SCHEMA_VERSION)


def test_names_the_store_sees_the_store_and_its_companions_through_links(tmp_path):
    from profiler.store.location import names_the_store

    store = store_path(tmp_path / "data")
    link = tmp_path / "link.csv"
    link.symlink_to(store)
    for candidate in (store, f"{store}-wal", f"{store}-shm", link, tmp_path / "data" / ".." / "data" / store.name):
        assert names_the_store(candidate, store), candidate
    assert not names_the_store(tmp_path / "data" / "export.csv", store)


# -- the orphan sweep

def test_the_sweep_never_turns_a_session_its_owner_just_ended_into_an_interrupted_one():
    """The sweep decides from a `running` row; by the time it writes, the owner may have finished it."""
    from profiler.store.writer import finalize_session

    store = SessionStore()
    session_id = scripted_session(store)  # finished by its owner
    conn = store._connection()
    assert finalize_session(conn, session_id, "interrupted", error="swept", only_if_running=True) is None
    session = store.get_session(session_id)
    assert (session["status"], session["error"], session["tokens"]) == ("finished", None, 10)


# -- a running session can't be deleted

def test_deleting_a_session_that_is_still_being_written_is_refused_and_deletes_nothing():
    store = SessionStore()
    done = scripted_session(store)
    writer = store.begin_session(SessionMeta(prompt="p", input_tokens=4, model="m"))  # this live process owns it
    with pytest.raises(InputError, match=f"session {writer.session_id[:8]} is still running.*Nothing deleted"):
        store.delete_sessions([done, writer.session_id])
    assert {s["id"] for s in store.list_sessions()} == {done, writer.session_id}
    writer.finish("finished")
    assert store.delete_sessions([done, writer.session_id]) == 2


@pytest.mark.slow
def test_the_cli_refuses_to_delete_a_running_session_in_one_line(private_data_dir):
    store = SessionStore()
    writer = store.begin_session(SessionMeta(prompt="p", input_tokens=4, model="m"))
    result = run_cli("delete", "--yes", writer.session_id[:8])
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "still running" in lines[0], result.stderr
    assert [s["status"] for s in store.list_sessions()] == ["running"]
    writer.finish("finished")
    assert read_only_query(store.path, "PRAGMA integrity_check") == [("ok",)]
