"""Tokens joined with their session, in the CSV/frame column layout (profiler.columns).

The SELECT is made from the field table (profiler/session_fields.py): one column per CSV column,
from `sessions` or `tokens` as the field says.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterator, Sequence

from profiler.records import iso_from_unix
from profiler.session_fields import CSV_FIELDS, CSV_LAYOUT, SESSIONS

_SELECT = (f"SELECT {', '.join(('s.' if f.table == SESSIONS else 't.') + f.name for f in CSV_FIELDS)}"
           " FROM tokens t JOIN sessions s ON s.id = t.session_id")
_BOOLEANS = [f.csv for f in CSV_FIELDS if f.type is bool]
_WALL_TIME = next(f.csv for f in CSV_FIELDS if f.name == "wall_time")


def query_token_rows(conn: sqlite3.Connection, session_ids: Sequence[str] | None,
                     include_warmup: bool) -> list[dict[str, Any]]:
    return list(iter_token_rows(conn, session_ids, include_warmup))


def iter_token_rows(conn: sqlite3.Connection, session_ids: Sequence[str] | None,
                    include_warmup: bool) -> Iterator[dict[str, Any]]:
    """The rows one at a time, straight from the cursor: an export of 2M tokens holds one row, not 2M."""
    clauses, params = [], []
    if session_ids is not None:
        if not session_ids:
            return
        clauses.append(f"s.id IN ({','.join('?' * len(session_ids))})")
        params.extend(session_ids)
    if not include_warmup:
        clauses.append("s.warmup = 0")
    sql = _SELECT + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY s.started, s.rowid, t.k"
    for values in conn.execute(sql, params):
        yield _row(values)


def iter_readable_token_rows(conn: sqlite3.Connection, session_ids: Sequence[str] | None, include_warmup: bool,
                             unreadable: list[str]) -> Iterator[dict[str, Any]]:
    """Like iter_token_rows, for a damaged store: session by session, skipping (and listing in
    `unreadable`) each session whose rows can't be read, so everything still readable is kept.

    The ids come from the primary key's own index (it holds them: no table page is read), then
    each session's row and tokens are read apart, so one bad page costs only the sessions on it.
    """
    from profiler.errors import StoreError
    from profiler.store.failures import damaged_message

    wanted = None if session_ids is None else set(session_ids)
    try:
        ids = [row[0] for row in conn.execute("SELECT id FROM sessions INDEXED BY sqlite_autoindex_sessions_1")]
    except sqlite3.DatabaseError as exc:
        raise StoreError(damaged_message(conn.path, f"{exc}; not even the session ids can be read")) from None
    ordered = []
    for session_id in ids:
        if wanted is not None and session_id not in wanted:
            continue
        try:
            started, rowid, warmup = conn.execute("SELECT started, rowid, warmup FROM sessions WHERE id = ?",
                                                  (session_id,)).fetchone()
        except sqlite3.DatabaseError:
            unreadable.append(session_id)
            continue
        if include_warmup or not warmup:
            ordered.append((started, rowid, session_id))
    for _started, _rowid, session_id in sorted(ordered):
        try:
            rows = [_row(values) for values in conn.execute(_SELECT + " WHERE s.id = ? ORDER BY t.k", (session_id,))]
        except sqlite3.DatabaseError:
            unreadable.append(session_id)
            continue
        yield from rows


def _row(values: tuple) -> dict[str, Any]:
    row = dict(zip(CSV_LAYOUT, values))
    for column in _BOOLEANS:
        row[column] = bool(row[column])
    wall = row[_WALL_TIME]
    row[_WALL_TIME] = iso_from_unix(wall) if wall else ""  # 0.0: no timestamp (an imported seed row)
    return row
