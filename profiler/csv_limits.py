"""What a CSV import accepts: every value inside these bounds exports, re-imports and fits.

One place for the bounds, so import checks, tests and the README's "CSV format" section agree.
Each bound comes from something downstream that breaks beyond it, named beside it.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

EARLIEST_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
"""Inclusive. Token times are stored as Unix seconds; nothing measured here predates the epoch."""
LATEST_TIME = dt.datetime(2200, 1, 1, tzinfo=dt.timezone.utc)
"""Exclusive. Unix seconds as a float keep every microsecond exactly up to 2^33 s (year 2242),
so a timestamp re-exports as the very text imported; year 9999 also overflows on export."""

MAX_DURATION_MS = 1e7
"""Exclusive (2.8 hours for one token). Larger values make the fits' residuals overflow."""
MIN_POSITIVE_DURATION_MS = 1e-6
"""A duration is 0 or at least this (1 ns, the clock's resolution): subnormal values such as
1e-310 make the robust fit's scale underflow and its solver fail."""

MAX_PROMPT_ID_CHARS = 256
"""A session id must fit on a command line (`show`, `export`, `delete` name it) and in a table cell."""

MAX_RECORD_CHARS = 16 * 1024 * 1024
"""One CSV record (a row, with any newlines inside quoted cells): 16 MiB. A row repeats its
session's prompt, so this is about a 4-million-token prompt; the bound keeps a file of garbage
(no line ends) from being read into memory whole."""


def duration_problem(value: float) -> str | None:
    """Why `value` (ms) can't be stored as a duration, or None when it can."""
    if value != value or value in (float("inf"), float("-inf")):
        return "a duration must be a finite number"
    if value < 0:
        return "a duration can't be negative"
    if value >= MAX_DURATION_MS:
        return f"a duration must be below {MAX_DURATION_MS:,.0f} ms"
    if 0 < value < MIN_POSITIVE_DURATION_MS:
        return f"a duration is 0 or at least {MIN_POSITIVE_DURATION_MS:g} ms (1 ns)"
    return None


def utc_in_range(moment: dt.datetime) -> dt.datetime | None:
    """`moment` in UTC (naive means UTC), or None when it lies outside [EARLIEST_TIME, LATEST_TIME)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    try:
        utc = moment.astimezone(dt.timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        return None
    return utc if EARLIEST_TIME <= utc < LATEST_TIME else None


def time_range_text() -> str:
    return f"from {EARLIEST_TIME:%Y-%m-%d} up to (not including) {LATEST_TIME:%Y-%m-%d} UTC"


def normalise_prompt_id(text: str) -> tuple[str, str | None]:
    """(the id with surrounding whitespace removed, why it can't be an id or None).

    Surrounding spaces are dropped rather than refused: spreadsheets pad cells, and an id with
    them could never be named on a command line (`resolve_ids` strips what it is given).
    """
    session_id = text.strip()
    if not session_id:
        return session_id, "Prompt_ID is empty"
    if len(session_id) > MAX_PROMPT_ID_CHARS:
        return session_id, f"Prompt_ID is {len(session_id)} characters long; at most {MAX_PROMPT_ID_CHARS}"
    for char in session_id:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return session_id, (f"Prompt_ID {session_id[:40]!r} holds a control character or line break "
                                "(it could not be shown or named on a command line)")
    return session_id, None


EXTRA_HEADER_COLUMNS = 16
"""Columns we don't know that a header may hold beside ours (a spreadsheet's own columns are
ignored and reported). A header of 10^6 columns took `import` minutes before any row was read;
the bound is checked first. `max_header_columns()` is the figure."""

MAX_IMPORT_SESSIONS = 1_000_000
"""Sessions one import may add. Rows stream into the store in batches (`IMPORT_BATCH_ROWS`), so a
file's size costs no memory, but each session keeps ~200 bytes (its first line and a digest of
its columns, to check its later rows): this bound keeps an endless FIFO of new sessions below
~200 MB."""

IMPORT_BATCH_ROWS = 5_000
"""Token rows held before they are written into the import's (one) transaction."""

IDLE_TIMEOUT_S = 60.0
"""How long a FIFO or device may give no data before `import` gives up (`--idle-timeout`)."""
MAX_IDLE_TIMEOUT_S = 86_400.0


def max_header_columns() -> int:
    from profiler.columns import ALL_COLUMNS

    return len(ALL_COLUMNS) + EXTRA_HEADER_COLUMNS
