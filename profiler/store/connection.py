"""Opening the store: created private, anything not ours refused untouched, read-only where it can't be written."""

from __future__ import annotations

import errno
import glob
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Callable, TypeVar

from profiler.errors import StoreError
from profiler.store.failures import SQLITE_BUSY, SQLITE_LOCKED, primary_code, read_only_reason, store_error
from profiler.store.identify import (identify, open_read_only, open_read_write, schema_version,
                                     shm_trouble, store_file_exists)
from profiler.store.schema import SCHEMA_VERSION, migrate
from profiler.store.transaction import StoreConnection, write_transaction

BUSY_TIMEOUT_MS = 30_000  # two processes writing one store wait for each other, never fail
DATA_DIR_MODE = 0o700  # prompts can be private: only the owner may list or read the store
STORE_FILE_MODE = 0o600  # SQLite gives the -wal and -shm files the same mode as the store

T = TypeVar("T")


def open_connection(path: Path, *, create: bool = True) -> StoreConnection:
    """A connection to the store at `path`, set up and migrated when it can be written.

    A missing store is created (mode 0600, in a 0700 data dir if we create that too). An existing
    file is identified through SQLite without writing (profiler.store.identify) and refused with one
    line if it isn't ours. Where the store can't be written (read-only file or folder, or a full disk
    that leaves no room for the -shm index) the connection is read-only: readers work, and a write
    raises StoreError naming why.
    """
    _ensure_data_dir(path.parent)
    if not store_file_exists(path):
        if not create:
            raise StoreError(f"no session store at {path}")
        _create_store_file(path)
    try:
        _retry_while_locked(lambda: identify(path))
        return _retry_while_locked(lambda: _open_configured(path))
    except sqlite3.Error as exc:
        raise store_error(exc, path, "open") from None


def _ensure_data_dir(directory: Path) -> None:
    if directory.is_dir():
        return  # the user's own folder keeps the mode they gave it
    missing = []
    level = directory
    while not level.exists() and level.parent != level:
        missing.append(level)
        level = level.parent
    try:
        for level in reversed(missing):
            level.mkdir(mode=DATA_DIR_MODE, exist_ok=True)
        if not directory.is_dir():
            raise NotADirectoryError(20, "Not a directory")
    except OSError as exc:
        raise StoreError(f"can't create data dir {directory}: {exc.strerror or exc}") from None


def _create_store_file(path: Path) -> None:
    """Build a new store beside `path` and link it into place whole, mode 0600.

    The store path never holds an empty or half-made file of ours, so an empty file there is
    somebody else's and is refused (profiler.store.identify). The new file is made 0600 with
    O_EXCL (SQLite would use 0644), given its schema and application_id through SQLite, closed,
    then hard-linked to `path`: link() never replaces, so when two processes create the store at
    once, one wins and the other uses the winner's. No connection of this process is open on the
    new file when it appears at `path`, so no lock of ours can be dropped.
    """
    directory = path.parent
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StoreError(f"data dir {directory} is not writable: can't create the session store there")
    _remove_stale_new_stores(path)
    new = path.with_name(f"{NEW_STORE_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(4)}{NEW_STORE_SUFFIX}")
    try:
        try:
            fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, STORE_FILE_MODE)
        except OSError as exc:
            raise store_error(exc, path, "create") from None
        os.close(fd)  # no connection has it open yet: no locks to drop
        conn = open_read_write(new)
        conn.sound = True  # made this instant: no integrity check before its first write
        try:
            with write_transaction(conn):
                migrate(conn, 0)
        finally:
            conn.close()
        _link_into_place(new, path)
    finally:
        new.unlink(missing_ok=True)


NEW_STORE_PREFIX, NEW_STORE_SUFFIX = ".", ".new"


def _link_into_place(new: Path, path: Path) -> None:
    try:
        os.link(new, path)
    except FileExistsError:
        return  # another process or thread created it first: identify() checks what it is
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise store_error(exc, path, "create") from None
        # a file system without hard links (FAT, some FUSE): rename, which can only lose a race
        # against another process creating the store in the same millisecond
        if not os.path.lexists(path):
            os.rename(new, path)


def _remove_stale_new_stores(path: Path) -> None:
    """Remove new stores a killed process left half-made (their pid no longer runs)."""
    for leftover in path.parent.glob(f"{NEW_STORE_PREFIX}{glob.escape(path.name)}.*{NEW_STORE_SUFFIX}"):
        parts = leftover.name[len(NEW_STORE_PREFIX) + len(path.name) + 1:].split(".")
        if len(parts) == 3 and parts[0].isdigit() and not _pid_runs(int(parts[0])):
            for suffix in ("", "-journal"):
                try:
                    leftover.with_name(leftover.name + suffix).unlink()
                except OSError:
                    pass


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: it runs
    return True


def _writable(path: Path) -> bool:
    """Whether this process may write the store and create its -wal/-shm (beside the link's target)."""
    target = Path(os.path.realpath(path))
    return os.access(target, os.W_OK) and os.access(target.parent, os.W_OK | os.X_OK)


def _open_configured(path: Path) -> StoreConnection:
    conn = _open(path)
    try:
        _configure(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _open(path: Path) -> StoreConnection:
    if not _writable(path):
        return open_read_only(path)
    conn = open_read_write(path)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # creates/maps -wal and -shm now
        return conn
    except sqlite3.Error as exc:
        conn.close()
        if shm_trouble(exc, path):
            return open_read_only(path)  # a full disk with no room for the -shm index: still readable
        raise


def _configure(conn: StoreConnection) -> None:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    if not conn.read_only:
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed batch survives a process kill (only an OS crash
        # can lose the last commits), at a fraction of FULL's fsync cost per flush.
        conn.execute("PRAGMA synchronous=NORMAL")
    _ensure_schema(conn)


def _ensure_schema(conn: StoreConnection) -> None:
    version = schema_version(conn, conn.path)
    if version == SCHEMA_VERSION:
        return
    if conn.read_only:
        what = "is empty" if version == 0 else f"needs an upgrade to schema {SCHEMA_VERSION}"
        reason = read_only_reason(conn.path) or "the disk is full"
        raise StoreError(f"the session store {conn.path} {what} but can't be written: {reason}")
    with write_transaction(conn):
        # another process may have set it up while we waited for the write lock
        version = schema_version(conn, conn.path)
        if version < SCHEMA_VERSION:
            migrate(conn, version)


def _retry_while_locked(setup: Callable[[], T]) -> T:
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
            return setup()
        except (sqlite3.OperationalError, StoreError) as exc:
            cause = exc if isinstance(exc, sqlite3.Error) else exc.__cause__
            if primary_code(cause) not in (SQLITE_BUSY, SQLITE_LOCKED) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
