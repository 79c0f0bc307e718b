"""The store's SQL for sessions and tokens, made from the field table (profiler/session_fields.py).

Every INSERT, SELECT and summary UPDATE of a session's or a token's columns is built here, so a
field added to the table reaches the writer, the importer and every reader at once.
"""

from __future__ import annotations

import json
import operator
import sqlite3
from typing import Any

from profiler.records import SessionMeta, SessionSummary, TokenRecord
from profiler.session_fields import (META_FIELDS, SESSION_FIELDS, SUMMARY_FIELDS, TOKEN_FIELDS, config_fingerprint)

_META_NAMES = tuple(f.name for f in META_FIELDS)
_JSON_META = frozenset(f.name for f in META_FIELDS if f.json)
_STATE_INSERTED = ("id", "status", "started", "ended", "host", "pid", "pid_started")
SESSION_INSERT = (f"INSERT INTO sessions ({', '.join(_STATE_INSERTED + _META_NAMES)}) "
                  f"VALUES ({','.join('?' * (len(_STATE_INSERTED) + len(_META_NAMES)))})")

ENDED_FIELDS = ("eos_k", "compile_ms", "peak_memory_mb")
"""SessionMeta fields that may only be known when the session ends (SessionWriter.finish sets them)."""

SUMMARY_NAMES = tuple(f.name for f in SUMMARY_FIELDS)
SUMMARY_ASSIGNMENTS = ", ".join(f"{name}=?" for name in SUMMARY_NAMES)
"""`tokens=?, ttft_ms=?, ...`: the summary columns of an UPDATE, values from `summary_values`."""

LISTED_COLUMNS = tuple(f.name for f in SESSION_FIELDS if not f.json and f.name != "pid_started")
"""What listing sessions reads: every column but the JSON blobs (settings, environment)."""

TOKEN_NAMES = tuple(f.name for f in TOKEN_FIELDS)
TOKEN_COLUMNS = ", ".join(TOKEN_NAMES)
TOKEN_INSERT = f"INSERT INTO tokens (session_id, {TOKEN_COLUMNS}) VALUES (?,{','.join('?' * len(TOKEN_NAMES))})"
_token_values = operator.attrgetter(*TOKEN_NAMES)


def token_row(session_id: str, record: TokenRecord) -> tuple:
    """A token's TOKEN_INSERT parameters."""
    return (session_id, *_token_values(record))


def summary_values(summary: SessionSummary) -> tuple:
    return tuple(getattr(summary, name) for name in SUMMARY_NAMES)


def meta_values(meta: SessionMeta) -> tuple:
    """The meta columns' values, JSON fields as text; the configuration fingerprint filled in when empty."""
    values = []
    for name in _META_NAMES:
        value = getattr(meta, name)
        if name in _JSON_META:
            value = json.dumps(value, default=str)
        elif name == "config" and not value:
            value = config_fingerprint(meta)
        values.append(value)
    return tuple(values)


def insert_session(conn: sqlite3.Connection, session_id: str, meta: SessionMeta, *, status: str, started: str,
                   ended: str | None = None, host: str = "", pid: int | None = None,
                   pid_started: float | None = None) -> None:
    """One session row (inside the caller's write transaction)."""
    conn.execute(SESSION_INSERT, (session_id, status, started, ended, host, pid, pid_started, *meta_values(meta)))


def session_from_row(names: list[str], row: tuple) -> dict[str, Any]:
    """A session row as a dict: warmup as a bool, JSON fields parsed."""
    session = dict(zip(names, row))
    session["warmup"] = bool(session["warmup"])
    for name in _JSON_META:
        if name in session:
            session[name] = json.loads(session[name] or "{}")
    return session
