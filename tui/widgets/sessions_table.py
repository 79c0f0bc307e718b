"""Every stored session, newest first, sortable; `space` marks several for fit/export/delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

# (key in the store's session dict, header); the columns `tokenlat-tui sessions` lists
COLUMNS = [
    ("mark", " "), ("id", "id"), ("status", "status"), ("started", "started"), ("model_label", "label"),
    ("model", "model"), ("quant", "quant"), ("dtype", "dtype"), ("device", "device"), ("input_tokens", "in"),
    ("tokens", "tokens"), ("ttft_ms", "TTFT ms"), ("decode_p50_ms", "p50 ms"), ("decode_p95_ms", "p95 ms"),
    ("decode_p99_ms", "p99 ms"), ("tokens_per_s", "tok/s"), ("warmup", "warm-up"),
]
STATUS_STYLE = {"finished": ("✓ finished", "green"), "running": ("● running", "bold yellow"),
                "interrupted": ("◐ interrupted", "bold magenta"), "failed": ("✗ failed", "bold red")}


def _cell(key: str, session: dict[str, Any], marked: bool) -> Text:
    value = session.get(key)
    if key == "mark":
        return Text("✔" if marked else " ", style="bold cyan")
    if key == "status":
        label, style = STATUS_STYLE.get(value, (str(value), ""))
        return Text(label, style=style)
    if key == "id":
        return Text(str(value)[:8])
    if key == "started":
        # ISO UTC to the second: enough to tell runs apart, short enough for 80 columns
        return Text(str(value or "")[:19].replace("T", " "))
    if key == "warmup":
        return Text("warm-up" if value else "", style="dim")
    if isinstance(value, float):
        return Text(f"{value:.2f}", justify="right")
    if isinstance(value, int):
        return Text(str(value), justify="right")
    return Text("" if value is None else str(value))  # Text, not str: no markup parsing of user data


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
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.marked: set[str] = set()
        self._sort_index = 3  # started
        self._sort_reverse = True  # newest first

    def on_mount(self) -> None:
        for key, header in COLUMNS:
            self.add_column(header, key=key)

    def load(self, sessions: list[dict[str, Any]]) -> None:
        """Replace the rows, keeping the cursor on the same session when it still exists."""
        current = self.highlighted_id
        self.sessions = {s["id"]: s for s in sessions}
        self.marked &= set(self.sessions)
        self.clear()
        for session in sessions:
            self.add_row(*(_cell(key, session, session["id"] in self.marked) for key, _ in COLUMNS),
                         key=session["id"])
        self._apply_sort()
        if current in self.sessions:
            self.move_cursor(row=self.get_row_index(current))
        self.post_message(self.Highlighted(self.highlighted_id))

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

    def _apply_sort(self) -> None:
        key = COLUMNS[self._sort_index][0]

        def sort_key(value: Text) -> tuple:
            plain = value.plain.strip()
            try:
                return (0, float(plain), "")
            except ValueError:
                return (1, 0.0, plain)

        self.sort(key, key=sort_key, reverse=self._sort_reverse)

    def action_sort_next(self) -> None:
        self._sort_index = 1 + self._sort_index % (len(COLUMNS) - 1)  # column 0 (marks) isn't a sort key
        self._apply_sort()
        self.notify(f"sorted by {COLUMNS[self._sort_index][1]}", timeout=1.5)

    def action_sort_reverse(self) -> None:
        self._sort_reverse = not self._sort_reverse
        self._apply_sort()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        index = [k for k, _ in COLUMNS].index(event.column_key.value)
        if index == 0:
            return
        self._sort_reverse = not self._sort_reverse if index == self._sort_index else False
        self._sort_index = index
        self._apply_sort()

    def action_toggle_mark(self) -> None:
        session_id = self.highlighted_id
        if session_id is None:
            return
        self.marked ^= {session_id}
        self.update_cell(session_id, "mark", _cell("mark", {}, session_id in self.marked))
        self.post_message(self.MarksChanged(self.selected_ids() if self.marked else []))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(event.row_key.value if event.row_key else None))
