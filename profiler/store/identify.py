"""What is at the store's path: nothing, our store (which schema version), or something to leave alone.

Never with a plain open(): POSIX releases every fcntl lock a process holds on a file as soon as
*any* descriptor of that file in the process is closed (SQLite's "How To Corrupt An SQLite
Database File", §2.2). Reading the header with open() while a connection of this process had the
store open silently dropped that connection's locks; another process then believed it was the
last user, checkpointed and deleted the -wal file under our writer, and sessions were lost. So the
file is only ever read through SQLite, whose unix VFS keeps one set of locks per file for the whole
process and defers closing a descriptor while any connection still holds a lock.

Nothing here writes to the file or creates anything beside it.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

from profiler.errors import StoreError
from profiler.store.failures import (SQLITE_BUSY, SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_LOCKED, SQLITE_NOTADB,
                                     SQLITE_READONLY, is_disk_full, primary_code, store_error)
from profiler.store.ownership import LEFT_UNTOUCHED, check_application_id, check_companions, check_schema
from profiler.store.schema import APP_ID, SCHEMA_VERSION
from profiler.store.transaction import StoreConnection

CONNECTING = threading.Lock()
"""Held while this process connects to a store file: one place to serialise connecting (SQLite's
unix VFS shares one set of locks per file across the process's connections)."""


def store_file_exists(path: Path) -> bool:
    """True for a regular, non-empty file at `path`, False for nothing; StoreError for anything else.

    Refused, untouched: a symbolic link (SQLite would read and write wherever it points; the user
    names the real place with --data-dir instead), and an empty file, which we never leave at the
    store path (profiler.store.connection builds a new store beside it and links it in whole), so
    somebody else put it there.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError(f"can't look at the session store {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        if not os.path.exists(path):
            raise StoreError(f"{path} is a symbolic link to {target}, which doesn't exist; {LEFT_UNTOUCHED}")
        real = Path(os.path.realpath(path))
        raise StoreError(f"{path} is a symbolic link to {target}: the store is never used through a link; "
                         f"to use that store, name its folder: --data-dir {real.parent}; {LEFT_UNTOUCHED}")
    if stat.S_ISDIR(info.st_mode):
        raise StoreError(f"store path {path} is a directory, not a tokenlat-tui store")
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"{path} is not a regular file, so not a tokenlat-tui store; {LEFT_UNTOUCHED}")
    if info.st_size == 0:
        raise StoreError(f"{path} is an empty file that tokenlat-tui didn't create (a new store is never "
                         f"empty); {LEFT_UNTOUCHED}: remove it to start a new store there")
    return True


def wal_path(path: Path) -> Path:
    """Where SQLite keeps the store's -wal: beside the file itself (a link's target), not the link."""
    real = Path(os.path.realpath(path))
    return real.with_name(real.name + "-wal")


def open_read_only(path: Path) -> StoreConnection:
    """A connection that can't write and creates nothing it doesn't have to.

    With no -wal file beside the store, no connection anywhere has it open in WAL mode, so the
    main file alone is the whole store: it is read `immutable` (no locks, no -wal/-shm created),
    which also works in a read-only folder or on a full disk. (A writer starting meanwhile appends
    to a new -wal; the main file changes only at a checkpoint: after 1000 pages of that -wal, or
    when its last connection closes, neither within the milliseconds this read takes.)
    Otherwise SQLite reads it read-only with its usual locking; if the -shm index can't be created
    or grown there (read-only folder, full disk) and the -wal holds nothing, `immutable` is again
    exact.
    """
    wal = wal_path(path)
    if not os.path.lexists(wal):
        return _connect(path, "mode=ro&immutable=1", read_only=True)
    try:
        conn = _connect(path, "mode=ro", read_only=True)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # maps the -shm now, not mid-command
        return conn
    except sqlite3.Error as exc:
        if not shm_trouble(exc, path) or _size(wal) > 0:
            raise
    return _connect(path, "mode=ro&immutable=1", read_only=True)


def open_read_write(path: Path) -> StoreConnection:
    """A connection that may write; `mode=rw` so SQLite never creates the file itself (we do, 0600)."""
    return _connect(path, "mode=rw", read_only=False)


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """The store's schema version; 0 for an empty SQLite file that is ours to set up.

    Raises StoreError for anything that is not a tokenlat-tui store (another program's database,
    an unreadable version) or a store written by a newer tokenlat-tui.
    """
    objects = conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall()
    if not objects:
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        user_version = conn.execute("PRAGMA user_version").fetchone()[0]
        if application_id or user_version:
            raise StoreError(f"{path} is an empty SQLite database marked as another program's "
                             f"(application_id {application_id}, user_version {user_version}), not a tokenlat-tui "
                             f"store; {LEFT_UNTOUCHED}")
        # we never leave a store without its schema (it is built before it appears at the path)
        raise StoreError(f"{path} is an empty SQLite database that tokenlat-tui didn't create; {LEFT_UNTOUCHED}")
    info = {}
    if ("table", "store_info") in objects:
        info = dict(conn.execute("SELECT key, value FROM store_info WHERE key IN ('app', 'schema_version')").fetchall())
    if info.get("app") != APP_ID:
        raise StoreError(f"{path} is an SQLite database of another program, not a tokenlat-tui store; {LEFT_UNTOUCHED}")
    raw = info.get("schema_version")
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise StoreError(f"{path} has an unreadable schema version {raw!r}, so it can't be a sound tokenlat-tui "
                         f"store; {LEFT_UNTOUCHED}")
    version = int(raw)
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer tokenlat-tui (schema {version} > {SCHEMA_VERSION}); "
                         "upgrade to read it")
    check_application_id(conn, path)
    check_schema(conn, path, version)
    return version


def identify(path: Path) -> int:
    """The schema version of the existing store at `path`, read without writing anything.

    Links or odd files beside it (-wal, -shm, -journal) are refused before SQLite opens it.
    """
    check_companions(path)
    try:
        conn = open_read_only(path)
        try:
            return schema_version(conn, path)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if primary_code(exc) in (SQLITE_BUSY, SQLITE_LOCKED):
            raise  # the caller waits and tries again
        if primary_code(exc) == SQLITE_NOTADB:
            raise StoreError(f"{path} is not a tokenlat-tui store (not an SQLite database); {LEFT_UNTOUCHED}") from None
        if primary_code(exc) in (SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_IOERR) or is_disk_full(exc, path):
            raise store_error(exc, path, "read") from None
        raise StoreError(f"{path} is a corrupt SQLite file ({exc}); {LEFT_UNTOUCHED}") from None


def _connect(path: Path, query: str, *, read_only: bool) -> StoreConnection:
    from profiler.store.connection import BUSY_TIMEOUT_MS

    uri = f"{Path(os.path.abspath(path)).as_uri()}?{query}"
    with CONNECTING:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False, factory=StoreConnection)
    conn.path = path
    conn.read_only = read_only
    # functions with side effects may not run from the schema (views, triggers, defaults): the
    # schema is checked on open (profiler.store.ownership), this guards whatever that missed
    conn.execute("PRAGMA trusted_schema=OFF")
    return conn


def shm_trouble(exc: BaseException, path: Path) -> bool:
    """The -shm index can't be created, mapped or grown: a read-only folder or a full disk."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return (primary_code(exc) == SQLITE_CANTOPEN or name.startswith("SQLITE_IOERR_SHM")
            or name == "SQLITE_READONLY_CANTINIT" or is_disk_full(exc, path))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
