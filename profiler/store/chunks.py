"""Rows of remote sessions (schema v2): streamed chunks, per-request client/server facts, runs.

Written by a remote run's store writer process on its own connection; read by `show` and tests.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

from profiler.records import utc_now_iso
from profiler.store.transaction import write_transaction

CHUNK_INSERT = ("INSERT INTO chunks (session_id, n, arrival_ms, gap_ms, tokens, content, text, gc_collections)"
                " VALUES (?,?,?,?,?,?,?,?)")
_REMOTE_COLUMNS = ("session_id", "run_id", "api", "endpoint", "url", "token_source", "queue_ms", "http_status",
                   "server_tokens", "counted_tokens", "chunks", "server_timing", "cold_load")


def write_in_transaction(conn: sqlite3.Connection, statements: Iterable[tuple[str, list[tuple]]]) -> None:
    """Several statements' rows in one `write_transaction` (profiler/store/transaction.py)."""
    with write_transaction(conn):
        for sql, rows in statements:
            if rows:
                conn.executemany(sql, rows)


def mark_remote(conn: sqlite3.Connection, session_id: str, run_id: str | None) -> None:
    write_in_transaction(conn, [("UPDATE sessions SET timing='arrival', run_id=? WHERE id=?", [(run_id, session_id)])])


def remote_row(values: dict[str, Any]) -> tuple:
    row = dict(values)
    row["server_timing"] = json.dumps(row.get("server_timing") or {})
    cold = row.get("cold_load")
    row["cold_load"] = None if cold is None else int(bool(cold))
    return tuple(row.get(column) for column in _REMOTE_COLUMNS)


REMOTE_INSERT = (f"INSERT OR REPLACE INTO remote_sessions ({', '.join(_REMOTE_COLUMNS)}) "
                 f"VALUES ({','.join('?' * len(_REMOTE_COLUMNS))})")


def begin_run(conn: sqlite3.Connection, run_id: str, settings: dict[str, Any]) -> None:
    write_in_transaction(conn, [("INSERT INTO runs (id, started, settings) VALUES (?,?,?)",
                                 [(run_id, utc_now_iso(), json.dumps(settings, default=str))])])


def end_run(conn: sqlite3.Connection, run_id: str, summary: dict[str, Any]) -> None:
    write_in_transaction(conn, [("UPDATE runs SET ended=?, summary=? WHERE id=?",
                                 [(utc_now_iso(), json.dumps(summary, default=str), run_id)])])


def session_chunks(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    cursor = conn.execute("SELECT n, arrival_ms, gap_ms, tokens, content, text, gc_collections FROM chunks"
                          " WHERE session_id=? ORDER BY n", (session_id,))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def remote_session(conn: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
    cursor = conn.execute(f"SELECT {', '.join(_REMOTE_COLUMNS)} FROM remote_sessions WHERE session_id=?",
                          (session_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    info = dict(zip(_REMOTE_COLUMNS, row))
    info["server_timing"] = json.loads(info["server_timing"] or "{}")
    return info


def run_sessions(conn: sqlite3.Connection, run_id: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT id FROM sessions WHERE run_id=? ORDER BY started, rowid", (run_id,))]


def get_run(conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT id, started, ended, settings, summary FROM runs WHERE id=?", (run_id,)).fetchone()
    if row is None:
        return None
    return {"id": row[0], "started": row[1], "ended": row[2], "settings": json.loads(row[3] or "{}"),
            "summary": json.loads(row[4]) if row[4] else None}


def remote_details(store, session_id: str) -> dict[str, Any] | None:
    """A remote session's client/server facts and its chunks (None for a local session)."""
    conn = store._connection()
    info = remote_session(conn, session_id)
    if info is None:
        return None
    info["chunk_rows"] = session_chunks(conn, session_id)
    return info
