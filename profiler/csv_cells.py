"""Reading one CSV cell as a checked value; a bad value is a CsvFormatError naming its line.

`CellReader` is the cell half of the importer (profiler/csv_import.py walks the records): it
knows the header's column positions and turns text into whole numbers, durations, booleans,
statuses, timings and UTC times inside `profiler.csv_limits`, so whatever passes imports,
exports and fits again. `default` is what an absent column or an empty cell means; without
one, a value is required.

Every reader takes (record, column, line, **options): the field table
(profiler/session_fields.py) names, per CSV column, the reader and its options.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from profiler.csv_limits import duration_problem, time_range_text, utc_in_range
from profiler.errors import CsvFormatError
from profiler.records import DEVICE_TIMING, FINISHED, INTERRUPTED, RUNNING, STATUSES, TIMINGS
from profiler.session_fields import Field
from profiler.store.schema import SQLITE_MAX_INTEGER

TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes"}, {"false", "0", "no", ""}


def _amount_problem(value: float) -> str | None:
    return None if math.isfinite(value) and value >= 0 else "it must be a finite number, not negative"


class CellReader:
    def __init__(self, name: str) -> None:
        self.name = name
        self.index: dict[str, int] = {}
        """Column name -> position in a record, set from the header."""

    def fail(self, line: int, message: str) -> CsvFormatError:
        return CsvFormatError(f"{self.name} line {line}: {message}")

    def cell(self, record: list[str], column: str) -> str | None:
        position = self.index.get(column)
        return None if position is None else record[position]

    def read(self, record: list[str], field: Field, line: int) -> Any:
        """The checked value of `field`'s CSV cell, read as the field table says."""
        return getattr(self, field.read)(record, field.csv, line, **dict(field.read_options))

    def text(self, record: list[str], column: str, line: int, *, default: Any = "") -> Any:
        """The cell as written (spaces kept: a prompt's are its own); `default` when absent or empty."""
        return self.cell(record, column) or default

    def timing(self, record: list[str], column: str, line: int) -> str:
        """How the latencies were measured; files from before the column existed are device-timed."""
        value = self.cell(record, column) or DEVICE_TIMING
        if value not in TIMINGS:
            raise self.fail(line, f"{column} is {value!r}; expected {' or '.join(TIMINGS)}")
        return value

    _REQUIRED = object()

    def present_text(self, record, column, line, default: Any) -> str | None:
        """The cell's text; None when it is absent or empty and `default` applies (required: refused)."""
        text = self.cell(record, column)
        if text is None or not text.strip():
            if default is self._REQUIRED:
                raise self.fail(line, f"{column} is empty")
            return None
        return text

    def integer(self, record, column, line, *, minimum: int | None = None, default: Any = _REQUIRED) -> Any:
        text = self.present_text(record, column, line, default)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            value = _integral_float(text)  # "14.0": how spreadsheets and pandas write some ints
            if value is None:
                raise self.fail(line, f"{column} is {text!r}, not a whole number") from None
        if minimum is not None and value < minimum:
            raise self.fail(line, f"{column} is {value}; it can't be below {minimum}")
        if abs(value) > SQLITE_MAX_INTEGER:
            raise self.fail(line, f"{column} is {text.strip()}; too large to store")
        return value

    def duration(self, record, column, line, *, default: Any = _REQUIRED) -> Any:
        return self._number(record, column, line, default, duration_problem)

    def amount(self, record, column, line, *, default: Any = _REQUIRED) -> Any:
        """A finite, non-negative number (a size in MB)."""
        return self._number(record, column, line, default, _amount_problem)

    def _number(self, record, column, line, default: Any, problem_of) -> Any:
        """The cell as a float that `problem_of` finds nothing wrong with (it returns why not, or None)."""
        text = self.present_text(record, column, line, default)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise self.fail(line, f"{column} is {text!r}, not a number") from None
        problem = problem_of(value)
        if problem:
            raise self.fail(line, f"{column} is {text.strip()}; {problem}")
        return value

    def boolean(self, record, column, line) -> bool:
        text = (self.cell(record, column) or "").strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise self.fail(line, f"{column} is {text!r}; expected true or false")

    def status(self, record, column, line) -> str:
        status = (self.cell(record, column) or FINISHED).strip()
        if status not in STATUSES:
            raise self.fail(line, f"{column} is {status!r}; expected one of {', '.join(STATUSES)}")
        return INTERRUPTED if status == RUNNING else status

    def timestamp(self, record, column, line) -> str | None:
        """An ISO 8601 cell as UTC ISO with microseconds (naive = UTC); None when empty."""
        text = (self.cell(record, column) or "").strip()
        if not text:
            return None
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(line, f"{column} is {text!r}, not an ISO 8601 date-time") from None
        utc = utc_in_range(moment)
        if utc is None:
            raise self.fail(line, f"{column} is {text!r}; times must be {time_range_text()}")
        return iso_utc(utc)


def _integral_float(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
