"""Tokens joined with their session, in the CSV/frame column layout (profiler.columns).

The SELECT is made from the field table (profiler/session_fields.py): one column per CSV column,
from `sessions` or `tokens` as the field says.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from profiler.records import iso_from_unix
from profiler.session_fields import CSV_FIELDS, CSV_LAYOUT, SESSIONS

_SELECT = (f"SELECT {', '.join(('s.' if f.table == SESSIONS else 't.') + f.name for f in CSV_FIELDS)}"
           " FROM tokens t JOIN sessions s ON s.id = t.session_id")
_BOOLEANS = [f.csv for f in CSV_FIELDS if f.type is bool]
_WALL_TIME = next(f.csv for f in CSV_FIELDS if f.name == "wall_time")


def query_token_rows(conn: sqlite3.Connection, session_ids: Sequence[str] | None,
                     include_warmup: bool) -> list[dict[str, Any]]:
    clauses, params = [], []
    if session_ids is not None:
        if not session_ids:
            return []
        clauses.append(f"s.id IN ({','.join('?' * len(session_ids))})")
        params.extend(session_ids)
    if not include_warmup:
        clauses.append("s.warmup = 0")
    sql = _SELECT + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY s.started, s.rowid, t.k"
    rows = []
    for values in conn.execute(sql, params):
        row = dict(zip(CSV_LAYOUT, values))
        for column in _BOOLEANS:
            row[column] = bool(row[column])
        wall = row[_WALL_TIME]
        row[_WALL_TIME] = iso_from_unix(wall) if wall else ""  # 0.0: no timestamp (an imported seed row)
        rows.append(row)
    return rows
