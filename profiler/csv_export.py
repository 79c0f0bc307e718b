"""Writing sessions' tokens to CSV: one row per token, `profiler.columns.ALL_COLUMNS` in order.

The file appears whole or not at all: rows go to a temporary file beside the target, which is
renamed into place only once complete, so a failed or interrupted export (an error, SIGINT,
SIGTERM, SIGHUP) never leaves half a CSV nor its temporary file. Which targets may be written,
and how leftovers of a SIGKILL are swept, is `export_target`'s job.
"""

from __future__ import annotations

import csv
import io
import itertools
import operator
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TextIO

from profiler.columns import ALL_COLUMNS
from profiler.errors import InputError
from profiler.export_target import STDOUT  # noqa: F401 - re-exported: csv_io's public name
from profiler.export_target import STDOUT_HINT, check_writable_target, is_stdout, replacing_file
from profiler.session_fields import CSV_FIELDS, SESSIONS
from profiler.store.location import names_the_store

# RFC 4180 line ends. Not just style: the csv module quotes a field only when it holds a
# character of the line terminator, so with "\n" a token text holding a lone "\r" would be
# written unquoted and split the row when read back.
LINE_TERMINATOR = "\r\n"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: str
    """The file written, or "-" for standard output."""
    sessions: int
    """Sessions with at least one row in the file."""
    rows: int
    """Token rows written (the header not counted)."""
    empty_sessions: int = 0
    """Requested sessions with no tokens: a per-token file has no row to hold them."""
    unreadable_sessions: int = 0
    """Sessions left out because the (damaged) store couldn't read them."""


BOOLEAN_COLUMNS = tuple(f.csv for f in CSV_FIELDS if f.type is bool)
SESSION_TEXT_COLUMNS = tuple(f.csv for f in CSV_FIELDS if f.table == SESSIONS and (f.read == "text" or f.name == "id"))
"""Text that is the same on every row of a session: checked for NUL once per session."""


def format_value(value: Any) -> str:
    """One cell: floats as repr (exact round trip), booleans as true/false, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, float):
        return float.__repr__(value)  # not repr(): numpy 2 floats repr as "np.float64(...)"
    return str(value)


def write_rows(handle: TextIO, rows: Iterable[dict[str, Any]]) -> int:
    """Write the header and `rows` to an open text handle; returns the row count.

    `rows` are dicts keyed by ALL_COLUMNS holding plain Python values, as
    `SessionStore.token_rows()` gives them. For those the csv module already writes what
    `format_value` would (floats by repr, None as empty), so only the boolean columns are
    converted: formatting every cell in Python would more than double an export's time.

    A row holding a NUL character (a byte-level tokenizer can decode a token to "\\x00") is
    written with every cell quoted: import refuses NUL outside quotes, the mark of a binary file.
    """
    writer = csv.writer(handle, lineterminator=LINE_TERMINATOR)
    quoting_writer = csv.writer(handle, lineterminator=LINE_TERMINATOR, quoting=csv.QUOTE_ALL)
    writer.writerow(ALL_COLUMNS)
    cells_of = operator.itemgetter(*ALL_COLUMNS)
    session_text_of = operator.itemgetter(*SESSION_TEXT_COLUMNS)
    boolean_positions = [ALL_COLUMNS.index(column) for column in BOOLEAN_COLUMNS]
    count = 0
    session_id, session_has_nul = None, False
    for row in rows:
        if row["Prompt_ID"] != session_id:
            session_id = row["Prompt_ID"]
            session_has_nul = any(map(_has_nul, session_text_of(row)))
        cells = list(cells_of(row))
        for position in boolean_positions:
            cells[position] = format_value(cells[position])
        has_nul = session_has_nul or _has_nul(row["token_text"])
        (quoting_writer if has_nul else writer).writerow(cells)
        count += 1
    return count


def _has_nul(value: Any) -> bool:
    return isinstance(value, str) and "\x00" in value


def write_csv(path: str | os.PathLike, rows: Iterable[dict[str, Any]], *, force: bool = False) -> int:
    """Write rows to `path` atomically (or to stdout, see `export_target.is_stdout`); returns the row count.

    Raises InputError, leaving nothing behind, if `path` may not be written (see `export_target`)
    or the write fails. `rows` may be a generator: if it raises, no file appears.
    """
    if is_stdout(path):
        return write_stdout(rows)
    with replacing_file(path, force=force, hint=STDOUT_HINT) as handle:
        return write_rows(handle, rows)


def write_stdout(rows: Iterable[dict[str, Any]]) -> int:
    """Write the CSV to standard output as UTF-8; a failed write (a full disk) is one InputError.

    A reader that goes away (`| head`) raises BrokenPipeError, which the CLI ends quietly.
    Either way stdout is pointed at /dev/null afterwards, so the interpreter's final flush of
    what is still buffered can't print a second error.
    """
    if not hasattr(sys.stdout, "buffer"):  # replaced by a text-only stream (an in-process caller's capture)
        return write_rows(sys.stdout, rows)
    sys.stdout.flush()
    handle = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        count = write_rows(handle, rows)
        handle.flush()
    except BrokenPipeError:
        _silence_stdout()
        raise
    except OSError as exc:
        _silence_stdout()
        raise InputError(f"can't write the CSV to standard output: {exc.strerror or exc}") from None
    finally:
        try:
            handle.detach()  # leave sys.stdout usable (and open) for whoever prints next
        except ValueError:
            pass
    return count


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # no real descriptor behind stdout (a capture): nothing will flush to a dead one


def export_sessions(store, session_ids: Sequence[str] | None, path: str | os.PathLike, *,
                    force: bool = False, include_warmup: bool = True, damaged: bool = False) -> ExportResult:
    """Export the tokens of `session_ids` (full ids or unique prefixes; None = every session).

    Rows come sessions oldest first, tokens by k, streamed from the store to the file one at a
    time: memory stays flat whatever the store holds. Raises InputError for an unknown id, for
    nothing to export (no file is written then), or for a target that can't be written.
    `damaged`: the store failed its integrity check; sessions that can't be read are left out
    and counted in `ExportResult.unreadable_sessions`.
    """
    if not is_stdout(path):
        if names_the_store(path, store.path):
            # a regular file, so --force would replace it: the store itself would be lost
            raise InputError(f"{path} is the session store itself (or one of its files); export elsewhere")
        check_writable_target(Path(path), force=force)  # fail before reading a large store
    wanted = None if session_ids is None else sorted(set(store.resolve_ids(session_ids)))
    unreadable: list[str] | None = [] if damaged else None
    rows = store.iter_token_rows(wanted, include_warmup=include_warmup, unreadable=unreadable)
    first = next(rows, None)
    if first is None:
        what = "the store has no tokens" if wanted is None else "the sessions given have no tokens"
        if not include_warmup:
            what += " outside warm-up sessions"
        if unreadable:
            what += f" that can still be read ({len(unreadable)} session(s) can't be)"
        raise InputError(f"nothing to export: {what}; no file written")
    sessions = _SessionCounter()
    count = write_csv(path, sessions.count(itertools.chain([first], rows)), force=force)
    missing = len(unreadable or ())
    # a damaged store may fail to count (it reads every row): there, what was read is what there is
    selected = sessions.seen + missing if damaged else store.count_selected(wanted, include_warmup=include_warmup)
    return ExportResult(str(path), sessions.seen, count,
                        empty_sessions=max(0, selected - sessions.seen - missing), unreadable_sessions=missing)


class _SessionCounter:
    """Counts the sessions in a stream of rows ordered by session, passing the rows on."""

    def __init__(self) -> None:
        self.seen = 0

    def count(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        current = None
        for row in rows:
            if row["Prompt_ID"] != current:
                current = row["Prompt_ID"]
                self.seen += 1
            yield row
