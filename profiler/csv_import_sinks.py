"""Where the CSV importer (profiler/csv_import.py) hands each checked session and token: the store's
import transaction (`StoreSink`, in batches) or memory (`CollectingSink`, `read_csv_sessions`).

A sink's `parser` argument is the importer's row parser: `parser.fail(line, why)` makes the error
that names the line, so a duplicate found here reads like one found while parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.csv_limits import IMPORT_BATCH_ROWS
from profiler.errors import CsvFormatError
from profiler.records import SessionMeta, TokenRecord
from profiler.session_fields import CSV_FIELDS, META, SESSIONS
from profiler.store.session_rows import token_row

META_COLUMNS = {f.csv: f.name for f in CSV_FIELDS if f.table == SESSIONS and f.name != "id" and f.role == META}
"""CSV column -> SessionMeta field, for the session columns that are the session's meta."""


@dataclass
class ParsedSession:
    """One Prompt_ID as read from the file (tokens and line_of_k: only where kept, `read_csv_sessions`)."""

    session_id: str
    first_line: int
    raw_session_cells: tuple[str, ...]
    """Its session cells on its first row: later rows compare against these first (fast path)."""
    fields: dict[str, Any]
    tokens: list[TokenRecord] = field(default_factory=list)
    line_of_k: dict[int, int] = field(default_factory=dict)


class StoreSink:
    """Sessions and token rows into an import's transaction, tokens in batches of IMPORT_BATCH_ROWS."""

    def __init__(self, bulk, source: str, name: str) -> None:
        self.bulk = bulk
        self.source = source
        self.name = name
        self.pending: list[tuple] = []
        self.pending_lines: dict[tuple[str, int], int] = {}
        """(session, k) -> line of the rows not yet written: a duplicate among them names both lines."""

    def session(self, parser, session_id: str, line: int, fields: dict[str, Any]) -> None:
        if self.bulk.has_session(session_id):
            raise parser.fail(line, f"session {session_id} is already in the store")
        meta, overrides = session_row(session_id, fields, self.source)
        self.bulk.add_session(session_id, meta, status=overrides["status"], started=overrides["started"])

    def token(self, parser, session_id: str, line: int, token: TokenRecord) -> None:
        key = (session_id, token.k)
        first = self.pending_lines.get(key)
        if first is not None:
            raise parser.fail(line, f"duplicate (Prompt_ID, Token_Index_k) = ({session_id}, {token.k}), "
                                    f"first on line {first}")
        self.pending_lines[key] = line
        self.pending.append(token_row(session_id, token))
        if len(self.pending) >= IMPORT_BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        failed = self.bulk.add_tokens(self.pending)
        if failed is not None:
            session_id, k = self.pending[failed][0], self.pending[failed][1]
            line = self.pending_lines[(session_id, k)]
            raise CsvFormatError(f"{self.name} line {line}: duplicate (Prompt_ID, Token_Index_k) = "
                                 f"({session_id}, {k}), also on an earlier line")
        self.pending.clear()
        self.pending_lines.clear()


class CollectingSink:
    """Every session with its tokens in memory (`read_csv_sessions`: small files, no store)."""

    def __init__(self) -> None:
        self.sessions: dict[str, ParsedSession] = {}

    def session(self, parser, session_id: str, line: int, fields: dict[str, Any]) -> None:
        self.sessions[session_id] = ParsedSession(session_id, line, (), fields)

    def token(self, parser, session_id: str, line: int, token: TokenRecord) -> None:
        session = self.sessions[session_id]
        if token.k in session.line_of_k:
            raise parser.fail(line, f"duplicate (Prompt_ID, Token_Index_k) = ({session_id}, {token.k}), "
                                    f"first on line {session.line_of_k[token.k]}")
        session.line_of_k[token.k] = line
        session.tokens.append(token)


def session_row(session_id: str, fields: dict[str, Any], source: str) -> tuple[SessionMeta, dict[str, Any]]:
    """The store's (meta, overrides) pair for one parsed session."""
    meta = SessionMeta(**{name: fields[column] for column, name in META_COLUMNS.items()}, source=source)
    return meta, {"id": session_id, "status": fields["session_status"], "started": fields["session_started"]}
