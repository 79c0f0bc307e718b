"""Reading and managing the store: list, show, delete, token frames, orphan recovery, import."""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from profiler.columns import ALL_COLUMNS
from profiler.errors import InputError, StoreError
from profiler.records import FINISHED, INTERRUPTED, RUNNING, SessionMeta, TokenRecord
from profiler.store.connection import open_connection
from profiler.store.failures import damaged_message
from profiler.store.location import store_path
from profiler.store.owner import GONE, owner_state
from profiler.store.schema import SQLITE_MAX_INTEGER
from profiler.store.soundness import damage
from profiler.store.session_rows import (LISTED_COLUMNS, SUMMARY_ASSIGNMENTS, SUMMARY_NAMES, TOKEN_COLUMNS,
                                         TOKEN_INSERT, insert_session, session_from_row, summary_values, token_row)
from profiler.store.transaction import write_transaction
from profiler.store.writer import SessionWriter, finalize_session, summary_from_db

SESSION_LIST_COLUMNS = ", ".join(LISTED_COLUMNS)


def print_notice(text: str) -> None:
    """The default way a store tells the user something that is not an error: one line on stderr."""
    try:
        print(f"tokenlat-tui: note: {text}", file=sys.stderr, flush=True)
    except OSError:
        pass  # stderr is gone (dropped SSH link): a notice is not worth failing for


class SessionStore:
    """The store at `data_dir` (see `resolve_data_dir`). Opening it recovers orphaned sessions.

    Reading never needs to write: on a full disk or a read-only store, reads work and the orphan
    sweep is skipped with one notice (`notify`, by default a line on stderr).
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, *, recover_orphans: bool = True,
                 notify: Callable[[str], None] = print_notice) -> None:
        self.path: Path = store_path(data_dir)
        self._local = threading.local()
        self._notify = notify
        # opening once up front turns a corrupt/foreign/unreadable store into one clear error now
        self._connection()
        if recover_orphans:
            self.recover_orphans()

    # -- connections: one per thread (the app reads on the UI thread while a worker writes)
    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_connection(self.path)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- writing
    def begin_session(self, meta: SessionMeta, **kwargs: Any) -> SessionWriter:
        return SessionWriter(self.path, meta, **kwargs)

    def recover_orphans(self) -> list[str]:
        """Mark `running` sessions whose process is gone as `interrupted`, keeping their tokens.

        Where the store can't be written (full disk, read-only), they are left as they are and
        one notice says so: a command that only reads must not fail because of a repair.
        """
        conn = self._connection()
        rows = conn.execute("SELECT id, host, pid, pid_started FROM sessions WHERE status=?", (RUNNING,)).fetchall()
        orphans = [session_id for session_id, *owner in rows if owner_state(*owner) == GONE]
        recovered = []
        for session_id in orphans:
            try:
                if finalize_session(conn, session_id, INTERRUPTED, error="process ended without closing the session",
                                    only_if_running=True):
                    recovered.append(session_id)
            except StoreError as exc:
                left = len(orphans) - len(recovered)
                self._notify(f"{left} session(s) whose process ended are still marked running, not interrupted: {exc}")
                break
        return recovered

    def check_integrity(self) -> None:
        """PRAGMA quick_check: raise StoreError naming the file and the way out if the store is damaged.

        Run before bulk writes (import, delete) every time, even where this process checked the
        file before its first write (profiler.store.soundness), so they never write into a damaged file.
        """
        problem = damage(self._connection())
        if problem is not None:
            raise StoreError(damaged_message(self.path, problem))

    def delete_sessions(self, session_ids: Iterable[str]) -> int:
        """Delete sessions and their tokens; refuses (deleting nothing) if one is still being written."""
        conn = self._connection()
        ids = list(session_ids)
        self.check_integrity()
        with write_transaction(conn):
            for session_id in ids:
                row = conn.execute("SELECT status, host, pid, pid_started FROM sessions WHERE id=?",
                                   (session_id,)).fetchone()
                if row is not None and row[0] == RUNNING and owner_state(*row[1:]) != GONE:
                    raise InputError(f"session {session_id[:8]} is still running ({_owner_words(*row[1:3])}); "
                                     "stop it first. Nothing deleted")
            count = 0
            for session_id in ids:
                count += conn.execute("DELETE FROM sessions WHERE id=?", (session_id,)).rowcount
        return count

    def import_sessions(self, sessions: Sequence[tuple[SessionMeta, dict[str, Any], list[TokenRecord]]]) -> list[str]:
        """Insert finished sessions (meta, row overrides incl. `id`/`status`/`started`, tokens) in ONE transaction."""
        conn = self._connection()
        self.check_integrity()
        ids = []
        with write_transaction(conn):
            for meta, overrides, tokens in sessions:
                session_id = overrides["id"]
                if conn.execute("SELECT 1 FROM sessions WHERE id=?", (session_id,)).fetchone():
                    raise InputError(f"session {session_id} is already in the store; nothing imported")
                if "timing" in overrides:
                    meta = replace(meta, timing=overrides["timing"])
                insert_session(conn, session_id, meta, status=overrides.get("status", FINISHED),
                               started=overrides["started"], ended=overrides.get("ended"))
                conn.executemany(TOKEN_INSERT, [token_row(session_id, token) for token in tokens])
                summary = summary_from_db(conn, session_id)
                conn.execute(f"UPDATE sessions SET {SUMMARY_ASSIGNMENTS} WHERE id=?",
                             (*summary_values(summary), session_id))
                ids.append(session_id)
        return ids

    def bulk_import(self):
        """An import's single transaction, fed in bounded batches (profiler.store.bulk_import.BulkImport)."""
        from profiler.store.bulk_import import BulkImport

        return BulkImport(self)

    # -- reading
    def list_sessions(self, limit: int | None = None, *, offset: int = 0,
                      with_environment: bool = False) -> list[dict[str, Any]]:
        """Sessions newest first, each a dict of the `sessions` columns (summary included).

        `with_environment` adds each session's parsed environment (model config, GPU): needed for
        the bandwidth fraction, left out otherwise because parsing it for 10k sessions costs time.
        """
        conn = self._connection()
        columns = SESSION_LIST_COLUMNS + (", environment" if with_environment else "")
        sql = f"SELECT {columns} FROM sessions ORDER BY started DESC, rowid DESC"
        if limit is not None or offset:
            sql += f" LIMIT {-1 if limit is None else int(limit)} OFFSET {int(offset)}"
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description]
        sessions = [session_from_row(names, row) for row in cursor.fetchall()]
        for session in sessions:
            _add_live_summary(conn, session)
        return sessions

    def session_page(self, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        """One page of sessions, newest first (as `list_sessions`): rows offset .. offset + limit - 1.

        For tables that show a few screens of a large store (300k sessions): the query walks the
        `sessions_started` index backwards and stops after the page, so its cost follows
        offset + limit, not the store's size.
        """
        if not (0 < limit <= SQLITE_MAX_INTEGER and 0 <= offset <= SQLITE_MAX_INTEGER):
            raise InputError(f"a page needs 1 <= limit and 0 <= offset, both at most {SQLITE_MAX_INTEGER}")
        return self.list_sessions(limit, offset=offset)

    def count_selected(self, session_ids: Sequence[str] | None, *, include_warmup: bool = True) -> int:
        """How many of `session_ids` (None: all sessions) are in the store, warm-ups left out unless included."""
        warmup = "" if include_warmup else " AND warmup = 0"
        conn = self._connection()
        if session_ids is None:
            return conn.execute(f"SELECT count(*) FROM sessions WHERE 1{warmup}").fetchone()[0]
        ids = list(session_ids)
        total = 0
        for start in range(0, len(ids), 500):  # SQLite limits a statement's parameters
            chunk = ids[start:start + 500]
            total += conn.execute(f"SELECT count(*) FROM sessions WHERE id IN ({','.join('?' * len(chunk))}){warmup}",
                                  chunk).fetchone()[0]
        return total

    def count_sessions(self) -> int:
        """How many sessions the store holds (counted on the smallest index, not by reading them)."""
        return self._connection().execute("SELECT count(*) FROM sessions").fetchone()[0]

    def resolve_ids(self, prefixes: Iterable[str]) -> list[str]:
        """Full session ids from ids or unambiguous prefixes (like git's short hashes)."""
        conn = self._connection()
        resolved = []
        for prefix in prefixes:
            prefix = prefix.strip()
            if not prefix:
                raise InputError("empty session id")
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            matches = [r[0] for r in conn.execute(
                "SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (escaped + "%",))]
            if not matches:
                raise InputError(f"no session {prefix!r} in {self.path}")
            if len(matches) > 1 and prefix not in matches:
                raise InputError(f"session id {prefix!r} is ambiguous; give more characters")
            resolved.append(prefix if prefix in matches else matches[0])
        return resolved

    def get_session(self, session_id: str) -> dict[str, Any]:
        conn = self._connection()
        cursor = conn.execute(f"SELECT {SESSION_LIST_COLUMNS}, settings, environment FROM sessions WHERE id=?",
                              (session_id,))
        row = cursor.fetchone()
        if row is None:
            raise InputError(f"no session {session_id!r} in {self.path}")
        session = session_from_row([d[0] for d in cursor.description], row)
        _add_live_summary(conn, session)
        return session

    def session_tokens(self, session_id: str) -> list[dict[str, Any]]:
        cursor = self._connection().execute(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE session_id=? ORDER BY k",
                                            (session_id,))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def session_metrics(self, session_id: str) -> list[dict[str, Any]]:
        cursor = self._connection().execute(
            "SELECT wall_time, gpu_util, gpu_mem_mb, gpu_temp_c, sm_clock_mhz, power_w, throttle_reasons, cpu_util,"
            " rss_mb FROM metrics WHERE session_id=? ORDER BY wall_time", (session_id,))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def token_rows(self, session_ids: Sequence[str] | None = None, include_warmup: bool = True) -> list[dict[str, Any]]:
        """One dict per token with the CSV/frame columns (profiler.columns.ALL_COLUMNS), sessions oldest first."""
        from profiler.store.token_rows import query_token_rows

        return query_token_rows(self._connection(), session_ids, include_warmup)

    def iter_token_rows(self, session_ids: Sequence[str] | None = None, include_warmup: bool = True, *,
                        unreadable: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """`token_rows`, one row at a time (bounded memory). With `unreadable` (a damaged store, see
        `damage`), sessions whose rows can't be read are skipped and their ids appended to it."""
        from profiler.store.token_rows import iter_readable_token_rows, iter_token_rows

        if unreadable is None:
            return iter_token_rows(self._connection(), session_ids, include_warmup)
        return iter_readable_token_rows(self._connection(), session_ids, include_warmup, unreadable)

    def damage(self) -> str | None:
        """What PRAGMA quick_check finds wrong with the store (one line), or None when it is sound."""
        return damage(self._connection())

    def reopen_read_only(self) -> None:
        """Go on with a connection that can't write (a damaged store: read what can be read, change nothing)."""
        from profiler.store.connection import BUSY_TIMEOUT_MS
        from profiler.store.identify import open_read_only

        self.close()
        conn = open_read_only(self.path)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._local.conn = conn

    def tokens_frame(self, session_ids: Sequence[str] | None = None, include_warmup: bool = False):
        """The token rows as a pandas DataFrame with ALL_COLUMNS: what `model/` fits on."""
        import pandas as pd  # deferred: pandas costs ~0.3 s to import

        return pd.DataFrame(self.token_rows(session_ids, include_warmup), columns=ALL_COLUMNS)


def _owner_words(host: str | None, pid: int | None) -> str:
    if pid is None:
        return "no process recorded, so it can't be checked"
    if host != socket.gethostname():
        return f"process {pid} on {host}, which can't be checked from here"
    return f"process {pid}"


def _add_live_summary(conn: sqlite3.Connection, session: dict[str, Any]) -> None:
    """A running session's summary isn't stored until it ends: compute it from its tokens so far."""
    if session["status"] != RUNNING:
        return
    summary = summary_from_db(conn, session["id"])
    session.update(zip(SUMMARY_NAMES, summary_values(summary)))
