"""Reading a per-token CSV into sessions: our own export format or the seed study's five columns.

Every row is checked as it is read and goes into the store inside ONE transaction, in bounded
batches (`SessionStore.bulk_import`), so a bad row anywhere imports nothing and memory doesn't grow
with the file. Errors name the line a text editor would show: the physical line where the
offending record starts.

Rules, for the README:
- Required: the seed's five columns (shared/data/seed-llm-latency/README.md). Any of our other
  columns (profiler.columns.ALL_COLUMNS; each read as profiler/session_fields.py says) that are
  present are restored; missing ones mean "unknown" (empty text), phase follows k (prefill for
  k = 1), status is finished, the configuration fingerprint is computed. Columns we don't know
  are ignored and reported.
- A session's columns (Input_Token_Length, prompt, model, ...) must be the same on all its rows.
- Context_Size should be Input_Token_Length + k - 1. Rows where it isn't are imported as they are
  and counted in `ImportResult.context_mismatches`: the store can hold them, and refusing would
  make an export of such a session impossible to import back.
- A session exported while still `running` comes back `interrupted`: no process here is writing it.
- Sessions without session_started are given the import time plus i microseconds (i = their
  position in the file), so listing them oldest first keeps the file's order.
- Values must lie inside `profiler.csv_limits` (times, durations, session ids, row size), so
  whatever is imported exports and fits again; the file is read once, in bounded memory
  (`profiler.csv_lines`), so a FIFO or a device works or fails like a file, and one silent for
  `--idle-timeout` seconds ends the import. A header has at most `max_header_columns()` columns;
  one file adds at most MAX_IMPORT_SESSIONS sessions.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
import os
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from profiler.columns import ALL_COLUMNS, EXTRA_COLUMNS, SEED_COLUMNS
from profiler.csv_cells import CellReader, iso_utc
from profiler.csv_import_sinks import CollectingSink, ParsedSession, StoreSink
from profiler.csv_limits import IDLE_TIMEOUT_S, MAX_IMPORT_SESSIONS, MAX_RECORD_CHARS, max_header_columns, \
    normalise_prompt_id
from profiler.csv_lines import BoundedLines, open_csv_text
from profiler.errors import CsvFormatError
from profiler.records import DECODE, PREFILL, TokenRecord
from profiler.session_fields import CSV_FIELDS, SESSIONS, TOKENS
from profiler.store.location import names_the_store

OPEN_SESSIONS = 16
"""Sessions whose parsed columns are kept while importing (interleaved rows of a few sessions)."""
_ID_CACHE = 4096

# A long-context prompt is repeated on every row and easily passes csv's default 128 KiB cell
# limit; a file we exported must always import. A cell can't be longer than its record anyway
# (BoundedLines refuses longer records first, with a clearer message).
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_CHARS))

_SESSION_FIELDS = [f for f in CSV_FIELDS if f.table == SESSIONS and f.name != "id"]
SESSION_COLUMNS = [f.csv for f in _SESSION_FIELDS]
"""Columns that describe the session rather than the token: equal on every row of a Prompt_ID."""
_TOKEN_FIELDS = [f for f in CSV_FIELDS if f.table == TOKENS and f.name != "phase"]
"""Read cell by cell; phase after them, as its default follows k."""

FORMAT_FULL = "tokenlat-tui"
FORMAT_SEED = "seed"
FORMAT_PARTIAL = "partial"


@dataclass(frozen=True)
class ImportResult:
    """What an import added to the store."""

    path: str
    format: str
    """`tokenlat-tui` (all our columns), `seed` (the bare five) or `partial` (some of ours)."""
    session_ids: list[str]
    """In file order."""
    rows: int
    ignored_columns: list[str] = field(default_factory=list)
    context_mismatches: int = 0
    """Rows whose Context_Size isn't Input_Token_Length + k - 1 (imported as they are)."""
    first_mismatch_line: int | None = None


@dataclass
class ParsedCsv:
    format: str
    sessions: list[ParsedSession]
    rows: int
    ignored_columns: list[str]
    context_mismatches: int
    first_mismatch_line: int | None


@dataclass(frozen=True)
class _Seen:
    """What is kept of a session once it leaves the parser's few open sessions: ~200 bytes."""

    first_line: int
    fields_digest: bytes
    input_tokens: int


def import_csv(store, path: str | os.PathLike, *, now: dt.datetime | None = None,
               idle_timeout_s: float = IDLE_TIMEOUT_S) -> ImportResult:
    """Import every session in `path` into `store` in one transaction, or nothing.

    Raises CsvFormatError naming the line for a bad file or a Prompt_ID already in the store.
    `now` (default: the current time) dates sessions the file gives no session_started. Rows
    stream into the transaction in batches (profiler.store.bulk_import), so memory doesn't grow
    with the file; a FIFO or device silent for `idle_timeout_s` ends the import.
    """
    if names_the_store(path, store.path):
        # reading it through a plain descriptor would drop this process's SQLite locks on it
        raise CsvFormatError(f"{path} is the session store itself, not a CSV; nothing imported")
    try:
        with store.bulk_import() as bulk:
            sink = StoreSink(bulk, f"import:{Path(path).name}", str(path))
            parsed = _parse_file(path, sink, now, idle_timeout_s)
            sink.flush()
    except CsvFormatError as exc:
        raise CsvFormatError(f"{exc}; nothing imported") from None
    return ImportResult(str(path), parsed.format, bulk.session_ids, parsed.rows, parsed.ignored_columns,
                        parsed.context_mismatches, parsed.first_mismatch_line)


def read_csv_sessions(path: str | os.PathLike, *, now: dt.datetime | None = None) -> ParsedCsv:
    """Parse and check the whole file into memory without touching any store; CsvFormatError names the line."""
    sink = CollectingSink()
    parsed = _parse_file(path, sink, now, IDLE_TIMEOUT_S)
    return replace(parsed, sessions=list(sink.sessions.values()))


def _parse_file(path: str | os.PathLike, sink, now: dt.datetime | None, idle_timeout_s: float) -> ParsedCsv:
    target = Path(path)
    if target.is_dir():
        raise CsvFormatError(f"{path} is a directory, not a CSV file")
    try:
        # read exactly once: a FIFO or a process substitution can't be read again
        with open_csv_text(target, idle_timeout_s=idle_timeout_s) as handle:
            return _RowParser(str(path), sink, now).parse(BoundedLines(handle, str(path)))
    except OSError as exc:
        raise CsvFormatError(f"can't read {path}: {exc.strerror or exc}") from None


class _RowParser(CellReader):
    """Walks the records once, checking each cell, handing sessions and tokens to a sink as they come.

    Memory is bounded whatever the file holds: rows are handed on at once; the last OPEN_SESSIONS
    sessions keep their parsed columns (to compare a later row's and name the column that
    differs), older ones only a `_Seen` (a digest of their columns), at most MAX_IMPORT_SESSIONS.
    """

    def __init__(self, name: str, sink, now: dt.datetime | None = None) -> None:
        super().__init__(name)
        self.sink = sink
        self.started = now or dt.datetime.now(dt.timezone.utc)
        self.lines: BoundedLines | None = None
        """The file's lines; told where each record starts, so its bounds apply per record."""
        # set from the header by _read_header
        self.width = 0
        self.columns: list[str] = []
        self.ignored_columns: list[str] = []
        self.session_index: list[int] = []
        self.open: OrderedDict[str, ParsedSession] = OrderedDict()
        self.seen: dict[str, _Seen] = {}
        self.session_ids: dict[str, str] = {}
        """Prompt_ID cell as written -> the session id (surrounding spaces removed); a cache, emptied when full."""
        self.rows = 0
        self.context_mismatches = 0
        self.first_mismatch_line: int | None = None

    def parse(self, lines: BoundedLines) -> ParsedCsv:
        self.lines = lines
        reader = csv.reader(lines, strict=True)
        header_line, header = self._next_record(reader)
        if header is None:
            raise CsvFormatError(f"{self.name} is empty: no header line")
        self._read_header(header_line, header)
        while True:
            line, record = self._next_record(reader)
            if record is None:
                break
            self._read_row(line, record)
        if not self.rows:
            raise self.fail(header_line + 1, "no data rows after the header")
        known = set(self.columns)
        if known >= set(EXTRA_COLUMNS):
            file_format = FORMAT_FULL
        else:
            file_format = FORMAT_PARTIAL if known & set(EXTRA_COLUMNS) else FORMAT_SEED
        return ParsedCsv(file_format, [], self.rows, self.ignored_columns, self.context_mismatches,
                         self.first_mismatch_line)

    def _next_record(self, reader) -> tuple[int, list[str] | None]:
        """The next non-blank record and the line it starts on; (line, None) at the end."""
        while True:
            line = reader.line_num + 1
            self.lines.start_record()
            try:
                record = next(reader)
            except StopIteration:
                return line, None
            except csv.Error as exc:
                reason = "a quoted field is never closed" if "end of data" in str(exc) else str(exc)
                raise self.fail(line, f"malformed CSV: {reason}") from None
            # blank lines (and a spreadsheet's trailing ",,,," rows) carry nothing
            if any(cell.strip() for cell in record):
                return line, record

    def _read_header(self, line: int, header: list[str]) -> None:
        if len(header) > max_header_columns():
            # checked first: comparing a million names with each other took minutes
            raise self.fail(line, f"the header has {len(header):,} columns; the format has {len(ALL_COLUMNS)} "
                                  f"and an import reads at most {max_header_columns()} (unknown ones included)")
        names = [name.strip() for name in header]
        counts = Counter(names)
        duplicates = sorted(name for name, count in counts.items() if count > 1)
        if duplicates:
            raise self.fail(line, f"column {duplicates[0]} appears more than once")
        missing = [name for name in SEED_COLUMNS if name not in names]
        if missing:
            raise self.fail(line, f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                  f"(the header needs at least {', '.join(SEED_COLUMNS)})")
        self.width = len(names)
        self.index = {name: position for position, name in enumerate(names) if name in ALL_COLUMNS}
        self.columns = [name for name in ALL_COLUMNS if name in self.index]
        self.ignored_columns = [name for name in names if name not in ALL_COLUMNS]
        self.session_index = [self.index[name] for name in SESSION_COLUMNS if name in self.index]
        # a column the file lacks reads as the same default on every row: read it once here
        # (a million-row import spent half its time re-reading absent cells)
        self.token_readers = [(f.name, getattr(self, f.read), f.csv, dict(f.read_options))
                              for f in _TOKEN_FIELDS if f.csv in self.index]
        self.absent_token_values = {f.name: self.read([], f, line) for f in _TOKEN_FIELDS if f.csv not in self.index}

    def _read_row(self, line: int, record: list[str]) -> None:
        if len(record) != self.width:
            raise self.fail(line, f"{len(record)} fields where the header has {self.width}")
        session_id = self._session_id(record, line)
        raw_session_cells = tuple(record[position] for position in self.session_index)
        session = self.open.get(session_id)
        if session is not None:
            self.open.move_to_end(session_id)
            if raw_session_cells != session.raw_session_cells:
                self._check_same_session(session, self._session_fields(record, line), line)
            input_tokens = session.fields["Input_Token_Length"]
        else:
            input_tokens = self._reopen(session_id, raw_session_cells, record, line)
        token = self._token(record, line)
        self.sink.token(self, session_id, line, token)
        self.rows += 1
        if token.context_size != input_tokens + token.k - 1:
            self.context_mismatches += 1
            if self.first_mismatch_line is None:
                self.first_mismatch_line = line

    def _session_id(self, record: list[str], line: int) -> str:
        raw_id = self.cell(record, "Prompt_ID")
        session_id = self.session_ids.get(raw_id)
        if session_id is None:  # checked once per spelling, not on every row
            session_id, problem = normalise_prompt_id(raw_id)
            if problem:
                raise self.fail(line, problem)
            if len(self.session_ids) >= _ID_CACHE:
                self.session_ids.clear()
            self.session_ids[raw_id] = session_id
        return session_id

    def _reopen(self, session_id: str, raw_session_cells: tuple[str, ...], record: list[str], line: int) -> int:
        """A session not among the open ones: new (handed to the sink), or seen before (checked
        against the digest of its columns); either way open again. Returns its input length."""
        fields = self._session_fields(record, line)
        digest = _digest(fields)
        seen = self.seen.get(session_id)
        if seen is None:
            if len(self.seen) >= MAX_IMPORT_SESSIONS:
                raise self.fail(line, f"more than {MAX_IMPORT_SESSIONS:,} sessions (Prompt_IDs) in one file; "
                                      "split it and import the parts one by one")
            stored = dict(fields)
            if stored["session_started"] is None:
                # distinct, increasing timestamps keep the file's order when sessions are listed by time
                stored["session_started"] = iso_utc(self.started + dt.timedelta(microseconds=len(self.seen)))
            self.seen[session_id] = _Seen(line, digest, fields["Input_Token_Length"])
            self.sink.session(self, session_id, line, stored)
            first_line = line
        else:
            if digest != seen.fields_digest:
                raise self.fail(line, f"a session column differs from line {seen.first_line} for Prompt_ID "
                                      f"{session_id}; a session's columns must be the same on all its rows")
            first_line = seen.first_line
        self.open[session_id] = ParsedSession(session_id, first_line, raw_session_cells, fields)
        if len(self.open) > OPEN_SESSIONS:
            self.open.popitem(last=False)
        return fields["Input_Token_Length"]

    def _check_same_session(self, session: ParsedSession, fields: dict[str, Any], line: int) -> None:
        for column in SESSION_COLUMNS:
            if fields[column] != session.fields[column]:
                raise self.fail(line, f"{column} is {_show(fields[column])} but {_show(session.fields[column])} "
                                      f"on line {session.first_line} for Prompt_ID {session.session_id}; "
                                      "a session's columns must be the same on all its rows")

    def _session_fields(self, record: list[str], line: int) -> dict[str, Any]:
        """The session's cells by column name, each read as the field table says."""
        return {f.csv: self.read(record, f, line) for f in _SESSION_FIELDS}

    def _token(self, record: list[str], line: int) -> TokenRecord:
        values = dict(self.absent_token_values)
        for name, reader, column, options in self.token_readers:
            values[name] = reader(record, column, line, **options)
        phase = self.cell(record, "phase") or (PREFILL if values["k"] == 1 else DECODE)
        if phase not in (PREFILL, DECODE):
            raise self.fail(line, f"phase is {phase!r}; expected {PREFILL} or {DECODE}")
        return TokenRecord(phase=phase, **values)

    def wall_time(self, record: list[str], column: str, line: int) -> float:
        """A token's time as the store keeps it: Unix seconds, with 0.0 meaning "no timestamp".

        The Unix epoch itself would read back as "no timestamp", so it is stored as the smallest
        positive float, which is still 1970-01-01T00:00:00.000000 to the microsecond.
        """
        produced = self.timestamp(record, column, line)
        if produced is None:
            return 0.0
        return dt.datetime.fromisoformat(produced).timestamp() or math.ulp(0.0)


def _digest(fields: dict[str, Any]) -> bytes:
    """16 bytes that differ when a session's parsed columns do (repr: exact for floats, ordered dicts)."""
    return hashlib.blake2b(repr(sorted(fields.items())).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as the file spells it
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
