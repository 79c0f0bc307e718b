"""Before the first write to a store: is the file sound? (`PRAGMA quick_check`, once per process.)

Writing into a damaged file spreads the damage (SQLite may reuse a corrupt page, or a bad
freelist hands out a page that is still in use), so every write path goes through `ensure_sound`
(profiler.store.transaction.write_transaction): collect, import, delete, the orphan sweep, sweeps,
migrations. A damaged store is refused for writes in one line; reads go on, and `export` reads
what it still can (tui/commands/export.py).

Why quick_check and not a cheaper header + freelist check: damage in the last page of a table
(the audit's case) is not visible in the header or the freelist; quick_check walks every b-tree
page. Measured on a 2-core box: 0.39 s for a 2M-token store (177 MB), page cache warm. It runs
once per process and store file (keyed by device and inode), so a long-running app or a collect
of many sessions pays it once, before its first write, never inside the timed decode loop.
"""

from __future__ import annotations

import os
import sqlite3
import threading

from profiler.errors import StoreError
from profiler.store.failures import damaged_message
from profiler.store.transaction import StoreConnection

_CHECKED: set[tuple[int, int]] = set()
_LOCK = threading.Lock()


def damage(conn: sqlite3.Connection) -> str | None:
    """What quick_check finds wrong with the store of `conn` (one line), or None when it is sound."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems == ["ok"]:
        return None
    more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"


def ensure_sound(conn: StoreConnection) -> None:
    """Raise StoreError (naming the file and the way out) if the store is damaged; checked once per process."""
    if conn.sound:
        return
    key = _file_key(conn)
    with _LOCK:
        if key is not None and key in _CHECKED:
            conn.sound = True
            return
        problem = damage(conn)
        if problem is not None:
            raise StoreError(damaged_message(conn.path, problem))
        if key is not None:
            _CHECKED.add(key)
        conn.sound = True


def _file_key(conn: StoreConnection) -> tuple[int, int] | None:
    try:
        info = os.stat(conn.path)
    except OSError:
        return None
    return info.st_dev, info.st_ino
