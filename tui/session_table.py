"""The sessions table as a rich Table for `tokenlat-tui sessions` and `collect`: the columns of
`tui.session_view`, fitted to the terminal's width so that no figure is ever cut."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from tui.session_view import display_fields, fit_columns, fitted_cell, legend

PIPED_WIDTH = 200
"""Output to a pipe or file without $COLUMNS: wide enough for every essential column."""
RULE = 3
"""What rich's boxed table spends per column beside its text: one space each side and the rule."""


def output_width() -> int:
    """$COLUMNS when set (as `COLUMNS=80 tokenlat-tui sessions`), else the terminal's, else PIPED_WIDTH."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return PIPED_WIDTH


def session_table(sessions: list[dict[str, Any]], width: int, *, wide: bool = False):
    """(rich Table, its width): no wider than `width`, or with `wide` every column, as wide as it takes."""
    from rich.table import Table
    from rich.text import Text

    rows = [display_fields(s) for s in sessions]
    # the table's left edge takes one cell beside the per-column rule
    fitted = fit_columns(rows, width - 1, RULE, wide=wide)
    table = Table(title="sessions", title_justify="left", caption=legend(fitted, rows) or None,
                  caption_justify="left")
    for column in fitted:
        title = "" if column.short else column.column.title
        table.add_column(title, justify="right" if column.column.fmt else "left", width=column.width,
                         no_wrap=True, overflow="ellipsis")
    for row in rows:
        # Text, not a str: a str cell is read as markup, and '[bold]' in an imported model name would restyle it
        table.add_row(*(Text(fitted_cell(column, row)) for column in fitted))
    return table, sum(column.width + RULE for column in fitted) + 1


def print_session_table(sessions: list[dict[str, Any]], *, wide: bool = False) -> None:
    from rich.console import Console

    width = output_width()
    table, table_width = session_table(sessions, width, wide=wide)
    # wide: lines as long as the table takes (a terminal wraps them; `less -S` scrolls)
    Console(width=max(width, table_width)).print(table)
    sys.stdout.flush()
