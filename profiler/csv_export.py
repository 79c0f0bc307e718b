"""Writing sessions' tokens to CSV: one row per token, `profiler.columns.ALL_COLUMNS` in order.

The file appears whole or not at all: rows go to a temporary file beside the target, which is
renamed into place only once complete, so a failed or interrupted export never leaves half a
CSV. Without `force`, an existing file is never replaced, not even one that appears while we
write (see `_publish`).
"""

from __future__ import annotations

import csv
import operator
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence, TextIO

from profiler.columns import ALL_COLUMNS
from profiler.errors import InputError

STDOUT = "-"
"""Pass as the path to write the CSV to standard output."""

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


BOOLEAN_COLUMNS = ("warmup",)


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
    """
    writer = csv.writer(handle, lineterminator=LINE_TERMINATOR)
    writer.writerow(ALL_COLUMNS)
    cells_of = operator.itemgetter(*ALL_COLUMNS)
    boolean_positions = [ALL_COLUMNS.index(column) for column in BOOLEAN_COLUMNS]
    count = 0
    for row in rows:
        cells = list(cells_of(row))
        for position in boolean_positions:
            cells[position] = format_value(cells[position])
        writer.writerow(cells)
        count += 1
    return count


def write_csv(path: str | os.PathLike, rows: Iterable[dict[str, Any]], *, force: bool = False) -> int:
    """Write rows to `path` atomically (or to stdout for "-"); returns the row count.

    Raises InputError, leaving nothing behind, if `path` exists and `force` is false, or if the
    file can't be written. `rows` may be a generator: if it raises, no file appears.
    """
    if str(path) == STDOUT:
        return write_rows(sys.stdout, rows)
    target = Path(path)
    check_writable_target(target, force=force)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        # os.open with 0o666 lets the umask decide the mode, as for any new file; mkstemp
        # would leave the export readable by its owner only.
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(descriptor, "w", encoding="utf-8", newline="") as handle:
            count = write_rows(handle, rows)
            handle.flush()
            os.fsync(handle.fileno())
        _publish(temp, target, force=force)
    except OSError as exc:
        raise InputError(f"can't write {target}: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)
    return count


def check_writable_target(target: Path, *, force: bool) -> None:
    """Refuse early, before any work, a target we must not or cannot write."""
    if target.is_dir():
        raise InputError(f"{target} is a directory; give a file name")
    if (target.exists() or target.is_symlink()) and not force:
        raise InputError(f"{target} already exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise InputError(f"can't write {target}: directory {target.parent} does not exist")


def _publish(temp: Path, target: Path, *, force: bool) -> None:
    """Move the finished temp file to `target`."""
    if force:
        os.replace(temp, target)
        return
    # A hard link fails if `target` exists, so a file created by someone else after our
    # early check is still never clobbered (os.replace would silently overwrite it).
    try:
        os.link(temp, target)
    except FileExistsError:
        raise InputError(f"{target} already exists; use --force to overwrite it") from None
    except OSError:
        # filesystems without hard links (some network or FAT mounts): best effort
        if target.exists():
            raise InputError(f"{target} already exists; use --force to overwrite it") from None
        os.replace(temp, target)


def export_sessions(store, session_ids: Sequence[str] | None, path: str | os.PathLike, *,
                    force: bool = False, include_warmup: bool = True) -> ExportResult:
    """Export the tokens of `session_ids` (full ids or unique prefixes; None = every session).

    Rows come sessions oldest first, tokens by k. Raises InputError for an unknown id, for
    nothing to export (no file is written then), or for a target that can't be written.
    """
    if str(path) != STDOUT:
        check_writable_target(Path(path), force=force)  # fail before reading a large store
    wanted = None if session_ids is None else set(store.resolve_ids(session_ids))
    rows = store.token_rows(None if wanted is None else sorted(wanted), include_warmup=include_warmup)
    if not rows:
        what = "the store has no tokens" if wanted is None else "the sessions given have no tokens"
        if not include_warmup:
            what += " outside warm-up sessions"
        raise InputError(f"nothing to export: {what}; no file written")
    exported = len({row["Prompt_ID"] for row in rows})
    selected = [session for session in store.list_sessions()
                if (wanted is None or session["id"] in wanted) and (include_warmup or not session["warmup"])]
    count = write_csv(path, rows, force=force)
    return ExportResult(str(path), exported, count, empty_sessions=max(0, len(selected) - exported))
