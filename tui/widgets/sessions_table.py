"""Every stored session, newest first, sortable; `space` marks several for fit/export/delete/compare.

The columns are `tui.session_view`'s (the same as `tokenlat-tui sessions`), fitted to the table's
width whenever it changes, so no figure is ever off to the right: the least important columns
leave first. The sort column's header carries ▲ or ▼.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.events import Resize
from textual.message import Message
from textual.widgets import DataTable

from tui.session_view import display_fields, fit_columns, fitted_cell, legend, widest_cells

MARK = "mark"
"""The first column: ✔ on marked sessions (not a sort key)."""
DEFAULT_SORT = "started_short"
"""Newest first, the order a session list is read in."""
CELL_GAP = 2
"""What DataTable spends per column beside its text (cell_padding 1 on each side)."""
ARROWS = {True: " ▼", False: " ▲"}
"""The sort column's header mark: descending, ascending."""
STATUS_STYLE = {"finished": "green", "running": "bold yellow", "interrupted": "bold magenta", "failed": "bold red"}


def _sort_value(session: dict[str, Any], key: str) -> tuple:
    """Numbers by value, text by text; missing values last whichever way the sort goes (see `_sorted`)."""
    value = session.get(key)
    if value is None or value == "":
        return (1, 0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (0, 0, str(value).lower())


class SessionsTable(DataTable):
    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", id="sessions.mark"),
        Binding("s", "sort_next", "Sort", id="sessions.sort"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="sessions.reverse"),
    ]

    @dataclass
    class Highlighted(Message):
        """The session under the cursor changed (None: the table is empty)."""

        session_id: str | None

    @dataclass
    class MarksChanged(Message):
        marked: list[str]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=CELL_GAP // 2)
        self.sessions: dict[str, dict[str, Any]] = {}
        """Sessions by id, as the store listed them (newest first)."""
        self.marked: set[str] = set()
        self.total = 0
        """Sessions in the store: more than the rows when only the newest page is listed."""
        self.sort_key = DEFAULT_SORT
        """The `display_fields` key the rows are sorted by."""
        self.sort_descending = True
        self.shown_keys: list[str] = []
        """The columns on screen now, in order (after the mark column)."""
        self._rows: list[dict[str, Any]] = []
        self._widest: dict[str, int] = {}
        self._fitted: list = []
        self._drawn_for: tuple | None = None
        self._rebuilding = False

    # -- contents
    def load(self, sessions: list[dict[str, Any]], total: int | None = None) -> None:
        """Replace the rows, keeping the cursor on the same session when it still exists.

        `total`: how many the store holds when `sessions` is only its newest page (said in the subtitle)."""
        self.total = max(total or 0, len(sessions))
        self.sessions = {s["id"]: s for s in sessions}
        self.marked &= set(self.sessions)
        self._rows = [display_fields(s) for s in sessions]
        self._widest = widest_cells(self._rows)
        self._rebuild()
        self.post_message(self.Highlighted(self.highlighted_id))

    def on_resize(self, event: Resize) -> None:
        if self._drawn_for != self._layout_inputs():
            self._rebuild()

    def _available_width(self) -> int:
        width = self.size.width - (1 + CELL_GAP)  # the mark column
        # the vertical scrollbar appears once the rows outgrow the height (the header takes one line)
        if len(self._rows) > max(self.size.height - 1, 0):
            width -= self.styles.scrollbar_size_vertical
        return width

    def _layout_inputs(self) -> tuple:
        return (self._available_width(), self.sort_key, self.sort_descending, len(self._rows))

    def _sorted(self) -> list[dict[str, Any]]:
        present = [r for r in self._rows if _sort_value(r, self.sort_key)[0] == 0]
        missing = [r for r in self._rows if _sort_value(r, self.sort_key)[0] == 1]
        # stable: equal keys keep the store's newest-first order
        return sorted(present, key=lambda r: _sort_value(r, self.sort_key), reverse=self.sort_descending) + missing

    def _rebuild(self) -> None:
        """Fit the columns to the width, then draw every row in sort order (the cursor stays put)."""
        current = self.highlighted_id
        self._drawn_for = self._layout_inputs()
        fitted = fit_columns(self._rows, self._drawn_for[0], CELL_GAP, title_extra={self.sort_key: 2},
                             widest=self._widest)
        self.shown_keys = [f.column.key for f in fitted]
        self._fitted = fitted
        self._rebuilding = True
        try:
            self.clear(columns=True)
            self.add_column(" ", key=MARK, width=1)
            for column in fitted:
                title = "" if column.short else column.column.title
                if column.column.key == self.sort_key:
                    title += ARROWS[self.sort_descending]
                self.add_column(Text(title, justify="right" if column.column.fmt else "left"),
                                key=column.column.key, width=column.width)
            for row in self._sorted():
                self.add_row(self._mark_cell(row["id"]), *(self._cell(column, row) for column in fitted), key=row["id"])
            if current in self.sessions:
                self.move_cursor(row=self.get_row_index(current))
        finally:
            self._rebuilding = False
        self.border_subtitle = self._subtitle(fitted)

    @staticmethod
    def _cell(column, row: dict[str, Any]) -> Text:
        # Text, not str: DataTable would parse a prompt's brackets as markup
        text = Text(fitted_cell(column, row), justify="right" if column.column.fmt else "left", no_wrap=True)
        if column.column.key == "status_display":
            text.stylize(STATUS_STYLE.get(row.get("status"), ""))
        return text

    def refresh_sessions(self, sessions: list[dict[str, Any]]) -> None:
        """Newer figures for rows already listed (a running session's tokens so far), drawn in place.

        Twice a second while a run writes: only the changed cells are redrawn, unless a figure
        outgrew its column, which re-fits the table once. The order stays until the next listing.
        """
        updates = {session["id"]: display_fields(session) for session in sessions if session["id"] in self.sessions}
        if not updates:
            return
        for session in sessions:
            if session["id"] in updates:
                self.sessions[session["id"]] = session
        self._rows = [updates.get(r["id"], r) for r in self._rows]  # one pass, however many sessions run
        refit = False
        for key, width in widest_cells(list(updates.values())).items():
            if width > self._widest.get(key, 0):
                self._widest[key] = width
                refit = True
        if refit:
            self._rebuild()
            return
        for row in updates.values():
            for column in self._fitted:
                self.update_cell(row["id"], column.column.key, self._cell(column, row))

    def _subtitle(self, fitted) -> str:
        """The legend of a marker, and the sort when its column has no room."""
        parts = [legend(fitted, self._rows)]
        if self.total > len(self._rows):
            parts.append(f"newest {len(self._rows)} of {self.total}")
        if self.sort_key not in self.shown_keys:
            title = "started" if self.sort_key == DEFAULT_SORT else self.sort_key
            parts.append(f"sorted by {title}{ARROWS[self.sort_descending]}")
        return " · ".join(p for p in parts if p)

    def _mark_cell(self, session_id: str) -> Text:
        return Text("✔" if session_id in self.marked else " ", style="bold cyan")

    # -- the cursor
    def highlight(self, session_id: str) -> None:
        """Put the cursor on a session (a run just saved it: show that one)."""
        if session_id in self.sessions:
            self.move_cursor(row=self.get_row_index(session_id))

    @property
    def highlighted_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - cursor outside the rows during a reload
            return None

    def selected_ids(self) -> list[str]:
        """The marked sessions, else the one under the cursor."""
        if self.marked:
            return [i for i in self.sessions if i in self.marked]
        return [self.highlighted_id] if self.highlighted_id else []

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if not self._rebuilding:  # a redraw moves the cursor back where it was: nothing changed
            self.post_message(self.Highlighted(event.row_key.value if event.row_key else None))

    # -- sorting
    def sort_by(self, key: str, *, descending: bool) -> None:
        self.sort_key, self.sort_descending = key, descending
        self._rebuild()

    def _sort_keys(self) -> list[str]:
        """What `s` steps through: the columns on screen, and the start time (the default order)."""
        return self.shown_keys + ([DEFAULT_SORT] if DEFAULT_SORT not in self.shown_keys else [])

    def action_sort_next(self) -> None:
        keys = self._sort_keys()
        following = keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key in keys else keys[0]
        # figures read best largest first, names alphabetically
        numeric = any(isinstance(r.get(following), (int, float)) for r in self._rows)
        self.sort_by(following, descending=numeric or following == DEFAULT_SORT)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.sort_key, descending=not self.sort_descending)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key == MARK:
            return
        self.sort_by(key, descending=not self.sort_descending if key == self.sort_key else True)

    # -- marks
    def action_toggle_mark(self) -> None:
        session_id = self.highlighted_id
        if session_id is None:
            return
        self.marked ^= {session_id}
        self.update_cell(session_id, MARK, self._mark_cell(session_id))
        self.post_message(self.MarksChanged(self.selected_ids() if self.marked else []))
