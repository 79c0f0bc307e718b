"""Opening the store file safely: refuse corrupt or foreign files without touching them."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from profiler.errors import StoreError
from profiler.store.schema import APP_ID, SCHEMA_VERSION, migrate

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 30_000  # two processes writing one store wait for each other, never fail


def check_existing_file(path: Path) -> None:
    """Raise StoreError if `path` holds something that is not a tokenlat-tui store.

    Everything here is read-only: a file we did not create is never modified.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    if path.is_dir():
        raise StoreError(f"store path {path} is a directory, not a tokenlat-tui store")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"can't read store {path}: {exc.strerror or exc}") from None
    if header != SQLITE_HEADER:
        raise StoreError(f"{path} is not a tokenlat-tui store (not an SQLite database); left untouched")
    try:
        probe = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            app = None
            if "store_info" in tables:
                row = probe.execute("SELECT value FROM store_info WHERE key='app'").fetchone()
                app = row[0] if row else None
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is a corrupt SQLite file ({exc}); left untouched") from None
    if tables and app != APP_ID:
        raise StoreError(f"{path} is an SQLite database of another program, not a tokenlat-tui store; left untouched")


def open_connection(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """A connection with the store's pragmas; creates and migrates the schema when needed."""
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"can't create data dir {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StoreError(f"data dir {directory} is not writable")
    check_existing_file(path)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        _retry_while_locked(lambda: _configure(conn, path))
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"can't open store {path}: {exc}") from None
    except OSError as exc:
        raise StoreError(f"can't open store {path}: {exc.strerror or exc}") from None
    return conn


def _configure(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed batch survives a process kill (only an OS crash
    # can lose the last commits), at a fraction of FULL's fsync cost per flush.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    _ensure_schema(conn, path)


def _retry_while_locked(setup) -> None:
    """Run `setup`, retrying while another process holds the store locked.

    Seen once in the two-writers test under heavy load: the second process's setup failed with
    'database is locked' at once although the busy timeout is 30 s (SQLite gives up on some
    WAL-index and journal-mode locks without calling the busy handler). Setup holds no
    transaction between tries, so retrying until the same timeout is safe.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            setup()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    version = _schema_version(conn)
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer tokenlat-tui (schema {version} > {SCHEMA_VERSION}); upgrade to read it")
    conn.execute("BEGIN IMMEDIATE")
    try:
        # another process may have migrated while we waited for the write lock
        version = _schema_version(conn)
        if version < SCHEMA_VERSION:
            migrate(conn, version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _schema_version(conn: sqlite3.Connection) -> int:
    has_info = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='store_info'").fetchone()
    if not has_info:
        return 0
    row = conn.execute("SELECT value FROM store_info WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0
