"""SQLite errors as the one line a user can act on: disk full, read-only, damaged, busy."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from profiler.errors import StoreError

# primary result codes (sqlite3.h); extended codes carry them in their low byte
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT = 5, 6, 8, 10, 11
SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 13, 14, 26

NEARLY_FULL_BYTES = 256 * 1024
"""Below this much free space an I/O error (e.g. SQLITE_IOERR_SHMSIZE: the -shm file can't grow) is a full disk."""

EXPORT_WAY_OUT = "save what can still be read with `tokenlat-tui export --all -o FILE`, then move the damaged file aside"


def primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_disk_full(exc: BaseException, path: Path) -> bool:
    code = primary_code(exc)
    if code == SQLITE_FULL or "disk is full" in str(exc):
        return True
    if isinstance(exc, OSError) and exc.errno == 28:  # ENOSPC
        return True
    return code in (SQLITE_IOERR, SQLITE_CANTOPEN) and free_bytes(path) < NEARLY_FULL_BYTES


def free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(_existing_ancestor(path)).free
    except OSError:
        return 1 << 62  # unknown: don't claim the disk is full


def disk_full_message(path: Path) -> str:
    where = _existing_ancestor(path)
    mount = where
    while not os.path.ismount(mount) and mount.parent != mount:
        mount = mount.parent
    return f"disk full: can't write the session store {path} ({_size(free_bytes(path))} free on {mount})"


def read_only_reason(path: Path) -> str | None:
    """Why this process can't write the store at `path`, or None if its file and folder are writable."""
    directory = path.parent
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"its folder {directory} is read-only"
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only"
    return None


def damaged_message(path: Path, detail: str) -> str:
    return f"the session store {path} is damaged ({detail}); nothing was changed: {EXPORT_WAY_OUT}"


def store_error(exc: BaseException, path: Path, doing: str = "use") -> StoreError:
    """The StoreError to raise for `exc`, met while trying to `doing` (write, read, use) the store at `path`."""
    if is_disk_full(exc, path):
        return StoreError(disk_full_message(path))
    code = primary_code(exc)
    if code == SQLITE_READONLY:
        reason = read_only_reason(path)
        if reason is None and free_bytes(path) < NEARLY_FULL_BYTES:
            return StoreError(disk_full_message(path))  # opened read-only for want of room for its -shm index
        return StoreError(f"can't write the session store {path}: {reason or 'it could only be opened read-only'}")
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return StoreError(damaged_message(path, str(exc)))
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreError(f"the session store {path} stayed locked by another process; try again ({exc})")
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StoreError(f"can't {doing} the session store {path}: {detail}")


def _existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path.parent != path:
        path = path.parent
    return path if path.is_dir() else path.parent


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)
