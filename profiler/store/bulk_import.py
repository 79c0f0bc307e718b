"""An import's one write transaction, fed session by session and token batch by token batch.

A file is read once and may be endless (a FIFO), so its rows can't be held until the end: they go
into the store in bounded batches, all inside ONE transaction, so a bad row anywhere still
imports nothing (the transaction is rolled back). The transaction begins with the first session,
not when the file is opened: a FIFO that is slow to start holds no lock meanwhile. Once begun, it
holds the store's write lock until the file ends; other writers wait (busy timeout).
"""

from __future__ import annotations

import sqlite3
from typing import Sequence

from profiler.records import SessionMeta
from profiler.store.session_rows import SUMMARY_ASSIGNMENTS, TOKEN_INSERT, insert_session, summary_values
from profiler.store.transaction import write_transaction
from profiler.store.writer import summary_from_db


class BulkImport:
    """`with store.bulk_import() as bulk:` add_session / add_tokens; leaving the block commits
    (after writing each session's summary) or, on an exception, rolls everything back."""

    def __init__(self, store) -> None:
        self._store = store
        self._conn: sqlite3.Connection | None = None
        self._transaction = None
        self.session_ids: list[str] = []
        """In the order they were added."""

    def __enter__(self) -> BulkImport:
        return self

    def _begin(self) -> sqlite3.Connection:
        if self._conn is None:
            self._store.check_integrity()  # never write into a damaged file
            conn = self._store._connection()
            self._transaction = write_transaction(conn)
            self._transaction.__enter__()
            self._conn = conn
        return self._conn

    def has_session(self, session_id: str) -> bool:
        conn = self._begin()
        return conn.execute("SELECT 1 FROM sessions WHERE id=?", (session_id,)).fetchone() is not None

    def add_session(self, session_id: str, meta: SessionMeta, *, status: str, started: str) -> None:
        insert_session(self._begin(), session_id, meta, status=status, started=started)
        self.session_ids.append(session_id)

    def add_tokens(self, rows: Sequence[tuple]) -> int | None:
        """Insert TOKEN_INSERT rows; the position of the first that is already there, or None.

        On a duplicate the caller raises, which rolls the whole import back; the rows before it
        were inserted (executemany stops at the failing one), which is how it is found.
        """
        conn = self._begin()
        before = conn.total_changes
        try:
            conn.executemany(TOKEN_INSERT, rows)
        except sqlite3.IntegrityError:
            return conn.total_changes - before
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._transaction is None:
            return False
        if exc is None:
            try:
                self._write_summaries()
            except BaseException as failure:
                if self._transaction.__exit__(type(failure), failure, failure.__traceback__):
                    return False
                raise
            self._transaction.__exit__(None, None, None)  # COMMIT
            return False
        return bool(self._transaction.__exit__(exc_type, exc, tb))

    def _write_summaries(self) -> None:
        conn = self._conn
        for session_id in self.session_ids:
            summary = summary_from_db(conn, session_id)
            conn.execute(f"UPDATE sessions SET {SUMMARY_ASSIGNMENTS} WHERE id=?", (*summary_values(summary), session_id))

