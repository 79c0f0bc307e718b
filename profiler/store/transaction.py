"""The store's one way to write: BEGIN IMMEDIATE … COMMIT, errors turned into one clear line."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class StoreConnection(sqlite3.Connection):
    """An SQLite connection that knows which store it belongs to and whether it may write."""

    path: Path
    read_only: bool = False
    sound: bool = False
    """Checked (profiler.store.soundness) or made by us: its first write needs no integrity check."""


@contextmanager
def write_transaction(conn: StoreConnection) -> Iterator[StoreConnection]:
    """Run the body in a write transaction; a failure rolls it back and raises StoreError.

    IMMEDIATE takes the write lock up front, so two writers wait for each other (busy timeout)
    instead of one failing halfway. After SQLITE_FULL or an I/O error SQLite may already have
    rolled the transaction back itself: ROLLBACK is sent only while one is still open, so the real
    error (disk full) is the one reported, never "cannot rollback - no transaction is active".
    Errors that aren't SQLite's (a duplicate id found by the body, KeyboardInterrupt) pass through.
    """
    from profiler.store.failures import store_error
    from profiler.store.soundness import ensure_sound

    ensure_sound(conn)  # never write into a damaged file: it spreads the damage
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the error that brought us here is the one worth reporting
            raise
    except sqlite3.Error as exc:
        raise store_error(exc, conn.path, "write") from exc
